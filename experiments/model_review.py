"""The model review: each finding of the review of version 1, measured on the current model.

    .venv/bin/python experiments/model_review.py                 # prints the "after" column as a Markdown table
    .venv/bin/python experiments/model_review.py --borrowers 20000 --seeds 10

The "before" figures in docs/ODD.md ("Model review") were measured on version 1 (20,000 borrowers x
730 days, paired seeds). Every run here goes through ``sim.run`` with the default burn-in; replicate
``r`` of every arm uses seed ``r`` (paired).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from sim.execute import run_each

KEYS = ["default_rate", "ever_30dpd_rate", "mean_stress", "brand_trust", "roll_30_60", "high_stress_odds_ratio",
        "cause_job_loss", "late_again_ratio", "visits", "calls"]


def _run(job):
    import sim

    scenario, seed, borrowers, days, overrides = job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sim.run(scenario, borrowers=borrowers, days=days, seed=seed, overrides=dict(overrides))
    s = res.summary
    w = res.daily[~res.daily["burn_in"]]
    share30 = ((w["dpd_30_59"] + w["dpd_60_89"] + w["dpd_90_plus"]) / w["active_loans"]).to_numpy(float)
    day = w["window_day"].to_numpy(float)
    s = {k: s[k] for k in KEYS}
    s["drift30"] = float(np.polyfit(day, share30, 1)[0] * days / share30.mean())
    s["trust_drift"] = float(np.polyfit(day, w["brand_trust"].to_numpy(float), 1)[0] * days)
    return (scenario, seed, tuple(sorted(overrides))), s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--borrowers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--trust-decomposition", action="store_true",
                    help="instead: where the noise of humane_visits - baseline in brand_trust comes from")
    a = ap.parse_args()
    if a.trust_decomposition:
        return trust_decomposition(a)
    seeds = range(1, a.seeds + 1)
    arms = {
        "no_collection": ("no_collection", ()),
        "reminders_only": ("reminders_only", ()),
        "reminders_no_reconsider": ("reminders_only", (("repayment.reconsider_message", 0.0),)),
        "baseline": ("baseline", ()),
        "humane_visits": ("humane_visits", ()),
        "flexible_plans": ("flexible_plans", ()),
        "benefit_low": ("baseline", (("shocks.benefit_share", 0.3),)),
        "benefit_high": ("baseline", (("shocks.benefit_share", 0.7),)),
    }
    jobs = [(sc, s, a.borrowers, a.days, ov) for sc, ov in arms.values() for s in seeds]
    out = dict(run_each(_run, jobs, workers=a.workers))
    get = {name: np.array([[out[(sc, s, tuple(sorted(ov)))][k] for k in KEYS + ["drift30", "trust_drift"]]
                           for s in seeds]) for name, (sc, ov) in arms.items()}
    col = {k: i for i, k in enumerate(KEYS + ["drift30", "trust_drift"])}

    def m(arm, key):
        return float(np.nanmean(get[arm][:, col[key]]))

    gap = m("no_collection", "ever_30dpd_rate") - m("reminders_only", "ever_30dpd_rate")
    redraw = m("reminders_no_reconsider", "ever_30dpd_rate") - m("reminders_only", "ever_30dpd_rate")

    def crn(arm, key):
        x, y = get[arm][:, col[key]], get["baseline"][:, col[key]]
        return np.sqrt(x.var(ddof=1) + y.var(ddof=1)) / (x - y).std(ddof=1)

    rows = [
        ("1", "ever 30+ DPD: no_collection vs reminders_only",
         f"{m('no_collection', 'ever_30dpd_rate'):.1%} vs {m('reminders_only', 'ever_30dpd_rate'):.1%}"),
        ("1", "share of that gap due to reconsidering after a message",
         f"{redraw / gap:.0%}" if gap else "n/a"),
        ("2", "share of loans reaching 30+ DPD with job loss as cause", f"{m('baseline', 'cause_job_loss'):.0%}"),
        ("2", "roll 30→60 at shocks.benefit_share 0.3 / 0.5 / 0.7",
         f"{m('benefit_low', 'roll_30_60'):.0%} / {m('baseline', 'roll_30_60'):.0%} / {m('benefit_high', 'roll_30_60'):.0%}"),
        ("3", "odds ratio of high stress, delinquent vs current", f"{m('baseline', 'high_stress_odds_ratio'):.2f}"),
        ("3", "late again: P(30+ | earlier 30+) / P(30+ | none)", f"{m('baseline', 'late_again_ratio'):.1f}"),
        ("5", "drift of the 30+ DPD share over the window (share of its level)", f"{m('baseline', 'drift30'):+.0%}"),
        ("5", "drift of brand trust over the window", f"{m('baseline', 'trust_drift'):+.3f}"),
    ]
    for arm in ("humane_visits", "flexible_plans"):
        rows.append(("7", f"unpaired / paired SD, {arm} − baseline (default, ever 30+, stress, trust)",
                     ", ".join(f"{crn(arm, k):.1f}" for k in ("default_rate", "ever_30dpd_rate", "mean_stress", "brand_trust"))))
    print(f"{a.borrowers:,} borrowers x {a.days} days after the default burn-in, seeds 1..{a.seeds} (paired)\n")
    print("| finding | measure | now |")
    print("| --- | --- | --- |")
    for f, what, now in rows:
        print(f"| {f} | {what} | {now} |")


#: Finding 7's decomposition: the pair humane_visits - baseline with one channel switched off in both arms.
VARIANTS = {
    "as shipped": (),
    "collectors all alike": (("collection.collectors.harshness_sd", 0.0), ("collection.collectors.skill_sd", 0.0)),
    "visits teach no trust": (("trust.visit_weight", 0.0),),
    "applications ignore trust": (("acquisition.trust_elasticity", 0.0), ("acquisition.careful_elasticity", 0.0)),
}


def trust_decomposition(a) -> None:
    """Paired and unpaired SD of the brand_trust difference humane_visits - baseline per variant."""
    seeds = range(1, a.seeds + 1)
    jobs = [(sc, s, a.borrowers, a.days, ov) for ov in VARIANTS.values() for sc in ("humane_visits", "baseline")
            for s in seeds]
    out = dict(run_each(_run, jobs, workers=a.workers))
    print(f"{a.borrowers:,} borrowers x {a.days} days after the default burn-in, seeds 1..{a.seeds} (paired)\n")
    print("| variant (both arms) | trust difference | paired SD | unpaired SD | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for name, ov in VARIANTS.items():
        x, y = (np.array([out[(sc, s, tuple(sorted(ov)))]["brand_trust"] for s in seeds])
                for sc in ("humane_visits", "baseline"))
        paired, unpaired = (x - y).std(ddof=1), np.sqrt(x.var(ddof=1) + y.var(ddof=1))
        print(f"| {name} | {(x - y).mean():+.4f} | {paired:.4f} | {unpaired:.4f} | {unpaired / paired:.1f} |")


if __name__ == "__main__":
    main()
