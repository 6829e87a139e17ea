"""What a run reports: the daily series (Mesa DataCollector reporters) and the end-of-run summary.

Every summary key is defined in docs/ODD.md (section "Observation"); ``SUMMARY_KEYS`` lists them in
order. Daily reporters read one snapshot the model takes at step 9 of each day, so the DataCollector
stays a plain Mesa DataCollector while nothing is counted twice.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import partial

import numpy as np

from . import accounting
from .state import ACTIVE, CAUSES, CHARGED_OFF, DPD_MILESTONES, OUTCOMES, PRODUCTS
from .regulation import BREACH_UNIT, RULES
from .tactics import registry as tactic_registry

#: name: definition (the definitions are repeated in docs/ODD.md; a test keeps them in step). Every key
#: is measured over the measurement window (days t0+1 .. t0+simulation.days, after the burn-in):
#: counts and money as their change over the window; "window loans" are the loans active at t0 or
#: booked after it.
SUMMARY = {
    "default_rate": "window loans charged off / window loans (loans active at the window's start or booked in it)",
    "ever_30dpd_rate": "loans booked in the window that reached 30+ DPD within their first 365 days, among those observed 365 days or ended",
    "dpd30_rate": "share of active loans 30+ DPD at the end",
    "dpd60_rate": "share of active loans 60+ DPD at the end",
    "dpd90_rate": "share of active loans 90+ DPD at the end",
    "roll_30_60": "loans 30-59 DPD at a month-end found 60-89 DPD a month later / loans 30-59 DPD at a month-end (roll-rate matrix)",
    "roll_60_90": "loans 60-89 DPD at a month-end found 90-119 DPD a month later / loans 60-89 DPD at a month-end",
    "roll_90_120": "loans 90-119 DPD at a month-end charged off by the next / loans 90-119 DPD at a month-end",
    "cure_rate": "delinquency episodes (1+ DPD) cured in the window, by payment or a completed plan / episodes open at its start or begun in it",
    "cure_1_29": "loans 1-29 DPD at a month-end found current a month later / loans 1-29 DPD at a month-end",
    "cure_30_59": "loans 30-59 DPD at a month-end found current a month later / loans 30-59 DPD at a month-end",
    "cure_60_89": "loans 60-89 DPD at a month-end found current a month later / loans 60-89 DPD at a month-end",
    "cure_90_119": "loans 90-119 DPD at a month-end found current a month later / loans 90-119 DPD at a month-end",
    "mean_stress": "borrowers' mean stress, averaged over the window's days; borrowers are people holding a loan or owing charged-off debt (0..1)",
    "high_stress_share": "share of borrowers with stress >= stress.high_threshold, averaged over the window's days",
    "brand_trust": "mean trust in the lender over everyone in the market at the end (0..1)",
    "complaints": "complaints after visits in the window",
    "applications": "loan applications in the window",
    "originations": "loans booked in the window",
    "collection_cost": "SMS, calls, visits, plan set-up, collectors' incentive pay and recovery agency costs in the window (CU)",
    "credit_loss": "principal written off at charge-off in the window (CU)",
    "recoveries": "paid on charged-off debt in the window (CU)",
    "profit": "profit after provisions (sim.accounting): interest + fees + recoveries_net + debt_sale_proceeds - impairment - dunning (SMS, calls, visits, plan set-up, collectors' incentive pay) - principal forgiven by settlements - education, origination, funding, operating and capital costs, in the window (CU)",
    "contacts_per_delinquent_loan": "SMS, calls and completed visits to loans past due in the window / loans past due at its start or first past due in it",
    "late_payment_rate": "instalments not paid by the day after they fell due / instalments that fell due on current loans, in the window",
    "loans": "window loans: active at the window's start or booked in it",
    "charge_offs": "loans charged off in the window",
    "interest_income": "interest received in the window (CU)",
    "fee_income": "late fees received in the window (CU)",
    "plans_accepted": "flexible plans taken in the window",
    "plan_redefault_rate": "plans broken (fell break_dpd behind) in the window / plans running at its start or taken in it",
    "early_contacts": "borrowers who called ahead of a shortfall, in the window",
    "sms": "SMS reminders sent in the window",
    "calls": "collection calls made in the window",
    "visits": "home visits attempted in the window",
    "negative_stories": "negative experiences told to social ties, in the window",
    "cost_per_cure": "collection cost / cures, in the window (CU)",
    "high_stress_odds_ratio": "odds of high stress (>= stress.high_threshold) among delinquent borrowers (a loan 1+ DPD, or owing charged-off debt) / the odds among current borrowers (a loan not past due), person-days pooled over the window",
    "cause_job_loss": "share of the loans first reaching 30+ DPD in the window whose cause is job_loss",
    "cause_emergency": "share of the loans first reaching 30+ DPD in the window whose cause is emergency",
    "cause_over_indebted": "share of the loans first reaching 30+ DPD in the window whose cause is over_indebted",
    "cause_spending": "share of the loans first reaching 30+ DPD in the window whose cause is spending",
    "cause_misunderstood": "share of the loans first reaching 30+ DPD in the window whose cause is misunderstood",
    "cause_strategic": "share of the loans first reaching 30+ DPD in the window whose cause is strategic",
    "late_again_ratio": "P(a loan booked in the window reaches 30+ DPD | its borrower had an earlier loan that reached 30+ DPD) / P(reaches 30+ DPD | no earlier loan did)",
}
#: The lender's economics (sim.accounting): the lines of the P&L, provisions and value.
SUMMARY.update({
    "recoveries_net": "recoveries - the recovery agency's cost, in the window (CU)",
    "debt_sale_proceeds": "paid by debt buyers for charged-off debt in the window (CU)",
    "provisions": "IFRS 9 loss allowance on the loans open at the window's end: PD of the stage x LGD x (principal part of the balance + fees) (CU)",
    "provision_charge": "allowance charged - released in the window (= change in the allowance + allowance used at write-off) (CU)",
    "impairment": "credit loss in the P&L: credit_loss + change in the allowance over the window (= provision_charge + write-offs not provided for) (CU)",
    "origination_cost": "cost of acquiring and underwriting the loans booked in the window (CU)",
    "education_cost": "cost of customer education at origination in the window (CU)",
    "funding_cost": "cost of funds on outstanding principal in the window (CU)",
    "operating_cost": "servicing cost of open loans in the window: lender.operating_cost per loan-month (CU)",
    "capital_cost": "capital held against outstanding principal x hurdle rate, in the window (CU)",
    "npv": "present value at the window's start of each window day's profit, discounted at lender.discount_rate (CU)",
    "lost_applications": "expected applications at people's prior trust - at their actual trust, in the window (same formula, mechanisms.acquisition)",
    "lost_business_value": "lost_applications x window originations / applications x profit per window loan, reported beside npv and not in it (CU)",
})
#: Regulation (sim.regulation): exposure to each rule, and contact intensity.
SUMMARY.update({
    "max_calls_7d": "most call attempts one borrower received in any 7 consecutive days of the window (saturates at 8)",
    **{f"breaches_{rule}": f"{BREACH_UNIT[rule]} in the window that broke the {rule.replace('_', ' ')} rule while it was not in force "
       "(0 when it is; sim.regulation)" for rule in RULES},
})
#: What each collection tactic counts (sim.tactics), over the window.
SUMMARY.update({k: v for cls in tactic_registry().values() for k, v in cls.counters.items()})
SUMMARY_KEYS = list(SUMMARY)

#: Summary keys that are shares in [0, 1] (confidence intervals on a logit scale, see sim.analysis).
RATE_KEYS = [k for k in SUMMARY_KEYS
             if k.endswith(("_rate", "_share")) or k.startswith(("roll_", "cure_", "cause_"))]


class UndefinedMetricWarning(UserWarning):
    """A summary ratio the run cannot define (a zero denominator): its value is NaN, never 0."""


DAILY = {
    "day": "day of the run (day 0: the set-up; the burn-in is days 0 .. t0-1)",
    "window_day": "day of the measurement window: day - t0 (negative in the burn-in, 0 at the window's start)",
    "burn_in": "true on days before t0; false from window_day 0 (the end of the burn-in's last day, the window's starting state) on: averages over the window's days start at window_day 1",
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
    "profit": "profit after provisions so far (CU)",
    "provisions": "IFRS 9 loss allowance on the day's closing book (CU)",
}


def read(key: str, model):
    """A DataCollector reporter: one field of the day's snapshot."""
    return model.snapshot[key]


