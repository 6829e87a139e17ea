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
# # 4. Calibration and validation
#
# The status quo is fitted to published figures by the method of simulated moments (`sim/calibrate.py`,
# the same code as `credsim calibrate`): targets, sources and fitted parameters are in
# `experiments/calibration/targets.toml`. This notebook shows each target figure, its source and the
# model's value with its 95% interval on fresh seeds (base scenario and calibrated), and the fit's
# convergence.
#
# Full setting: reuses `results/04_calibration/fit.json` if it was made from the current targets file,
# else runs the calibration (about 3–4 minutes on 2 cores). Quick setting (`CREDSIM_QUICK=1`): a tiny
# calibration (small population, few evaluations) into `results/quick/04_calibration/`.

# %%
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from nbsupport import EXPERIMENTS, QUICK, ROOT, SETTING, rel, quick_spec, study_dirs, workers
from sim import calibrate as cal

STUDY = "04_calibration"
base, figs = study_dirs(STUDY)
targets_file = EXPERIMENTS / "calibration" / "targets.toml"
if QUICK:
    targets_file = quick_spec(targets_file, {"borrowers": 300, "days": 400, "replicates": 2,
                                             "validation_replicates": 3, "max_evaluations": 6},
                              base / "targets.quick.toml")
fit_path = base / "fit.json"
sha = hashlib.sha256(targets_file.read_bytes()).hexdigest()
doc = json.loads(fit_path.read_text()) if fit_path.is_file() else None
if doc is None or doc.get("targets_sha256") != sha or "validation" not in doc:
    problem = cal.load_targets(targets_file)
    with cal.Runner(1 if QUICK else workers()) as runner:
        fit = cal.calibrate(problem, runner, log=None)
        val = cal.validate(problem, fit.fitted, runner)
    cal.write_outputs(fit, val, base)
    doc = json.loads(fit_path.read_text())
    print(f"calibrated: {doc['evaluations']} evaluations, {doc['message']}, {doc['seconds']:.0f} s")
else:
    print(f"reusing {rel(fit_path)} (made from the current targets file)")
print(f"setting: {SETTING}; base scenario {doc['base_scenario']['name']} at {doc['base_scenario']['borrowers']:,} "
      f"borrowers x {doc['base_scenario']['days']} days")

# %% [markdown]
# ## Targets, sources and the model's values
#
# Model values: mean and 95% CI over the fresh validation replicates (seeds not used by the fit), for
# the base scenario and the calibrated one, run paired.

# %%
rows = []
for t in doc["targets"]:
    pct = cal.is_percent(t["name"])
    sc = 100.0 if pct else 1.0
    b, f = doc["validation"]["base"][t["name"]], doc["validation"]["fitted"][t["name"]]
    rows.append({"target": t.get("label") or t["name"], "moment": t["name"], "relation": t.get("relation", "=="),
                 "value": t["value"] * sc, "sd": t["sd"] * sc if t.get("sd") else None, "unit": "%" if pct else "",
                 "base": b["mean"] * sc, "base_low": b["ci95"][0] * sc if b["ci95"][0] is not None else None,
                 "base_high": b["ci95"][1] * sc if b["ci95"][1] is not None else None,
                 "calibrated": f["mean"] * sc, "cal_low": f["ci95"][0] * sc if f["ci95"][0] is not None else None,
                 "cal_high": f["ci95"][1] * sc if f["ci95"][1] is not None else None, "source": t["source"]})
tt = pd.DataFrame(rows)
tt.to_csv(base / "targets_vs_model.csv", index=False)
display(tt.drop(columns="source").round(3))
display(Markdown("\n".join(f"- **{r.target}**: {r.source}" for r in tt.itertuples())))
params = pd.DataFrame(doc["parameters"]).T
display(params)

# %%
fig, axes = plt.subplots(1, len(tt), figsize=(4 * len(tt), 4.2), layout="constrained")
for ax, r in zip(np.atleast_1d(axes), tt.itertuples()):
    if r.sd:
        lo, hi = (r.value - 2 * r.sd, r.value + 2 * r.sd) if r.relation == "==" else \
                 ((r.value - 4 * r.sd, r.value) if r.relation == "<=" else (r.value, r.value + 4 * r.sd))
        ax.axhspan(lo, hi, color="tab:green", alpha=0.15, label="target ± 2 sd (allowed side if one-sided)")
    ax.axhline(r.value, color="tab:green", lw=2, label="target")
    for x, (m, l, h, name) in enumerate([(r.base, r.base_low, r.base_high, "base"),
                                         (r.calibrated, r.cal_low, r.cal_high, "calibrated")]):
        err = None if l is None or np.isnan(l) else [[m - l], [h - m]]
        ax.errorbar(x, m, yerr=err, fmt="o", capsize=4, color="tab:blue" if x == 0 else "tab:red")
    ax.set_xticks([0, 1], ["base", "calibrated"])
    ax.set_xlim(-0.6, 1.6)
    ax.set_title(f"{r.moment} ({r.unit or 'ratio'})", fontsize=9)
    ax.grid(alpha=0.3)
np.atleast_1d(axes)[0].legend(fontsize=7, loc="best")
fig.suptitle(f"Calibration targets and the model's values (mean, 95% CI on fresh seeds; {SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"targets.{ext}", dpi=120)
plt.show()

# %% [markdown]
# ## Convergence of the fit
#
# The objective at every evaluation and the best so far (log scale), and each parameter's path,
# scaled to its search range.

# %%
hist = pd.DataFrame([{"evaluation": h["evaluation"], "objective": h["objective"], **h["parameters"]}
                     for h in doc["history"]])
hist["best_so_far"] = hist.objective.cummin()
hist.to_csv(base / "convergence.csv", index=False)
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
axes[0].plot(hist.evaluation, hist.objective, "o", ms=4, alpha=0.6, label="evaluation")
axes[0].step(hist.evaluation, hist.best_so_far, where="post", color="tab:red", label="best so far")
axes[0].set_yscale("log")
axes[0].set_xlabel("evaluation")
axes[0].set_ylabel("objective (weighted squared distance)")
axes[0].legend()
for k, p in doc["parameters"].items():
    axes[1].plot(hist.evaluation, (hist[k] - p["min"]) / (p["max"] - p["min"]), marker=".", label=k)
axes[1].set_ylim(-0.05, 1.05)
axes[1].set_xlabel("evaluation")
axes[1].set_ylabel("parameter (share of its search range)")
axes[1].legend(fontsize=8)
for ax in axes:
    ax.grid(alpha=0.3)
fig.suptitle(f"{doc['method']}: {doc['evaluations']} evaluations, {doc['message']} ({SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"convergence.{ext}", dpi=120)
plt.show()
