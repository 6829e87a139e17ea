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
# # 3. Sensitivity of the whole model, after burn-in
#
# Which assumptions drive the outcomes? Every parameter of the model is classified once, in
# `sim/assumptions.py`: **assumptions** (behaviour and mechanisms without direct evidence), **policy**
# levers (the lender's strategy, products and contract terms, the regulator's rules), **accounting**
# (money only) and **setup** (size, labels, currency scale, day-0 book, outcome definitions). The study
# varies every assumption that is active in the status quo, each over its plausible range (half to
# twice its default within its validity bounds; logit intercepts ± 1), and measures over a year after
# the default 365-day burn-in:
#
# 1. **Morris screening** of all of them (`03_sensitivity_morris.toml`, `include = ["assumptions"]`):
#    μ* (mean absolute elementary effect) with its 95% bootstrap interval, σ;
# 2. **Sobol indices** (SALib, Saltelli sampling, no second order) of the top K, chosen from the Morris
#    ranking by the rule below (`03_sensitivity_sobol.toml` is the template): S1 and ST with 95%
#    bootstrap intervals, and how they converge with the base sample size N (prefixes of the sample);
# 3. the **noise**: replicate standard deviation at the defaults (`03_sensitivity_noise.toml`), set
#    against the indices.
#
# Outcomes: `default_rate`, `mean_stress`, `brand_trust`, `npv`. The full setting writes
# `docs/sensitivity.md` and `docs/img/sensitivity_*.png`; the quick setting (`CREDSIM_QUICK=1`) writes
# under `results/quick/` and leaves docs/ alone.

# %%
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze

import sim
from nbsupport import EXPERIMENTS, QUICK, ROOT, SETTING, rel, run_spec, study_dirs
from sim.assumptions import CLASSES, PLAUSIBLE, classification, is_active, plausible_range
from sim.sweep import design_points, salib_problem

STUDY = "03_sensitivity"
OUTPUTS = ["default_rate", "mean_stress", "brand_trust", "npv"]
#: Sobol is run for K parameters: the top PER_OUTPUT of each outcome by Morris μ*, then the highest
#: scores (a parameter's score: its largest μ* relative to the largest μ* of the same outcome)
K, PER_OUTPUT = 8, 2
base, figs = study_dirs(STUDY)
QUICK_SIZE = {"borrowers": 100, "days": 20, "burn_in": 5}
T0 = time.monotonic()


def outputs_by_point(plan, res):
    """One row per design point (in the sampler's order): each output's mean over replicates."""
    y = res.summaries.groupby("point")[OUTPUTS].mean().reindex(range(len(design_points(plan.spec.design)[1])))
    missing = y.isna().any(axis=1).sum()
    if missing:
        raise RuntimeError(f"{missing} design points have no finished run (or an undefined outcome)")
    return y


def short(p: str) -> str:
    return p.replace("collection.", "c.").replace("population.", "pop.")


# %% [markdown]
# ## What is varied

# %%
cls = classification()
baseline = sim.load_scenario("baseline")
by_class = {c: [p for p, k in cls.items() if k == c] for c in CLASSES}
display(pd.Series({c: len(v) for c, v in by_class.items()}, name="parameters"))

# %% [markdown]
# ## Noise at the studied size

# %%
nplan, nres = run_spec("03_sensitivity_noise.toml", STUDY, folder="noise", quick={**QUICK_SIZE, "replicates": 3})
noise = nres.summaries[OUTPUTS].agg(["mean", "std"]).T
display(noise)

# %% [markdown]
# ## Morris screening of every active assumption