def model_reporters() -> dict:
    return {k: partial(read, k) for k in DAILY}


def snapshot(model) -> dict:
    """Step 9: the day's numbers (and, under ``stress_counts``, the day's four person counts of the
    stress odds ratio, which :class:`Window` adds up over the window)."""
    ppl, books, st = model.people, model.lender.books, model.params.stress
    d = ppl.dpd[model.prev_delinquent]
    d = d[d > 0]  # billed today and not yet paid is still current
    active = int(np.count_nonzero(ppl.has_loan))
    buckets = np.bincount(np.searchsorted([30, 60, 90], d, side="right"), minlength=4)
    loans_so_far = books.initial_loans + books.originations
    owes_co = ppl.co_balance > 0.0
    borrower = ppl.has_loan | owes_co  # ppl.borrowers()
    rows = borrower.nonzero()[0]  # gathering by index is much faster than by mask, same numbers
    n_borrowers = max(len(rows), 1)
    stress = ppl.stress[rows]  # the borrowers' stress in row order (its sum is the mean's numerator)
    # the counts on whole-array masks (cheaper than gathering more rows): high stress, and among
    # borrowers delinquent (a loan 1+ DPD, or owing charged-off debt, so always a borrower) or else current
    high = ppl.stress >= st.high_threshold
    late = np.greater(ppl.dpd, 0)
    late &= ppl.has_loan
    late |= owes_co
    n_late = int(np.count_nonzero(late))
    late &= high
    late_high = int(np.count_nonzero(late))
    high &= borrower
    n_high = int(np.count_nonzero(high))
    stress_counts = (late_high, n_late - late_high, n_high - late_high, len(rows) - n_late - (n_high - late_high))
    return {
        "day": model.day,
        "window_day": model.day - model.t0,
        "burn_in": model.day < model.t0,
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
        "mean_stress": float(stress.sum()) / n_borrowers,  # not np.dot: BLAS threads change the sum
        "high_stress_share": n_high / n_borrowers,
        "brand_trust": float(ppl.trust.mean()),
        "applications": model.applications_today,
        "originations": model.originations_today,
        "visit_queue": model.visit_queue,
        "visits": books.visits_attempted,
        "calls": books.calls,
        "complaints": books.complaints,
        "collection_cost": books.collection_cost,
        "profit": books.profit,
        "provisions": books.provisions,
        "stress_counts": stress_counts,
    }


