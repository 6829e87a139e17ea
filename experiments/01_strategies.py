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
plan, res = run_spec("strategies.toml", STUDY, quick={"borrowers": 400, "days": 150, "burn_in": 60, "replicates": 3})
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
    best = better(m.index, key=lambda s: m.loc[s, key])
    lines.append(f"- lowest/highest `{key}`: **{best}** ({m.loc[best, key] * analysis.unit(key).scale:.3g} "
                 f"{analysis.unit(key).label})")
display(Markdown("\n".join(lines)))