# %%
mplan, mres = run_spec("03_sensitivity_morris.toml", STUDY, folder="morris", quick={**QUICK_SIZE, "samples": 2})
problem = salib_problem(mplan.spec.design)
keys, pts = design_points(mplan.spec.design)
X = np.array([[p[k] for k in keys] for p in pts])
Ym = outputs_by_point(mplan, mres)
levels = mplan.spec.design.levels
delta = levels / (2 * (levels - 1))  # SALib's step, as a share of each range
morris_rows = []
for out in OUTPUTS:
    r = morris_analyze.analyze(problem, X, Ym[out].to_numpy(float), num_levels=levels, conf_level=0.95,
                               num_resamples=1000, seed=0, print_to_console=False)
    for i, name in enumerate(keys):
        morris_rows.append({"output": out, "parameter": name, "mu_star": r["mu_star"][i],
                            "mu_star_conf": r["mu_star_conf"][i], "sigma": r["sigma"][i], "mu": r["mu"][i]})
morris = pd.DataFrame(morris_rows)
morris["relative"] = (morris.mu_star / morris.groupby("output").mu_star.transform("max")).fillna(0.0)
# an elementary effect of noise alone, two independent runs: |e1 - e2| / delta has mean 2 sd / (sqrt(pi) delta)
floor = {out: 2 * noise.loc[out, "std"] / (np.sqrt(np.pi) * delta) for out in OUTPUTS}
morris["noise_floor"] = morris.output.map(floor)
morris.to_csv(base / "morris.csv", index=False)
score = morris.groupby("parameter").relative.max().sort_values(ascending=False)
inert = sorted(p for p, g in morris.groupby("parameter") if (g.mu_star == 0).all())
display(morris.pivot(index="parameter", columns="output", values="relative").loc[score.index[:20]].round(3))

# %% [markdown]
# The parameters for Sobol: the rule (top `PER_OUTPUT` of each outcome, then the highest scores, K in all).

# %%
chosen: list[str] = []
for out in OUTPUTS:
    for p in morris[morris.output == out].sort_values("mu_star", ascending=False).parameter.head(PER_OUTPUT):
        if p not in chosen:
            chosen.append(p)
for p in score.index:
    if len(chosen) >= K:
        break
    if p not in chosen:
        chosen.append(p)
chosen = sorted(chosen, key=lambda p: -score[p])
print("Sobol parameters:", ", ".join(chosen))

# %%
top = list(score.index[:25])
fig, axes = plt.subplots(1, len(OUTPUTS), figsize=(18, 7.5), layout="constrained", sharey=True)
yy = np.arange(len(top))
for ax, out in zip(axes, OUTPUTS):
    m = morris[morris.output == out].set_index("parameter").reindex(top)
    ax.barh(yy, m.mu_star, xerr=m.mu_star_conf, capsize=2, color=["C1" if p in chosen else "C0" for p in top])
    ax.axvline(floor[out], color="k", ls="--", lw=0.8, label="noise floor (independent runs)")
    ax.set_yticks(yy, [short(p) for p in top], fontsize=8)
    ax.set_title(out)
    ax.set_xlabel("μ* (bar: 95% bootstrap CI)")
    ax.grid(alpha=0.3, axis="x")