# --------------------------------------------------------------------------- the measurement window

#: Buckets of the roll-rate matrix: a loan's state at a month-end ("from") and a month later ("to").
#: "90-119" holds every active loan at 90+ DPD (with the default loans.charge_off_dpd = 120 that is
#: 90..119); "on_plan" holds loans on a repayment plan that are not past due on its new schedule (re-aged
#: but not yet cured: sim/tactics/plans.py), so "current" is only loans at 0 DPD off a plan; "charged_off"
#: and "repaid" (repaid in full or settled) are absorbing: the loan ended during the month.
ROLL_FROM = ("current", "1-29", "30-59", "60-89", "90-119", "on_plan")
ROLL_TO = (*ROLL_FROM, "charged_off", "repaid")
ROLL_EDGES = (1, 30, 60, 90)  # DPD at which the next bucket begins
MONTH = 30  #: days between the month-ends of the roll-rate matrix


def dpd_bucket(dpd: np.ndarray, on_plan: np.ndarray | None = None) -> np.ndarray:
    """Index into ``ROLL_FROM`` of each DPD (a loan on a plan at 0 DPD: ``on_plan``)."""
    b = np.searchsorted(ROLL_EDGES, dpd, side="right")
    if on_plan is not None:
        b[on_plan & (dpd <= 0)] = ROLL_FROM.index("on_plan")
    return b


