"""What a run reports: the daily series (Mesa DataCollector reporters) and the end-of-run summary.

Every summary key is defined in docs/ODD.md (section "Observation"); ``SUMMARY_KEYS`` lists them in
order. Daily reporters read one snapshot the model takes at step 9 of each day, so the DataCollector
stays a plain Mesa DataCollector while nothing is counted twice.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .state import ACTIVE, CHARGED_OFF

#: name: definition (the definitions are repeated in docs/ODD.md; a test keeps them in step)
SUMMARY = {
    "default_rate": "charged-off loans / all loans (day-0 book and originations)",
    "ever_30dpd_rate": "loans that reached 30+ DPD within their first 365 days, among loans booked during the run and observed 365 days or ended",
    "dpd30_rate": "share of active loans 30+ DPD at the end",
    "dpd60_rate": "share of active loans 60+ DPD at the end",
    "dpd90_rate": "share of active loans 90+ DPD at the end",
    "roll_30_60": "loans that reached 30 DPD and went on to 60, among those that reached 30 and were observed 30 days more or ended",
    "cure_rate": "delinquency episodes (1+ DPD) that returned to current, by payment or a plan / episodes",
    "mean_stress": "borrowers' mean stress, averaged over the days of the run; borrowers are people holding a loan or owing charged-off debt (0..1)",
    "high_stress_share": "share of borrowers with stress >= stress.high_threshold, averaged over the days of the run",
    "brand_trust": "mean trust in the lender over everyone in the market at the end (0..1)",
    "complaints": "complaints after visits, whole run",
    "applications": "loan applications during the run",
    "originations": "loans booked during the run (not counting the day-0 book)",
    "collection_cost": "SMS, calls, visits, plan set-up and recovery agency costs (CU)",
    "credit_loss": "principal written off at charge-off (CU)",
    "recoveries": "paid on charged-off debt (CU)",
    "profit": "interest + fees + recoveries - credit loss - collection, education, origination and funding costs (CU)",
    "contacts_per_delinquent_loan": "SMS, calls and completed visits to loans past due / loans that were ever 1+ DPD",
    "late_payment_rate": "instalments not paid by the day after they fell due / instalments that fell due on current loans",
    "loans": "all loans: the day-0 book plus originations",
    "charge_offs": "loans charged off",
    "interest_income": "interest received (CU)",
    "fee_income": "late fees received (CU)",
    "plans_accepted": "flexible plans taken",
    "plan_redefault_rate": "plans broken (fell break_dpd behind) / plans taken",
    "early_contacts": "borrowers who called ahead of a shortfall",
    "sms": "SMS reminders sent",
    "calls": "collection calls made",
    "visits": "home visits attempted",
    "negative_stories": "negative experiences told to social ties",
    "cost_per_cure": "collection cost / cures (CU)",
}
SUMMARY_KEYS = list(SUMMARY)

DAILY = {
    "day": "day of the run",
    "active_loans": "loans outstanding",
    "current": "active loans not past due",
    "dpd_1_29": "active loans 1-29 DPD",
    "dpd_30_59": "active loans 30-59 DPD",
    "dpd_60_89": "active loans 60-89 DPD",
    "dpd_90_plus": "active loans 90+ DPD",
    "on_plan": "active loans on a flexible plan",
    "charge_offs": "loans charged off so far",
    "cures": "delinquency episodes cured so far",
    "default_rate": "charged-off loans / loans so far",
    "mean_stress": "mean stress of borrowers (people holding a loan or owing charged-off debt)",
    "high_stress_share": "share of borrowers with stress >= stress.high_threshold",
    "brand_trust": "mean trust in the brand",
    "applications": "applications today",
    "originations": "loans booked today",
    "visit_queue": "loans waiting for a visit at the end of the day",
    "visits": "visits attempted so far",
    "calls": "calls made so far",
    "complaints": "complaints so far",
    "collection_cost": "collection cost so far (CU)",
    "profit": "profit so far (CU)",
}


def read(key: str, model):
    """A DataCollector reporter: one field of the day's snapshot."""
    return model.snapshot[key]


def model_reporters() -> dict:
    return {k: partial(read, k) for k in DAILY}


def snapshot(model) -> dict:
    """Step 9: the day's numbers."""
    ppl, books, st = model.people, model.lender.books, model.params.stress
    d = ppl.dpd[model.prev_delinquent]
    d = d[d > 0]  # billed today and not yet paid is still current
    active = int(np.count_nonzero(ppl.has_loan))
    buckets = np.bincount(np.searchsorted([30, 60, 90], d, side="right"), minlength=4)
    loans_so_far = books.initial_loans + books.originations
    borrowers = ppl.borrowers()
    n_borrowers = max(int(np.count_nonzero(borrowers)), 1)
    return {
        "day": model.day,
        "active_loans": active,
        "current": active - len(d),
        "dpd_1_29": int(buckets[0]),
        "dpd_30_59": int(buckets[1]),
        "dpd_60_89": int(buckets[2]),
        "dpd_90_plus": int(buckets[3]),
        "on_plan": int(np.count_nonzero(ppl.on_plan)),
        "charge_offs": books.charge_offs,
        "cures": books.cures,
        "default_rate": books.charge_offs / loans_so_far if loans_so_far else 0.0,
        "mean_stress": float(ppl.stress[borrowers].sum()) / n_borrowers,  # not np.dot: BLAS threads change the sum
        "high_stress_share": np.count_nonzero(borrowers & (ppl.stress >= st.high_threshold)) / n_borrowers,
        "brand_trust": float(ppl.trust.mean()),
        "applications": model.applications_today,
        "originations": model.originations_today,
        "visit_queue": model.visit_queue,
        "visits": books.visits_attempted,
        "calls": books.calls,
        "complaints": books.complaints,
        "collection_cost": books.collection_cost,
        "profit": books.profit,
    }


