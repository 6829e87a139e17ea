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
# # 2. Recession stress test
#
# Five strategies in calm times and under the recession of `scenarios/recession.toml` (from day 180 job
# losses ×3 and emergencies ×1.5, reached over 60 days, held 240 days, eased over 240), with paired
# replicates: the calm and the recession run of replicate *r* share a seed, so the recession's effect
# is measured run by run. Questions: how much each strategy's defaults rise, **how long defaults lag
# the shock**, whether **home-visit capacity saturates**, and **which strategy holds up**.
#
# Sweep spec: `experiments/02_recession.toml`; `CREDSIM_QUICK=1` for the quick setting.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from nbsupport import SETTING, run_spec, study_dirs
from sim import analysis

STUDY = "02_recession"
base, figs = study_dirs(STUDY)
plan, res = run_spec("02_recession.toml", STUDY, quick={"borrowers": 400, "days": 300, "burn_in": 30, "replicates": 2})
STRATEGIES = [s.removesuffix("_calm") for s in res.scenarios if s.endswith("_calm")]
job = {j.scenario: j for j in plan.jobs}
rp = job[f"{STRATEGIES[0]}_recession"].params.macro.recession
borrowers = job[f"{STRATEGIES[0]}_recession"].params.population.borrowers
days = job[f"{STRATEGIES[0]}_recession"].params.simulation.days
print(f"setting: {SETTING}; {res.finished} runs; {borrowers:,} borrowers x {days} days; strategies: {STRATEGIES}")


def shock(day):
    """Recession intensity 0..1 over time (the timeline of sim/params.py: onset, peak, easing)."""
    d = np.asarray(day, float) - rp.start_day
    up = np.clip(d / max(rp.onset_days, 1), 0, 1)
    down = np.clip(1 - (d - rp.onset_days - rp.peak_days) / max(rp.easing_days, 1), 0, 1)
    return np.where(d < 0, 0.0, np.minimum(up, down)) * rp.severity


# %% [markdown]
# ## Outcomes in calm times and under the recession, and the paired effect of the recession

# %%
KEYS = ["default_rate", "ever_30dpd_rate", "mean_stress", "brand_trust", "profit"]
s = res.summaries
rows = []
for st in STRATEGIES:
    calm = s[s.scenario == f"{st}_calm"].set_index("replicate")
    rec = s[s.scenario == f"{st}_recession"].set_index("replicate")
    for k in KEYS:
        u = analysis.unit(k)
        _, m_calm, lo_c, hi_c = analysis.mean_ci(calm[k])
        _, m_rec, lo_r, hi_r = analysis.mean_ci(rec[k])
        n, d, dlo, dhi = analysis.mean_ci((rec[k] - calm[k]).dropna())
        rows.append({"strategy": st, "outcome": k, "unit": u.label, "calm": m_calm * u.scale,
                     "recession": m_rec * u.scale, "effect": d * u.scale, "effect_low": dlo * u.scale,
                     "effect_high": dhi * u.scale, "pairs": n})
effects = pd.DataFrame(rows)
effects.to_csv(base / "recession_effects.csv", index=False)
display(effects.round(4))

# %% [markdown]
# ## How defaults lag the shock
#
# Daily charge-offs (30-day moving sum) under the recession minus the same strategy in calm times,
# paired by replicate, against the shock's intensity. The lag is the day of the peak excess charge-offs
# minus the day the shock reaches full strength.

# %%
# the measurement window only, on its own clock (the recession timeline is on it too)
daily = res.sql("SELECT scenario, replicate, window_day AS day, charge_offs, dpd_30_59 + dpd_60_89 + dpd_90_plus AS dpd30, "
                "active_loans, visits, visit_queue FROM daily WHERE NOT burn_in ORDER BY scenario, replicate, day")
daily["strategy"] = daily.scenario.str.rsplit("_", n=1).str[0]
daily["condition"] = daily.scenario.str.rsplit("_", n=1).str[1]
daily = daily.sort_values(["scenario", "replicate", "day"])
g = daily.groupby(["scenario", "replicate"])
daily["new_charge_offs"] = g.charge_offs.diff().fillna(0)  # the window's first day: its start
daily["charge_offs_30d"] = g.new_charge_offs.transform(lambda x: x.rolling(30, min_periods=1).sum())
daily["dpd30_share"] = daily.dpd30 / daily.active_loans.replace(0, np.nan)
daily["visits_day"] = g.visits.diff().fillna(0)

wide = daily.pivot_table(index=["strategy", "replicate", "day"], columns="condition",
                         values=["charge_offs_30d", "dpd30_share"])
excess = pd.DataFrame({k: wide[(k, "recession")] - wide[(k, "calm")] for k in ["charge_offs_30d", "dpd30_share"]})
ex = excess.groupby(["strategy", "day"]).mean().reset_index()