class Window:
    """What the summary needs from the measurement window, gathered as the run goes (step 9).

    * at the end of day ``t0`` (the window's start): a copy of the lender's books, so flows over the
      window are end-of-run minus this; the loans past due and the plans running then;
    * on each window day ``t0+1 ..``: the four person counts of the stress odds ratio;
    * every 30 days from ``t0`` (the month-ends): the roll-rate transition counts since the last one.

    Everything is vectorised over people; at a month-end the loans ended during the month come from
    the ledger's chunks appended since the previous month-end.
    """

    def __init__(self, model):
        self.t0 = model.t0
        self.books = None  # the lender's Books at the end of day t0
        self.late_at_t0 = 0  # active loans 1+ DPD at the end of day t0
        self.plans_at_t0 = 0  # loans on a plan at the end of day t0
        self.stress_counts = np.zeros(4, np.int64)  # delinquent & high, delinquent & not, current & high, current & not
        self.roll_counts = np.zeros((len(ROLL_FROM), len(ROLL_TO)), np.int64)
        self.months = 0  # month-to-month transitions counted
        self._prev_ids = None
        self._prev_bucket = None
        self._ledger_mark = 0
        self.discounter = accounting.Discounter(model)

    @property
    def started(self) -> bool:
        return self.books is not None

    def observe(self, model) -> None:
        t = model.day
        if t == self.t0:
            self._start(model)
        self.discounter.observe(model)
        if t > self.t0:
            self._count_stress(model)
        if t >= self.t0 and (t - self.t0) % MONTH == 0:
            self._month_end(model)

    def _start(self, model) -> None:
        ppl = model.people
        self.books = dataclasses.replace(model.lender.books)
        self.breaches = dict(model.contact_history.breaches)
        self.tactic_counts = model.tactics.counts()
        self.late_at_t0 = int(np.count_nonzero(ppl.has_loan & (ppl.dpd > 0)))
        self.plans_at_t0 = int(np.count_nonzero(ppl.has_loan & ppl.on_plan))

    def _count_stress(self, model) -> None:
        # delinquent & high, delinquent & not, current & high, current & not: counted by the snapshot
        self.stress_counts += model.snapshot["stress_counts"]

    def _month_end(self, model) -> None:
        ppl = model.people
        act = np.flatnonzero(ppl.has_loan)
        ids, bucket = ppl.loan_id[act], dpd_bucket(ppl.dpd[act], ppl.on_plan[act])
        chunks = model.ledger.chunks[self._ledger_mark:]
        if self._prev_ids is not None and len(self._prev_ids):
            ended_ids = [c["loan_id"] for c in chunks]
            ended_to = [np.where(c["outcome"] == CHARGED_OFF, ROLL_TO.index("charged_off"), ROLL_TO.index("repaid"))
                        for c in chunks]
            all_ids = np.concatenate([ids, *ended_ids])
            all_to = np.concatenate([bucket, *ended_to])
            order = np.argsort(all_ids, kind="stable")
            sorted_ids = all_ids[order]
            pos = np.minimum(np.searchsorted(sorted_ids, self._prev_ids), max(len(sorted_ids) - 1, 0))
            found = (sorted_ids[pos] == self._prev_ids) if len(sorted_ids) else np.zeros(len(pos), bool)
            to = all_to[order][pos[found]]
            frm = self._prev_bucket[found]
            k = len(ROLL_TO)
            self.roll_counts += np.bincount(frm * k + to, minlength=len(ROLL_FROM) * k).reshape(len(ROLL_FROM), k)
            self.months += 1
        self._prev_ids, self._prev_bucket = ids, bucket
        self._ledger_mark = len(model.ledger.chunks)


def roll_matrix(model) -> "pd.DataFrame":
    """The roll-rate matrix of the window, tidy: ``from, to, count, share`` (one row per pair of
    ``ROLL_FROM`` x ``ROLL_TO``; ``share`` = count / loans in ``from`` at the month-ends, NaN if none).

    Counts are pooled over every pair of consecutive month-ends of the window (days t0, t0+30, ...).
    """
    import pandas as pd

    counts = model.window.roll_counts
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    k = len(ROLL_TO)
    return pd.DataFrame({
        "from": np.repeat(ROLL_FROM, k),
        "to": np.tile(ROLL_TO, len(ROLL_FROM)),
        "count": counts.ravel().astype(np.int64),
        "share": share.ravel(),
    })


# --------------------------------------------------------------------------- the summary

