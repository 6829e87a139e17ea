# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Strategy comparison
#
# Every shipped collection strategy (`scenarios/*.toml`) on **default rate**, **borrower stress** and
# **brand trust**, each with a 95% confidence interval over paired replicates (replicate *r* of every
# strategy runs with the same seed: the same people and the same shocks), the trade-off between them,
# and the lender's economics: collection cost, credit loss, profit and collection cost per cured
# delinquency.
#
# Sweep spec: `experiments/strategies.toml`, the one definition of the strategy comparison (`make compare`
# runs it too). Set `CREDSIM_QUICK=1` for the quick setting (tiny sizes;
# what the test suite runs, into `results/quick/`).

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # nbsupport, when run from experiments/
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from nbsupport import SETTING, run_spec, study_dirs
from sim import analysis, plots

STUDY = "01_strategies"
base, figs = study_dirs(STUDY)
plan, res = run_spec("strategies.toml", STUDY, quick={"borrowers": 300, "days": 120, "burn_in": 30, "replicates": 2})
print(f"setting: {SETTING}; {res.finished} runs of {len(res.scenarios)} strategies")

# %% [markdown]
# ## Outcomes with confidence intervals and paired differences from the status quo

# %%
KEYS = ["default_rate", "mean_stress", "brand_trust", "collection_cost", "credit_loss", "recoveries", "profit",
        "cost_per_cure", "cure_rate"]
table = analysis.compare(res, baseline="baseline", outcomes=KEYS)


def fmt(row):
    u = analysis.unit(row.outcome)
    d = u.decimals
    s = f"{row['mean'] * u.scale:.{d}f} [{row.ci_low * u.scale:.{d}f}, {row.ci_high * u.scale:.{d}f}]"
    return s


table["mean [95% CI]"] = table.apply(fmt, axis=1)
wide = table.pivot(index="scenario", columns="outcome", values="mean [95% CI]")[KEYS].loc[plots.scenario_order(res)]
wide.columns = [f"{k} ({analysis.unit(k).label})" for k in KEYS]
wide.to_csv(base / "outcomes.csv")
table.to_csv(base / "outcomes_tidy.csv", index=False)
display(wide)

# %%
diffs = table[table.scenario != "baseline"].copy()
diffs["Δ vs baseline [95% CI]"] = diffs.apply(
    lambda r: (lambda u: f"{r['diff'] * u.scale:+.{u.decimals}f} [{r.diff_low * u.scale:+.{u.decimals}f}, "
               f"{r.diff_high * u.scale:+.{u.decimals}f}]")(analysis.unit(r.outcome)), axis=1)
display(diffs.pivot(index="scenario", columns="outcome", values="Δ vs baseline [95% CI]")[
    ["default_rate", "mean_stress", "brand_trust", "profit"]])

# %% [markdown]
# ## Figures: outcomes, trade-off, trust over time, DPD composition, vintages
#
# Drawn by `sim/plots.py` (the same figures as `credsim plot`).

# %%
written = plots.plot_all(res, figs, baseline="baseline")
for p in written:
    if p.suffix == ".png":
        print(p.relative_to(base.parent))

# %% [markdown]
# ## The lender's economics
#
# Collection cost, credit loss (principal written off), profit and collection cost per cured
# delinquency episode, per strategy, with 95% CIs.

# %%
ECON = [("collection_cost", "collection cost"), ("credit_loss", "credit loss"), ("profit", "profit"),
        ("cost_per_cure", "collection cost per cure")]
ss = plots.series(res, [0])
order = [s.scenario for s in ss]  # the figures' order (baseline first, then groups), each in its colour
fig, axes = plt.subplots(1, len(ECON), figsize=(16, 4.8), layout="constrained")
for ax, (key, title) in zip(axes, ECON):
    u = analysis.unit(key)
    t = table[table.outcome == key].set_index("scenario").loc[order]
    y = range(len(t))
    m = t["mean"] * u.scale
    ax.errorbar(m, y, xerr=[m - t.ci_low * u.scale, t.ci_high * u.scale - m], fmt="none", ecolor="0.3", capsize=3)
    ax.scatter(m, y, c=[s.color for s in ss], zorder=3)
    ax.set_yticks(list(y), order if ax is axes[0] else [""] * len(t))
    ax.invert_yaxis()
    ax.set_title(f"{title} ({u.label})")
    ax.grid(alpha=0.3)