axes[0].invert_yaxis()  # once: the y axis is shared
axes[0].legend(fontsize=8, loc="lower right")
fig.suptitle(f"Morris screening: the 25 highest of {len(keys)} assumptions, {mplan.spec.design.samples} trajectories, "
             f"{len(mplan.jobs)} runs (orange: chosen for Sobol; {SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"morris.{ext}", dpi=110)
plt.show()

# %% [markdown]
# ## Sobol indices of the top K, with their convergence

# %%
template = (EXPERIMENTS / "03_sensitivity_sobol.toml").read_text(encoding="utf-8")
# CREDSIM_SOBOL_N (a power of 2 below the spec's) runs a smaller N, in its own folder, when time is short;
# its runs are the first N x (K + 2) of the spec's (the Saltelli sample's prefix), and the doc says which N
small_n = os.environ.get("CREDSIM_SOBOL_N")
sobol_folder = "sobol"
if small_n and not QUICK:
    template = re.sub(r"(?m)^samples\s*=\s*\d+", f"samples = {int(small_n)}", template)
    sobol_folder = f"sobol_N{int(small_n)}"
lines = ["", "# written by experiments/03_sensitivity.py: the top parameters of the Morris screening",
         "[design.parameters]"]
for p in chosen:
    lo, hi = plausible_range(p)
    lines.append(f'"{p}" = {{ min = {float(lo)!r}, max = {float(hi)!r} }}')
sobol_spec = base / "03_sensitivity_sobol.toml"
sobol_spec.write_text(template + "\n".join(lines) + "\n", encoding="utf-8")
splan, sres = run_spec(str(sobol_spec), STUDY, folder=sobol_folder, quick={**QUICK_SIZE, "samples": 4})
sproblem = salib_problem(splan.spec.design)
Ys = outputs_by_point(splan, sres)
N, k = splan.spec.design.samples, len(chosen)


def sobol_table(n: int) -> pd.DataFrame:
    """S1 and ST with 95% bootstrap intervals on the first n base samples (a Saltelli design itself)."""
    rows = []
    for out in OUTPUTS:
        y = Ys[out].to_numpy(float)[: n * (k + 2)]
        if np.nanstd(y) == 0:
            continue
        r = sobol_analyze.analyze(sproblem, y, calc_second_order=False, conf_level=0.95, num_resamples=500,
                                  seed=0, print_to_console=False)
        for i, name in enumerate(chosen):
            rows.append({"N": n, "output": out, "parameter": name, "S1": r["S1"][i], "S1_conf": r["S1_conf"][i],
                         "ST": r["ST"][i], "ST_conf": r["ST_conf"][i]})
    return pd.DataFrame(rows, columns=["N", "output", "parameter", "S1", "S1_conf", "ST", "ST_conf"])


sizes = [n for n in (2 ** i for i in range(3, 20)) if n <= N] or [N]  # below 8, the bootstrap is meaningless
conv = pd.concat([sobol_table(n) for n in sizes], ignore_index=True)
sobol = conv[conv.N == N].drop(columns="N").reset_index(drop=True)
conv.to_csv(base / "sobol_convergence.csv", index=False)
sobol.to_csv(base / "sobol.csv", index=False)
var_design = Ys.var(ddof=1)
noise_share = {out: noise.loc[out, "std"] ** 2 / var_design[out] for out in OUTPUTS}
display(sobol.round(3))

# %%
fig, axes = plt.subplots(1, len(OUTPUTS), figsize=(18, 5), layout="constrained", sharey=True)
yy = np.arange(k)
for ax, out in zip(axes, OUTPUTS):
    s = sobol[sobol.output == out].set_index("parameter").reindex(chosen)
    ax.barh(yy - 0.2, s.S1, 0.4, xerr=s.S1_conf, capsize=2, label="first order S1")
    ax.barh(yy + 0.2, s.ST, 0.4, xerr=s.ST_conf, capsize=2, label="total ST")
    ax.axvline(noise_share[out], color="k", ls="--", lw=0.8, label="noise share of variance")
    ax.set_yticks(yy, [short(p) for p in chosen], fontsize=8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_title(out)
    ax.set_xlabel("Sobol index (bars: 95% bootstrap CI)")
    ax.grid(alpha=0.3, axis="x")
axes[0].invert_yaxis()  # once: the y axis is shared
axes[0].legend(fontsize=8, loc="lower right")
fig.suptitle(f"Sobol indices, N = {N}, {len(splan.jobs)} runs ({SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"sobol.{ext}", dpi=110)
plt.show()

# %%
fig, axes = plt.subplots(2, len(OUTPUTS), figsize=(18, 8), layout="constrained", sharex=True)
for j, out in enumerate(OUTPUTS):
    for row, idx in enumerate(("ST", "S1")):
        ax = axes[row, j]
        for i, p in enumerate(chosen):
            c = conv[(conv.output == out) & (conv.parameter == p)].sort_values("N")
            x = c.N * 2 ** ((i - k / 2) * 0.02)  # a small offset per parameter, on the log axis
            ax.errorbar(x, c[idx], yerr=c[f"{idx}_conf"], marker="o", ms=3, capsize=2, lw=1, label=short(p))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylim(-0.4, 1.3)
        ax.grid(alpha=0.3)
        ax.set_title(f"{out}: {idx}")
        if row == 1:
            ax.set_xlabel("base sample size N (prefix of the Saltelli sample)")
axes[0, 0].set_ylabel("total index ST (95% CI)")
axes[1, 0].set_ylabel("first-order index S1 (95% CI)")
axes[0, -1].legend(fontsize=7, loc="upper right")
fig.suptitle(f"Convergence of the Sobol indices with N (N x {k + 2} runs each; {SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"convergence.{ext}", dpi=110)
plt.show()

# %% [markdown]
# ## docs/sensitivity.md
#
# The full setting writes `docs/sensitivity.md` and copies the figures to `docs/img/sensitivity_*.png`;
# the quick setting writes `results/quick/03_sensitivity/sensitivity.md`.

# %%
sz = mplan.jobs[0].params
elapsed = time.monotonic() - T0


def ci(v: float, c: float, fmt: str = ".3f") -> str:
    return f"{v:{fmt}} [{v - c:{fmt}}, {v + c:{fmt}}]"


def num(v: float) -> str:
    return f"{v:.4g}"


L = [
    "# Sensitivity of the whole model, after burn-in",
    "",
    f"Generated by `experiments/03_sensitivity.py` ({SETTING} setting; `make experiments ARGS=03_sensitivity` "
    "regenerates it, with the figures in `docs/img/sensitivity_*.png`). Every run is the status quo "
    f"(`baseline`) at {sz.population.borrowers:,} borrowers, measured over {sz.simulation.days} days after a "
    f"{sz.simulation.burn_in}-day burn-in, with one seed for all runs of a design (`sim.rng.replicate_seed(0, 0)`: "
    "common random numbers, so an elementary effect compares the same people and shocks). Outcomes: "
    + ", ".join(f"`{o}`" for o in OUTPUTS) + " (docs/ODD.md, Observation).",
    "",
    f"Runs: {len(mplan.jobs)} (Morris) + {len(splan.jobs)} (Sobol) + {len(nplan.jobs)} (noise) = "
    f"{len(mplan.jobs) + len(splan.jobs) + len(nplan.jobs):,}.",
    "",
    "## What is varied: the assumption parameters",
    "",
    "Every parameter is in one class, by the first matching rule of `sim.assumptions.RULES` "
    "(`tests/test_sensitivity_study.py` checks that every parameter is classified):",
    "",
    "- **assumption**: how people and mechanisms behave, without direct evidence: the population's behaviour "
    "and finances, shocks and the support people have out of work (`shocks.benefit_share`), the repayment "
    "decision rule (`repayment.*`: intercept, pressure, attention, reconsideration, hope, avoidance), stress, "
    "trust and word of mouth, applications, and the effects of collection (what an SMS, a call, a visit, a "
    "promise does to attention, pressure, stress and trust; how borrowers take offers).",
    "- **policy**: levers someone chooses: the lender's tactic list and ladder, capacities and headcounts, "
    "collectors' tone and training, when to visit, plan, settlement and moratorium terms, its risk scorecard, "
    "products, contract terms, the underwriting cut-off, and the regulator's rules.",
    "- **accounting**: money only (unit costs, funding, capital, IFRS 9 provisions, debt prices): they move "
    "`npv`, not what anyone does.",
    "- **setup**: what the run is: labels, length, population size, the currency scale "
    "(`population.income_median`), the day-0 book, outcome definitions (`stress.high_threshold`) and the "
    "recession a scenario imposes.",
    "",
    "A sweep design says `include = [\"assumptions\"]` to vary every assumption that is *active* in its "
    "scenarios: those of a tactic the scenario does not run, of education when it is off, of the early-contact "
    "channel when there is none, of headcounts or incentive pay that are unset, are left out "
    "(`sim.assumptions.NEEDS`). Parameters with `(assumption)` in their own description (docs/ODD.md, A.2) "
    "flag missing evidence; the class here is wider (it takes in the decision rule, shocks and population) and "
    "leaves out the flagged policy and accounting values (the scorecard weights, the caps, the provisions).",
    "",
    "**Range, one rule** (`sim.assumptions.plausible_range`): half to twice the declared default, clipped to "
    "the declared validity bounds; for a location on the logit scale (unit `logit`, a name ending in "
    "`intercept`) the default ± 1. Integers are rounded. Declared exceptions (`PLAUSIBLE`): "
    + (", ".join(f"`{k}` {num(lo)} .. {num(hi)} ({why})" for k, (lo, hi, why) in sorted(PLAUSIBLE.items())) or "none") + ".",
    "",
]
for c in CLASSES:
    names = by_class[c]
    if c == "assumption":
        act = [p for p in names if p in keys]
        off = [p for p in names if p not in keys]
        L += [f"- assumption, active in the status quo and varied ({len(act)}): see the Morris table.",
              f"- assumption, not active in the status quo ({len(off)}): " + ", ".join(f"`{p}`" for p in off) + "."]
    else:
        L.append(f"- {c} ({len(names)}): " + ", ".join(f"`{p}`" for p in names) + ".")
L += [
    "",
    "## The model's own noise",
    "",
    f"The status quo at its defaults, {len(nplan.jobs)} replicates with different seeds, the same size:",
    "",
    "| outcome | mean | replicate SD | Morris noise floor | noise share of the Sobol design's variance |",
    "| --- | --- | --- | --- | --- |",
]
for out in OUTPUTS:
    L.append(f"| `{out}` | {num(noise.loc[out, 'mean'])} | {num(noise.loc[out, 'std'])} | {num(floor[out])} | "
             f"{noise_share[out]:.3f} |")
L += [
    "",
    f"The Morris noise floor is the μ* that noise alone would give between two *independent* runs, "
    f"2 SD / (√π Δ) with the step Δ = {delta:.3g} of a range; the design's runs share one seed, so their noise "
    "is smaller than that (an upper bound). The noise share SD² / Var(Y) is about what independent noise would "
    "add to every total index ST; an ST below it cannot be told from noise.",
    "",
    "## Morris screening",
    "",
    f"{mplan.spec.design.samples} trajectories x ({len(keys)} + 1) points, {levels} levels "
    f"(`experiments/03_sensitivity_morris.toml`). μ* is in the outcome's units per full step Δ; "
    "each cell: μ* [95% bootstrap interval] (1,000 resamples). Sorted by the score: a parameter's largest μ* "
    "relative to the largest μ* of the same outcome. ✱: above the noise floor.",
    "",
    "| rank | parameter | range | score | " + " | ".join(f"`{o}` μ*" for o in OUTPUTS) + " |",
    "| --- | --- | --- | --- | " + " | ".join("---" for _ in OUTPUTS) + " |",
]
for rank, p in enumerate(score.index, 1):
    lo, hi = plausible_range(p)
    cells = []
    for out in OUTPUTS:
        r = morris[(morris.output == out) & (morris.parameter == p)].iloc[0]
        star = " ✱" if r.mu_star > floor[out] else ""
        cells.append(f"{num(r.mu_star)} [{num(max(r.mu_star - r.mu_star_conf, 0))}, {num(r.mu_star + r.mu_star_conf)}]{star}")
    L.append(f"| {rank} | `{p}`{' **(Sobol)**' if p in chosen else ''} | {num(lo)} .. {num(hi)} | "
             f"{score[p]:.3f} | " + " | ".join(cells) + " |")
L += ["", f"Inert in this screening (μ* = 0 for every outcome): {', '.join(f'`{p}`' for p in inert) or 'none'}.", ""]
above = {out: int((morris[morris.output == out].mu_star > floor[out]).sum()) for out in OUTPUTS}
L += ["Parameters above the noise floor: " + ", ".join(f"`{o}` {above[o]}" for o in OUTPUTS) + ".", "",
      "![Morris screening](img/sensitivity_morris.png)", ""]
L += [
    "## Sobol indices of the top parameters",
    "",
    f"**The rule**: the top {PER_OUTPUT} parameters of each outcome by μ*, then the highest scores, "
    f"K = {K} in all. Saltelli sampling without second-order terms (SALib), N = {N} base samples, "
    f"N x (K + 2) = {len(splan.jobs):,} runs, over the same plausible ranges; each cell: index [95% bootstrap "
    "interval] (500 resamples). S1: the share of the outcome's variance over the design due to the parameter "
    "alone; ST: including its interactions.",
    "",
]
if small_n and not QUICK:
    spec_n = int(re.search(r"(?m)^samples\s*=\s*(\d+)", (EXPERIMENTS / "03_sensitivity_sobol.toml").read_text()).group(1))
    L += [f"**Smaller than the full study**: N = {N} (`CREDSIM_SOBOL_N`), not the spec's N = {spec_n}: the "
          f"shared machine could not finish the {spec_n * (K + 2):,} runs in the time there was. The intervals "
          "below are correspondingly wide; the convergence table shows how far they have settled.", ""]
for out in OUTPUTS:
    s = sobol[sobol.output == out]
    L += [f"### `{out}`", "", f"Noise share of variance: {noise_share[out]:.3f}.", "",
          "| parameter | S1 [95% CI] | ST [95% CI] |", "| --- | --- | --- |"]
    for _, r in s.sort_values("ST", ascending=False).iterrows():
        L.append(f"| `{r.parameter}` | {ci(r.S1, r.S1_conf)} | {ci(r.ST, r.ST_conf)} |")
    if s.empty:
        L.append("| (outcome constant over the design) | | |")
    L.append("")
L += [
    "## Convergence with the sample size",
    "",
    f"The indices on the first n base samples of the same Saltelli sample (each prefix is a Saltelli design "
    f"of size n), n = {', '.join(map(str, sizes))}: no extra runs. Intervals narrow roughly as 1/√n.",
    "",
    "| outcome | parameter | " + " | ".join(f"ST, N = {n}" for n in sizes) + " |",
    "| --- | --- | " + " | ".join("---" for _ in sizes) + " |",
]
for out in OUTPUTS:
    for p in chosen:
        c = conv[(conv.output == out) & (conv.parameter == p)].set_index("N")
        if c.empty:
            continue
        L.append(f"| `{out}` | `{p}` | " + " | ".join(ci(c.loc[n, "ST"], c.loc[n, "ST_conf"], ".2f") for n in sizes) + " |")
lead = [p for p in score.index if score[p] >= score.iloc[0] - 1e-12]  # the parameters that lead an outcome
L += ["", "## Reading", "",
      "Largest total index per outcome: " + "; ".join(
          f"`{o}`: `{r.parameter}` (ST {r.ST:.2f})" for o in OUTPUTS if (sobol.output == o).any()
          for r in [sobol[sobol.output == o].sort_values("ST").iloc[-1]]) + ".",
      "",
      "The ranges are wide by construction (half to twice the default, a factor of 4, where the validity bounds "
      "allow; ± 1 on the logit scale): a parameter's rank says how much an "
      "outcome depends on it over that range, not how likely the range is. The top of the screening: "
      + ", ".join(f"`{p}` over {num(plausible_range(p)[0])} .. {num(plausible_range(p)[1])}" for p in lead)
      + "; where a range is wider than the evidence allows, a declared exception in `sim.assumptions.PLAUSIBLE` narrows it, and the "
      "study should be rerun. Indices are of the status quo only; the policy levers are compared in the strategy "
      "study, not here.", ""]
L += ["", "![Convergence of the Sobol indices with N](img/sensitivity_convergence.png)", "",
      "![Sobol indices](img/sensitivity_sobol.png)", ""]
md = "\n".join(L)
if QUICK:
    target = base / "sensitivity.md"
else:
    target = ROOT / "docs" / "sensitivity.md"
    for name in ("morris", "sobol", "convergence"):
        shutil.copyfile(figs / f"{name}.png", ROOT / "docs" / "img" / f"sensitivity_{name}.png")
target.write_text(md, encoding="utf-8")
print(f"wrote {rel(target)} in {elapsed:.0f} s")
display(Markdown(md))