def _ratio(a, b, key: str, why: str, undefined: list) -> float:
    """``a / b``, or NaN (and ``key`` noted as undefined, ``why``) when ``b`` is 0."""
    if b:
        return float(a) / float(b)
    undefined.append((key, why))
    return float("nan")


def warn_undefined(undefined: list[tuple[str, str]]) -> None:
    """One :class:`UndefinedMetricWarning` per undefined summary key."""
    for key, why in dict(undefined).items():
        warnings.warn(f"{key} is undefined (NaN): {why}", UndefinedMetricWarning, stacklevel=3)


def window_loans(led: dict, t0: int) -> np.ndarray:
    """Mask of the ledger's window loans: active at the end of day t0 or booked after it."""
    return (led["outcome"] == ACTIVE) | (led["end_day"] > t0)


def summary(model) -> dict:
    """End-of-run outcomes over the measurement window (definitions in ``SUMMARY``).

    A ratio the run cannot define (a zero denominator) is NaN, with one
    :class:`UndefinedMetricWarning` per key naming it.
    """
    win = model.window
    if not win.started:
        raise RuntimeError(f"the measurement window starts at the end of day {model.t0} "
                           f"(simulation.burn_in); the run is on day {model.day}")
    ppl, t0 = model.people, model.t0
    books = model.lender.books
    b = books_change(books, win.books)
    end = model.day
    led = model.ledger.table(ppl, end)
    und: list[tuple[str, str]] = []
    ratio = partial(_ratio, undefined=und)

    inw = window_loans(led, t0)
    ended = led["outcome"] != ACTIVE
    booked = led["orig_day"] > t0
    observed = booked & (ended | (led["end_day"] - led["orig_day"] >= 365))
    d30 = led["day_dpd30"]
    hit30_365 = (d30 >= 0) & (d30 - led["orig_day"] <= 365)
    active = ppl.has_loan
    n_active = int(active.sum())
    dpd = ppl.dpd[active]
    series = model.datacollector.model_vars
    window_days = np.asarray(series["day"]) > t0
    roll = win.roll_counts
    fr = {name: int(roll[i].sum()) for i, name in enumerate(ROLL_FROM)}
    to = {name: j for j, name in enumerate(ROLL_TO)}

    def roll_share(frm: str, dest: str, key: str) -> float:
        return ratio(roll[ROLL_FROM.index(frm), to[dest]], fr[frm], key,
                     f"no loan was {frm} DPD at a month-end of the window followed by another month-end")

    dh, dn, ch, cn = (int(x) for x in win.stress_counts)
    if min(dh, dn, ch, cn) > 0:
        odds_ratio = (dh / dn) / (ch / cn)
    else:
        odds_ratio = float("nan")
        und.append(("high_stress_odds_ratio", "a cell of the 2x2 table (delinquent/current x high/not high "
                                              f"stress) is empty: {dh}, {dn}, {ch}, {cn} person-days"))
    reached = inw & (d30 > t0)
    n_reached = int(reached.sum())
    causes = {}
    for code, name in enumerate(CAUSES):
        causes[f"cause_{name}"] = ratio(int((led["cause"][reached] == code).sum()), n_reached, f"cause_{name}",
                                        "no loan first reached 30+ DPD in the window")
    episodes = b.delinquency_episodes + win.late_at_t0
    out = {
        "default_rate": ratio((led["outcome"][inw] == CHARGED_OFF).sum(), inw.sum(), "default_rate",
                              "no loan was active in the window"),
        "ever_30dpd_rate": ratio(hit30_365[observed].sum(), observed.sum(), "ever_30dpd_rate",
                                 "no loan booked in the window was observed 365 days or ended"),
        "dpd30_rate": ratio((dpd >= 30).sum(), n_active, "dpd30_rate", "no active loan at the end"),
        "dpd60_rate": ratio((dpd >= 60).sum(), n_active, "dpd60_rate", "no active loan at the end"),
        "dpd90_rate": ratio((dpd >= 90).sum(), n_active, "dpd90_rate", "no active loan at the end"),
        "roll_30_60": roll_share("30-59", "60-89", "roll_30_60"),
        "roll_60_90": roll_share("60-89", "90-119", "roll_60_90"),
        "roll_90_120": roll_share("90-119", "charged_off", "roll_90_120"),
        "cure_rate": ratio(b.cures, episodes, "cure_rate", "no delinquency episode was open in the window"),
        "cure_1_29": roll_share("1-29", "current", "cure_1_29"),
        "cure_30_59": roll_share("30-59", "current", "cure_30_59"),
        "cure_60_89": roll_share("60-89", "current", "cure_60_89"),
        "cure_90_119": roll_share("90-119", "current", "cure_90_119"),
        "mean_stress": float(np.mean(np.asarray(series["mean_stress"])[window_days])),
        "high_stress_share": float(np.mean(np.asarray(series["high_stress_share"])[window_days])),
        "brand_trust": float(ppl.trust.mean()),
        "complaints": b.complaints,
        "applications": b.applications,
        "originations": b.originations,
        "collection_cost": b.collection_cost,
        "credit_loss": b.credit_loss,
        "recoveries": b.recoveries,
        "profit": b.profit,
        "contacts_per_delinquent_loan": ratio(b.dunning_contacts, b.ever_delinquent_loans + win.late_at_t0,
                                              "contacts_per_delinquent_loan", "no loan was past due in the window"),
        "late_payment_rate": ratio(b.delinquency_episodes, b.instalments_due, "late_payment_rate",
                                   "no instalment fell due on a current loan in the window"),
        "loans": int(inw.sum()),
        "charge_offs": b.charge_offs,
        "interest_income": b.interest_income,
        "fee_income": b.fee_income,
        "plans_accepted": b.plans_accepted,
        "plan_redefault_rate": ratio(b.plans_broken, b.plans_accepted + win.plans_at_t0, "plan_redefault_rate",
                                     "no flexible plan ran in the window"),
        "early_contacts": b.early_contacts,
        "sms": b.sms,
        "calls": b.calls,
        "visits": b.visits_attempted,
        "negative_stories": b.negative_stories,
        "cost_per_cure": ratio(b.collection_cost, b.cures, "cost_per_cure", "no cure in the window"),
        "high_stress_odds_ratio": odds_ratio,
        **causes,
        "late_again_ratio": late_again(led, t0, und),
        **economics(model, b, int(inw.sum())),
        "max_calls_7d": model.contact_history.max_calls_7d,
        **{f"breaches_{r}": model.contact_history.breaches[r] - win.breaches[r] for r in RULES},
        **{k: v - win.tactic_counts[k] for k, v in model.tactics.counts().items()},
    }
    assert list(out) == SUMMARY_KEYS
    warn_undefined(und)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else int(v)) for k, v in out.items()}


