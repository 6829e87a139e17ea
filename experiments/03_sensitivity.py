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
# # 3. Sensitivity analysis of the assumptions
#
# The parameters with no direct evidence (docs/ODD.md marks them "assumption"): the effect of collector
# tone on trust and on stress, the effect of a visit (stress, pressure), the strength of word of mouth,
# the attention a reminder restores (SMS, call), and the shock rates. First **Morris screening**
# (elementary effects: μ* ranks influence, σ flags interactions and non-linearity), then **Sobol
# indices** (SALib, Saltelli sampling; first-order S1 and total ST with 95% bootstrap intervals) for
# `default_rate`, `mean_stress` and `brand_trust`, on the status quo.
#
# Sweep specs: `experiments/03_sensitivity_morris.toml` and `experiments/03_sensitivity_sobol.toml`
# (same parameters and bounds). The full setting writes the Sobol table to `docs/sensitivity.md`; the
# quick setting (`CREDSIM_QUICK=1`) writes it under `results/quick/` and leaves docs/ alone.

# %%
import sys
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

from nbsupport import QUICK, ROOT, SETTING, rel, run_spec, study_dirs
from sim.sweep import design_points, salib_problem

STUDY = "03_sensitivity"
OUTPUTS = ["default_rate", "mean_stress", "brand_trust"]
base, figs = study_dirs(STUDY)
QUICK_SIZE = {"borrowers": 300, "days": 240, "burn_in": 60}


def outputs_by_point(plan, res):
    """One row per design point (in the sampler's order): each output's mean over replicates."""
    y = res.summaries.groupby("point")[OUTPUTS].mean().reindex(range(len(design_points(plan.spec.design)[1])))
    missing = y.isna().any(axis=1).sum()
    if missing:
        raise RuntimeError(f"{missing} design points have no finished run: rerun to finish the sweep")
    return y


# %% [markdown]
# ## Morris screening

# %%
mplan, mres = run_spec("03_sensitivity_morris.toml", STUDY, folder="morris",
                       quick={**QUICK_SIZE, "replicates": 1, "samples": 2})
problem = salib_problem(mplan.spec.design)
keys, pts = design_points(mplan.spec.design)
X = np.array([[p[k] for k in keys] for p in pts])
Ym = outputs_by_point(mplan, mres)
morris_rows = []
for out in OUTPUTS:
    r = morris_analyze.analyze(problem, X, Ym[out].to_numpy(), num_levels=mplan.spec.design.levels,
                               conf_level=0.95, seed=0, print_to_console=False)
    for i, name in enumerate(problem["names"]):
        morris_rows.append({"output": out, "parameter": name, "mu_star": r["mu_star"][i],
                            "mu_star_conf": r["mu_star_conf"][i], "sigma": r["sigma"][i], "mu": r["mu"][i]})
morris = pd.DataFrame(morris_rows)
morris.to_csv(base / "morris.csv", index=False)
display(morris.pivot(index="parameter", columns="output", values="mu_star").round(4))