fig.suptitle(f"Lender's economics per strategy, mean and 95% CI over {int(t.n.max())} paired replicates "
             f"({SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"economics.{ext}", dpi=120)
plt.show()

# %% [markdown]
# ## Reading
#
# The summary below is generated from the numbers above (so it matches this run's setting).

# %%
m = table.pivot(index="scenario", columns="outcome", values="mean")
lines = []
for key, better in [("default_rate", min), ("mean_stress", min), ("brand_trust", max), ("profit", max)]:
    value = better(m[key])
    best = [s for s in m.index if m.loc[s, key] == value]  # every strategy at the best value: a tie is said
    names = ", ".join(f"**{s}**" for s in best[:4]) + (f" and {len(best) - 4} more" if len(best) > 4 else "")
    lines.append(f"- {'lowest' if better is min else 'highest'} `{key}`: {names} "
                 f"({value * analysis.unit(key).scale:.3g} {analysis.unit(key).label})"
                 + (f", a tie of {len(best)}" if len(best) > 1 else ""))
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Parameter uncertainty: strategies under posterior draws
#
# The comparison above holds the model's parameters at their calibrated values, so its intervals are
# seed noise only. Here three strategies run under parameter sets drawn from the calibration's ABC
# posterior (`experiments/01_posterior.toml`: 5 draws by systematic resampling on the particles'
# weights, 2 paired replicates each; the same draws and seeds for every strategy), and each outcome
# gets two intervals: **seed-only** (replicate noise with the drawn parameters taken as known) and
# **total** (also the spread over the posterior of the strategy's expected outcome; formula in
# docs/ODD.md, "Intervals under parameter uncertainty"). The same table is what
# `credsim compare` prints for that sweep. Without the shipped posterior
# (`experiments/calibration/posterior.parquet`) this section draws from the *prior* of the fitted
# parameters instead (uniform over the ranges in `calibration/targets.toml`) and says so.

# %%
import tomllib

import numpy as np

from nbsupport import EXPERIMENTS, QUICK, ROOT, run_spec
from sim.sweep import POSTERIOR_DEFAULT

shipped = ROOT / POSTERIOR_DEFAULT
QUICK_SIZES = {"borrowers": 300, "days": 120, "burn_in": 30, "replicates": 2}
changes = {}
post_spec = tomllib.loads((EXPERIMENTS / "01_posterior.toml").read_text(encoding="utf-8"))["posterior"]
if QUICK:
    post_spec["draws"] = 2
if shipped.is_file():
    source = f"the ABC posterior {shipped.relative_to(ROOT)}"
else:  # a stand-in: the prior, as one generation of equally weighted particles
    bounds = tomllib.loads((EXPERIMENTS / "calibration" / "targets.toml").read_text(encoding="utf-8"))["parameters"]
    rng = np.random.default_rng(0)
    prior = pd.DataFrame({k: rng.uniform(b["min"], b["max"], 200) for k, b in bounds.items()})
    prior.insert(0, "particle", range(len(prior)))
    prior.insert(0, "generation", 0)
    prior["weight"] = 1.0 / len(prior)
    prior_file = base / "prior_standin.parquet"
    prior.to_parquet(prior_file, index=False)
    post_spec["file"] = str(prior_file)
    source = "the PRIOR of the fitted parameters (no shipped posterior yet: a stand-in, not a calibration result)"
if QUICK or not shipped.is_file():
    changes["posterior"] = post_spec
pplan, pres = run_spec("01_posterior.toml", STUDY, quick=QUICK_SIZES, folder="posterior_sweep", changes=changes)
print(f"drawn from {source}: {len(pplan.posterior['draws'])} draws of {', '.join(pplan.posterior_keys)}; "
      f"{len(pplan.jobs)} runs")
PKEYS = ["default_rate", "mean_stress", "brand_trust", "profit"]
ptable = analysis.compare(pres, baseline="baseline", outcomes=PKEYS)
ptable.to_csv(base / "posterior_tidy.csv", index=False)


def both(r, lo, hi, tlo, thi, mean="mean", sign=False):
    u = analysis.unit(r.outcome)
    f = (lambda x: f"{x * u.scale:+.{u.decimals}f}") if sign else (lambda x: f"{x * u.scale:.{u.decimals}f}")
    return f"{f(r[mean])} [{f(r[lo])}, {f(r[hi])}] [{f(r[tlo])}, {f(r[thi])}]"


ptable["mean [seed] [total]"] = ptable.apply(lambda r: both(r, "ci_low", "ci_high", "total_low", "total_high"), axis=1)
ptable["Δ [seed] [total]"] = ptable.apply(
    lambda r: both(r, "diff_low", "diff_high", "diff_total_low", "diff_total_high", mean="diff", sign=True), axis=1)
display(ptable.pivot(index="scenario", columns="outcome", values="mean [seed] [total]")[PKEYS])
display(ptable[ptable.scenario != "baseline"].pivot(index="scenario", columns="outcome", values="Δ [seed] [total]")[PKEYS])

# %%
strategies = [s for s in plots.scenario_order(pres) if s in set(ptable.scenario)]
fig, axes = plt.subplots(2, len(PKEYS), figsize=(16, 6.4), layout="constrained", sharey="row")
for j, key in enumerate(PKEYS):
    u = analysis.unit(key)
    t = ptable[ptable.outcome == key].set_index("scenario").loc[strategies]
    for i, (mcol, pairs, title) in enumerate([
            ("mean", (("ci_low", "ci_high"), ("total_low", "total_high")), key),
            ("diff", (("diff_low", "diff_high"), ("diff_total_low", "diff_total_high")), f"Δ {key} vs baseline")]):
        ax = axes[i, j]
        y = np.arange(len(t))
        if i:  # Δ: no point for the baseline itself
            t = t.copy()
            t.loc["baseline", [mcol, *pairs[0], *pairs[1]]] = np.nan
        m = t[mcol] * u.scale
        for (lo, hi), dy, label, color in zip(pairs, (-0.12, 0.12), ("seed only", "seed + parameters"), ("C0", "C3")):
            ax.errorbar(m, y + dy, xerr=[m - t[lo] * u.scale, t[hi] * u.scale - m], fmt="o", color=color, capsize=3,
                        label=label)
        if i == 1:
            ax.axvline(0, color="0.5", lw=0.8, ls="--")
        ax.set_yticks(y, strategies)
        ax.invert_yaxis()
        ax.set_title(f"{title} ({u.diff_label if i and u.diff_label else u.label})", fontsize=10)
        ax.grid(alpha=0.3)
axes[0, 0].legend(loc="best", fontsize=8)
fig.suptitle(f"95% intervals, seed only vs with parameter uncertainty: {len(pplan.posterior['draws'])} draws from "
             f"{'the posterior' if shipped.is_file() else 'the prior (stand-in)'} x {pplan.spec.replicates} paired "
             f"replicates ({SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"posterior_intervals.{ext}", dpi=120)
plt.show()