def economics(model, b, n_loans: int) -> dict:
    """The economic summary keys from the window's books ``b`` (a ``books_change``)."""
    lost = b.expected_applications_prior - b.expected_applications
    approval = b.originations / b.applications if b.applications else 0.0
    per_loan = b.profit / n_loans if n_loans else 0.0
    return {
        "recoveries_net": b.recoveries_net,
        "debt_sale_proceeds": b.debt_sale_proceeds,
        "provisions": model.lender.books.provisions,
        "provision_charge": b.provision_charged - b.provision_released,
        "impairment": b.impairment,
        "origination_cost": b.origination_cost,
        "education_cost": b.education_cost,
        "funding_cost": b.funding_cost,
        "operating_cost": b.operating_cost,
        "capital_cost": b.capital_cost,
        "npv": model.window.discounter.npv,
        "lost_applications": lost,
        "lost_business_value": lost * approval * per_loan,
    }


def books_change(end, start):
    """The lender's books over a period: ``end`` minus ``start``, field by field (a ``Books``)."""
    return dataclasses.replace(end, **{f.name: getattr(end, f.name) - getattr(start, f.name)
                                       for f in dataclasses.fields(end)})


def late_again(led: dict, t0: int, undefined: list | None = None) -> float:
    """Persistence of delinquency per person (``late_again_ratio``), from a loan table.

    Among the loans booked in the window (``orig_day > t0``), a loan *has a history* when the same
    person holds an earlier loan in the table (booked before it, at any time, burn-in included) that
    reached 30+ DPD (``day_dpd30 >= 0``). The ratio is P(the loan reaches 30+ DPD | history) /
    P(reaches 30+ DPD | no history); "reaches" means ``day_dpd30 >= 0`` by the end of the run. NaN if
    either group is empty or no loan without history reaches 30+ DPD. ``led`` is a dict of arrays or
    a DataFrame with ``person``, ``orig_day``, ``loan_id`` and ``day_dpd30``.
    """
    own = undefined is None
    undefined = [] if own else undefined
    person = np.asarray(led["person"], np.int64)
    orig = np.asarray(led["orig_day"], np.int64)
    hit = np.asarray(led["day_dpd30"]) >= 0
    order = np.lexsort((np.asarray(led["loan_id"]), orig, person))
    p, o, h = person[order], orig[order], hit[order]
    # hits of the same person's earlier loans: running count within each person, minus this loan's own
    first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, bool)
    csum = np.cumsum(h)
    start_of_person = np.maximum.accumulate(np.where(first, np.arange(len(p)), 0)) if len(p) else np.zeros(0, int)
    before = csum - h - (csum[start_of_person] - h[start_of_person])
    history = before > 0
    mine = o > t0
    hist, fresh = mine & history, mine & ~history
    if hist.sum() == 0 or fresh.sum() == 0 or h[fresh].sum() == 0:
        why = ("no loan booked in the window had a borrower with an earlier 30+ DPD loan" if hist.sum() == 0
               else "no loan booked in the window without such a history" if fresh.sum() == 0
               else "no loan without such a history reached 30+ DPD")
        undefined.append(("late_again_ratio", why))
        if own:
            warn_undefined(undefined)
        return float("nan")
    return float(h[hist].mean() / h[fresh].mean())