def _ratio(a, b) -> float:
    return float(a) / float(b) if b else 0.0


def summary(model) -> dict:
    """End-of-run outcomes (definitions in ``SUMMARY``)."""
    ppl, books, st = model.people, model.lender.books, model.params.stress
    end = model.day
    led = model.ledger.table(ppl, end)
    ended = led["outcome"] != ACTIVE
    # only loans booked during the run were watched from their first day
    observed = (led["orig_day"] >= 0) & (ended | (led["end_day"] - led["orig_day"] >= 365))
    hit30 = led["day_30dpd"] >= 0
    roll_obs = hit30 & (ended | (led["end_day"] - led["day_30dpd"] >= 30))
    active = ppl.has_loan
    n_active = int(active.sum())
    dpd = ppl.dpd[active]
    series = model.datacollector.model_vars
    days = slice(1, None) if len(series["day"]) > 1 else slice(None)  # day 0 is the set-up
    out = {
        "default_rate": _ratio((led["outcome"] == CHARGED_OFF).sum(), len(led["outcome"])),
        "ever_30dpd_rate": _ratio((led["max_dpd_365"][observed] >= 30).sum(), observed.sum()),
        "dpd30_rate": _ratio((dpd >= 30).sum(), n_active),
        "dpd60_rate": _ratio((dpd >= 60).sum(), n_active),
        "dpd90_rate": _ratio((dpd >= 90).sum(), n_active),
        "roll_30_60": _ratio(led["reached_60"][roll_obs].sum(), roll_obs.sum()),
        "cure_rate": _ratio(books.cures, books.delinquency_episodes),
        "mean_stress": float(np.mean(series["mean_stress"][days])),
        "high_stress_share": float(np.mean(series["high_stress_share"][days])),
        "brand_trust": float(ppl.trust.mean()),
        "complaints": books.complaints,
        "applications": books.applications,
        "originations": books.originations,
        "collection_cost": books.collection_cost,
        "credit_loss": books.credit_loss,
        "recoveries": books.recoveries,
        "profit": books.profit,
        "contacts_per_delinquent_loan": _ratio(books.dunning_contacts, books.ever_delinquent_loans),
        "late_payment_rate": _ratio(books.delinquency_episodes, books.instalments_due),
        "loans": len(led["outcome"]),
        "charge_offs": books.charge_offs,
        "interest_income": books.interest_income,
        "fee_income": books.fee_income,
        "plans_accepted": books.plans_accepted,
        "plan_redefault_rate": _ratio(books.plans_broken, books.plans_accepted),
        "early_contacts": books.early_contacts,
        "sms": books.sms,
        "calls": books.calls,
        "visits": books.visits_attempted,
        "negative_stories": books.negative_stories,
        "cost_per_cure": _ratio(books.collection_cost, books.cures),
    }
    assert list(out) == SUMMARY_KEYS
    return {k: (float(v) if isinstance(v, (float, np.floating)) else int(v)) for k, v in out.items()}


def vintages(model) -> "pd.DataFrame":
    """Vintage (cohort) default curves of the loans booked during the run.

    A cohort is the 30-day period of origination (``cohort = orig_day // 30``). For each cohort and
    each month on book ``m`` that the run has observed for the whole cohort, ``charged_off`` is the
    share of the cohort's loans charged off within ``m`` months of origination.
    """
    import pandas as pd

    led = model.ledger.table(model.people, model.day)
    booked = led["orig_day"] >= 0
    orig, end, outcome = led["orig_day"][booked], led["end_day"][booked], led["outcome"][booked]
    cohort = orig // 30
    rows = []
    for c in np.unique(cohort):
        mask = cohort == c
        n = int(mask.sum())
        months_seen = (model.day - (int(c) + 1) * 30) // 30  # complete months for the youngest loan
        if months_seen < 0:
            continue
        co_month = np.where(outcome[mask] == CHARGED_OFF, (end[mask] - orig[mask]) // 30, 10**9)
        counts = np.bincount(np.minimum(co_month, months_seen + 1), minlength=months_seen + 2)[: months_seen + 1]
        cum = np.cumsum(counts) / n
        rows.extend((int(c), m, n, float(cum[m])) for m in range(months_seen + 1))
    return pd.DataFrame(rows, columns=["cohort", "months_on_book", "loans", "charged_off"])