# %%
fig, axes = plt.subplots(1, len(OUTPUTS), figsize=(16, 5), layout="constrained")
for ax, out in zip(axes, OUTPUTS):
    m = morris[morris.output == out]
    ax.errorbar(m.mu_star, m.sigma, xerr=m.mu_star_conf, fmt="o", capsize=3)
    for _, r in m.iterrows():
        ax.annotate(r.parameter.split(".", 1)[-1], (r.mu_star, r.sigma), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("μ* (mean |elementary effect|; bar: 95% CI)")
    ax.set_ylabel("σ (interactions, non-linearity)")
    ax.set_title(out)
    ax.grid(alpha=0.3)
fig.suptitle(f"Morris screening, {mplan.spec.design.samples} trajectories x {len(keys)} parameters "
             f"({SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"morris.{ext}", dpi=120)
plt.show()

# %% [markdown]
# ## Sobol indices with confidence intervals

# %%
splan, sres = run_spec("03_sensitivity_sobol.toml", STUDY, folder="sobol",
                       quick={**QUICK_SIZE, "replicates": 1, "samples": 4})
sproblem = salib_problem(splan.spec.design)
Ys = outputs_by_point(splan, sres)
sobol_rows = []
for out in OUTPUTS:
    y = Ys[out].to_numpy(float)
    if np.nanstd(y) == 0:
        print(f"{out}: constant over the design, no indices")
        continue
    r = sobol_analyze.analyze(sproblem, y, calc_second_order=False, conf_level=0.95, num_resamples=200, seed=0,
                              print_to_console=False)
    for i, name in enumerate(sproblem["names"]):
        sobol_rows.append({"output": out, "parameter": name, "S1": r["S1"][i], "S1_conf": r["S1_conf"][i],
                           "ST": r["ST"][i], "ST_conf": r["ST_conf"][i]})
sobol = pd.DataFrame(sobol_rows, columns=["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
sobol.to_csv(base / "sobol.csv", index=False)
display(sobol.round(3))

# %%
fig, axes = plt.subplots(1, len(OUTPUTS), figsize=(16, 5.5), layout="constrained", sharey=True)
names = sproblem["names"]
yy = np.arange(len(names))
for ax, out in zip(axes, OUTPUTS):
    s = sobol[sobol.output == out].set_index("parameter").reindex(names)
    ax.barh(yy - 0.2, s.S1, 0.4, xerr=s.S1_conf, capsize=2, label="first order S1")
    ax.barh(yy + 0.2, s.ST, 0.4, xerr=s.ST_conf, capsize=2, label="total ST")
    ax.set_yticks(yy, names)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_title(out)
    ax.set_xlabel("Sobol index (bars: 95% bootstrap CI)")
    ax.grid(alpha=0.3, axis="x")
axes[0].legend(fontsize=8)
fig.suptitle(f"Sobol indices, N = {splan.spec.design.samples} ({len(splan.jobs)} runs; {SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"sobol.{ext}", dpi=120)
plt.show()

# %% [markdown]
# ## The table for docs/
#
# The full setting writes `docs/sensitivity.md`; the quick setting writes `results/quick/03_sensitivity/sensitivity.md`.

# %%
sz = splan.jobs[0].params
lines = [
    "# Sensitivity of the outcomes to the assumptions",
    "",
    f"Generated by `experiments/03_sensitivity.py` ({SETTING} setting; `scripts/run-experiments.sh` regenerates it): "
    f"Sobol indices (SALib, Saltelli sampling without second-order terms, N = {splan.spec.design.samples}, "
    f"{len(splan.jobs)} runs of the status quo at {sz.population.borrowers:,} borrowers x {sz.simulation.days} days, "
    f"one replicate per design point) over the bounds in `experiments/03_sensitivity_sobol.toml`. "
    "Each cell: index [95% bootstrap interval]. S1: share of the output's variance due to the parameter alone; "
    "ST: including its interactions. Morris screening (μ*, σ) is in the notebook and "
    f"`{rel(base / 'morris.csv')}`.",
    "",
]
for out in OUTPUTS:
    s = sobol[sobol.output == out]
    lines += [f"## `{out}`", "", "| parameter | S1 [95% CI] | ST [95% CI] |", "| --- | --- | --- |"]
    for _, r in s.sort_values("ST", ascending=False).iterrows():
        lines.append(f"| `{r.parameter}` | {r.S1:.3f} [{r.S1 - r.S1_conf:.3f}, {r.S1 + r.S1_conf:.3f}] | "
                     f"{r.ST:.3f} [{r.ST - r.ST_conf:.3f}, {r.ST + r.ST_conf:.3f}] |")
    if s.empty:
        lines.append("| (output constant over the design) | | |")
    lines.append("")
md = "\n".join(lines)
target = base / "sensitivity.md" if QUICK else ROOT / "docs" / "sensitivity.md"
target.write_text(md, encoding="utf-8")
print(f"wrote {rel(target)}")
display(Markdown(md))