# --------------------------------------------------------------------------- the per-loan table

#: Columns of the per-loan table (:func:`loan_table`, ``Result.loans``, ``loans.parquet``).
LOAN_COLUMNS = {
    "loan_id": "the loan's id",
    "person": "the borrower's row",
    "product": "cash or pos",
    "orig_day": "day of origination (run clock; 0 or negative for the day-0 book)",
    "end_day": "day the loan was repaid or charged off (-1: still active at the end)",
    "outcome": "active, repaid or charged_off",
    "in_window": "active at the window's start (end of day t0) or booked after it",
    "principal": "principal lent (CU)",
    "max_dpd": "worst DPD reached",
    **{f"day_dpd{k}": f"first day at {k}+ DPD (-1: never)" for k in DPD_MILESTONES},
    "promises": "promises to pay made",
    "promises_broken": "promises to pay broken",
    "plans": "flexible plans taken",
    "first_plan_day": "day of the first plan (-1: none)",
    "redefault_day": "first day at 30+ DPD again after a plan (-1: none)",
    "cause": "why the loan fell behind: a name of sim.state.CAUSES, or 'none' when no cause was assigned",
    "income_quintile": "1..5: the borrower's income rank among everyone in the market (5: the top fifth)",
    "literacy_tercile": "1..3: the borrower's financial-literacy rank in the market",
    "age_band": "the borrower's age at the start of the run: 18-24, 25-34, 35-44 or 45+",
}
AGE_BANDS = ("18-24", "25-34", "35-44", "45+")
SEGMENTS = ("income_quintile", "literacy_tercile", "age_band", "product", "cause")