peak_shock_day = rp.start_day + rp.onset_days
fig, axes = plt.subplots(3, 1, figsize=(11, 10), sharex=True, layout="constrained")
day_axis = np.arange(days)
axes[0].fill_between(day_axis, shock(day_axis), color="0.8")
axes[0].set_ylabel("recession intensity (0–1)")
lags = []
for st in STRATEGIES:
    e = ex[ex.strategy == st]
    axes[1].plot(e.day, e.charge_offs_30d, label=st)
    axes[2].plot(e.day, e.dpd30_share * 100, label=st)
    if len(e) and e.charge_offs_30d.max() > 0:
        peak = int(e.loc[e.charge_offs_30d.idxmax(), "day"])
        lags.append({"strategy": st, "peak_excess_charge_off_day": peak, "lag_after_full_shock_days":
                     peak - peak_shock_day, "peak_excess_dpd30_day": int(e.loc[e.dpd30_share.idxmax(), "day"])})
for ax in axes:
    ax.axvline(rp.start_day, color="k", ls=":", lw=1)
    ax.axvline(peak_shock_day, color="k", ls="--", lw=1)
    ax.grid(alpha=0.3)
axes[1].set_ylabel("excess charge-offs\n(loans per 30 days)")
axes[2].set_ylabel("excess share of active\nloans 30+ DPD (pp)")
axes[2].set_xlabel("day of the measurement window (dotted: recession starts; dashed: full strength)")
axes[1].legend(fontsize=8)
fig.suptitle(f"Recession minus calm, paired by replicate, mean over {res.summaries.replicate.nunique()} "
             f"replicates ({SETTING} setting: {borrowers:,} borrowers x {days} days)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"lag.{ext}", dpi=120)
plt.show()
lag_table = pd.DataFrame(lags)
lag_table.to_csv(base / "lags.csv", index=False)
display(lag_table)

# %% [markdown]
# ## Does visit capacity saturate?
#
# Field collectors can attempt `collection.visits.capacity` visits per day per 1,000 people. Top: loans
# waiting for a visit; bottom: visits attempted per day (7-day mean) against the capacity line. The
# table gives the share of days the capacity was used in full.

# %%
fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True, layout="constrained")
sat = []
for st in STRATEGIES:
    p = job[f"{st}_recession"].params
    cap = int(round(p.collection.visits.capacity * p.population.borrowers / 1000))
    for cond, ls in (("recession", "-"), ("calm", ":")):
        d = daily[(daily.strategy == st) & (daily.condition == cond)]
        m = d.groupby("day")[["visit_queue", "visits_day"]].mean()
        line, = axes[0].plot(m.index, m.visit_queue, ls=ls, label=f"{st} ({cond})")
        axes[1].plot(m.index, m.visits_day.rolling(7, min_periods=1).mean(), ls=ls, color=line.get_color())
        if "visits" in p.collection.tactics and cap > 0:
            sat.append({"strategy": st, "condition": cond, "capacity_per_day": cap,
                        "days_at_capacity_share": float((d.visits_day >= cap).mean()),
                        "max_queue": float(m.visit_queue.max())})
axes[1].axhline(cap, color="k", lw=1, ls="--", label="capacity")
axes[0].set_ylabel("visit queue (loans)")
axes[1].set_ylabel("visits per day (7-day mean)")
axes[1].set_xlabel("day of the measurement window")
axes[0].legend(fontsize=7, ncol=2)
for ax in axes:
    ax.axvspan(rp.start_day, rp.start_day + rp.onset_days + rp.peak_days + rp.easing_days, color="0.93", zorder=0)
    ax.grid(alpha=0.3)
fig.suptitle(f"Home-visit queue and capacity (shaded: the recession; {SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"capacity.{ext}", dpi=120)
plt.show()
saturation = pd.DataFrame(sat)
saturation.to_csv(base / "capacity.csv", index=False)
display(saturation)

# %% [markdown]
# ## Which strategy holds up
#
# The recession's paired effect on each outcome per strategy, with 95% CIs (smaller rises in default
# rate and stress, and smaller falls in trust and profit, hold up better).

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 4.5), layout="constrained")
for ax, k in zip(axes, ["default_rate", "mean_stress", "brand_trust", "profit"]):
    e = effects[effects.outcome == k].set_index("strategy").loc[STRATEGIES]
    y = np.arange(len(e))
    ax.errorbar(e.effect, y, xerr=[e.effect - e.effect_low, e.effect_high - e.effect], fmt="o", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, STRATEGIES if ax is axes[0] else [""] * len(y))
    ax.invert_yaxis()
    u = analysis.unit(k)
    ax.set_title(f"Δ {k} ({u.diff_label or u.label})")
    ax.grid(alpha=0.3)
fig.suptitle(f"Effect of the recession per strategy (recession − calm, paired; 95% CI; {SETTING} setting)")
for ext in ("png", "svg"):
    fig.savefig(figs / f"holds_up.{ext}", dpi=120)
plt.show()
d = effects[effects.outcome == "default_rate"].set_index("strategy")
print("recession rise in default rate (pp), smallest first:")
print(d.sort_values("effect")[["calm", "recession", "effect", "effect_low", "effect_high"]].round(3))