def _rank_group(values: np.ndarray, groups: int) -> np.ndarray:
    """1..groups by rank of ``values`` among everyone (equal-sized groups, ties by row)."""
    n = len(values)
    rank = np.empty(n, np.int64)
    rank[np.argsort(values, kind="stable")] = np.arange(n)
    return (1 + rank * groups // max(n, 1)).astype(np.int8)


def loan_table(model) -> "pd.DataFrame":
    """One row per loan of the run (ended, and still active at the end), columns ``LOAN_COLUMNS``."""
    import pandas as pd

    ppl = model.people
    led = model.ledger.table(ppl, model.day)
    person = led["person"]
    active = led["outcome"] == ACTIVE
    age = ppl.age[person]
    df = pd.DataFrame({
        "loan_id": led["loan_id"],
        "person": person,
        "product": np.asarray(PRODUCTS)[led["product"]],
        "orig_day": led["orig_day"],
        "end_day": np.where(active, -1, led["end_day"]).astype(np.int32),
        "outcome": np.asarray(OUTCOMES)[led["outcome"]],
        "in_window": window_loans(led, model.t0),
        "principal": led["principal"],
        "max_dpd": led["max_dpd"],
        **{f"day_dpd{k}": led[f"day_dpd{k}"] for k in DPD_MILESTONES},
        "promises": led["promises"],
        "promises_broken": led["promises_broken"],
        "plans": led["plans"],
        "first_plan_day": led["first_plan_day"],
        "redefault_day": led["redefault_day"],
        "cause": np.asarray((*CAUSES, "none"))[np.where(led["cause"] >= 0, led["cause"], len(CAUSES))],
        "income_quintile": _rank_group(ppl.income, 5)[person],
        "literacy_tercile": _rank_group(ppl.literacy, 3)[person],
        "age_band": np.asarray(AGE_BANDS)[np.searchsorted([25.0, 35.0, 45.0], age, side="right")],
    })
    return df.sort_values("loan_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- vintages

def vintages(model) -> "pd.DataFrame":
    """Vintage (cohort) default curves of the loans booked in the measurement window.

    A cohort is a 30-day period of origination in the window (``cohort = (orig_day - t0 - 1) // 30``:
    cohort 0 is window days 1..30). For each cohort and each month on book ``m`` that the run has
    observed for the whole cohort, ``charged_off`` is the share of the cohort's loans charged off
    within ``m + 1`` months (``30 (m + 1)`` days) of origination: a cumulative share, which never
    decreases with ``m``. Pool cohorts with :func:`pooled_vintage`.
    """
    import pandas as pd

    t0 = model.t0
    led = model.ledger.table(model.people, model.day)
    booked = led["orig_day"] > t0
    orig, end, outcome = led["orig_day"][booked], led["end_day"][booked], led["outcome"][booked]
    cohort = (orig - t0 - 1) // 30
    rows = []
    for c in np.unique(cohort):
        mask = cohort == c
        n = int(mask.sum())
        youngest = t0 + (int(c) + 1) * 30  # the last day of the cohort
        months_seen = (model.day - youngest) // 30  # complete months for the youngest loan
        if months_seen < 0:
            continue
        co_month = np.where(outcome[mask] == CHARGED_OFF, (end[mask] - orig[mask]) // 30, 10**9)
        counts = np.bincount(np.minimum(co_month, months_seen + 1), minlength=months_seen + 2)[: months_seen + 1]
        cum = np.cumsum(counts) / n
        rows.extend((int(c), m, n, float(cum[m])) for m in range(months_seen + 1))
    return pd.DataFrame(rows, columns=["cohort", "months_on_book", "loans", "charged_off"])


def pooled_vintage(table: "pd.DataFrame") -> "pd.DataFrame":
    """One curve from a vintage table's cohorts: cumulative charge-off share by month on book.

    Cohorts are observed for different lengths, so the share of the cohorts observed ``m`` months
    cannot simply be averaged month by month (the mix of cohorts changes and the curve could fall).
    Instead the curve adds up monthly increments: month ``m``'s increment is the share of loans
    charged off in that month on book, ``charged_off(m) - charged_off(m - 1)``, averaged over the
    cohorts observed ``m`` months, weighted by their loans (an actuarial estimate). The curve never
    decreases, and equals the pooled share where every cohort is observed. Columns:
    ``months_on_book, cohorts, loans, charged_off``.
    """
    import pandas as pd

    if table.empty:
        return pd.DataFrame(columns=["months_on_book", "cohorts", "loans", "charged_off"])
    t = table.sort_values(["cohort", "months_on_book"])
    inc = t["charged_off"] - t.groupby("cohort")["charged_off"].shift(1).fillna(0.0)
    t = t.assign(w_inc=inc.clip(lower=0.0) * t["loans"])
    g = t.groupby("months_on_book")
    out = pd.DataFrame({"cohorts": g.size(), "loans": g["loans"].sum(),
                        "increment": g["w_inc"].sum() / g["loans"].sum()}).reset_index()
    out["charged_off"] = out["increment"].cumsum()
    return out[["months_on_book", "cohorts", "loans", "charged_off"]]
