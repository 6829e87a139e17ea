"""Borrower state as NumPy arrays.

Everyone in the market is a row ``i`` of these arrays. A person holds at most one loan at a time;
the loan's state lives in the same rows (``has_loan[i]``). A loan's life ends in the loan ledger
(:class:`LoanLedger`), which keeps one record per loan for the credit outcomes.

Attention to the loan and felt collection pressure decay exponentially between contacts; they are
stored as (level, day set) and evaluated when needed, so nothing is touched on days nothing happens.
Cash is spent continuously (subsistence and habit, per day) and settled lazily in the same way: see
:mod:`sim.mechanisms.spending`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CYCLE = 30  #: days between pay days and between instalments

#: the latest repayment decision of a person (``People.last_decision``)
NO_DECISION, PAID_ALL, PAID_PART, HOPED, UNABLE, UNWILLING = range(6)

# loan outcomes in the ledger
ACTIVE, REPAID, CHARGED_OFF, SETTLED = 0, 1, 2, 3
OUTCOMES = ("active", "repaid", "charged_off", "settled")  #: names of the outcome codes 0..3 (settled: sim/tactics/settlement.py)
CASH, POS = 0, 1
PRODUCTS = ("cash", "pos")  #: names of the product codes 0..1

#: Why a loan fell behind: the names of ``People.cause`` codes 0..5 (-1: no cause assigned).
CAUSES = ("job_loss", "emergency", "over_indebted", "spending", "misunderstood", "strategic")

#: DPD milestones recorded per loan: ``day_dpd{k}`` is the first day its DPD reached ``k`` (-1: never).
DPD_MILESTONES = (1, 5, 30, 60, 90)


class People:
    """Per-person arrays. Built by :func:`sim.mechanisms.population.create`."""

    def __init__(self, n: int):
        f, i, b = np.float64, np.int32, np.bool_
        self.n = n
        # income and employment
        self.income = np.zeros(n, f)  # usual monthly pay when employed (CU/month)
        self.employed = np.ones(n, b)
        self.pay_offset = np.zeros(n, i)  # pay day is when day % 30 == pay_offset
        self.hardship_until = np.full(n, -1, i)  # counts as "in hardship" until this day
        # money and spending
        self.cash = np.zeros(n, f)
        self.reserved = np.zeros(n, f)  # money set aside for the next instalment
        self.settled_day = np.zeros(n, i)  # day up to which daily spending has been taken
        self.daily_subsistence = np.zeros(n, f)
        self.daily_habit = np.zeros(n, f)
        # traits
        self.present_bias = np.zeros(n, f)
        self.literacy = np.zeros(n, f)
        self.understanding = np.zeros(n, f)
        self.score = np.zeros(n, f)  # credit score seen by underwriting
        self.address_ok = np.ones(n, b)
        self.educated = np.zeros(n, b)
        # feelings
        self.stress = np.zeros(n, f)
        self.trust = np.zeros(n, f)
        self.attention = np.zeros(n, f)  # level when last set
        self.attention_day = np.zeros(n, i)
        self.pressure = np.zeros(n, f)
        self.pressure_day = np.zeros(n, i)
        # market status
        self.banned = np.zeros(n, b)  # charged off once: never lent to again
        self.cooldown_until = np.zeros(n, i)
        self.co_balance = np.zeros(n, f)  # charged-off debt still owed (recovery)
        self.neighbors = np.zeros((n, 0), np.int32)
        # cumulative per-person ledgers (tests and common-random-number checks)
        self.income_received = np.zeros(n, f)
        self.shock_count = np.zeros(n, i)
        self.paid_total = np.zeros(n, f)
        self.received_total = np.zeros(n, f)  # principal disbursed to the person
        self.contacts = np.zeros(n, i)
        self.app_hazard = np.zeros(n, f)  # application clock: hazard accumulated since the last application
        self.app_threshold = np.zeros(n, f)  # the clock's threshold for the next application
        self.app_count = np.zeros(n, i)  # applications made so far
        self.family_help_total = np.zeros(n, f)  # money raised from family and friends to pay the lender
        # lasting personal differences (drawn once, in population.create)
        self.age = np.zeros(n, f)  # years
        self.place = np.zeros(n, i)  # town or district (the network is homophilous in it)
        self.volatility = np.zeros(n, f)  # log-sd of monthly pay (irregular earners more)
        self.benefit = np.zeros(n, f)  # income while unemployed, share of usual pay (benefits, family)
        self.other_dsti = np.zeros(n, f)  # monthly debt service to other creditors / income
        self.other_first = np.zeros(n, b)  # pays other creditors before this lender
        self.daily_other = np.zeros(n, f)  # that debt service as a daily flow (CU/day)
        self.will_re = np.zeros(n, f)  # lasting personal effect on willingness (logit)
        self.quality = np.zeros(n, f)  # true credit quality (standardised; the score is a noisy view)
        self.stress_base = np.zeros(n, f)  # personal calm-times stress
        self.trust_prior = np.zeros(n, f)  # personal prior trust in the brand
        # recent history that decisions and causes read
        self.contact_load = np.zeros(n, f)  # recent contacts (decaying count), level when last set
        self.contact_day = np.zeros(n, i)
        self.last_job_loss = np.full(n, -(10**6), i)
        self.last_emergency = np.full(n, -(10**6), i)
        self.last_decision = np.zeros(n, np.int8)  # DECISIONS code of the latest repayment decision
        self.promise_day = np.full(n, -1, i)  # a promise to pay falls due on this day, or -1
        self.promise_amount = np.zeros(n, f)
        self.promise_base = np.zeros(n, f)  # paid_total when the promise was made

        # ---- the loan slot ----
        self.has_loan = np.zeros(n, b)
        self.loan_id = np.full(n, -1, np.int64)
        self.product = np.zeros(n, np.int8)
        self.orig_day = np.zeros(n, i)
        self.principal = np.zeros(n, f)
        self.principal_share = np.zeros(n, f)  # principal / total contractual repayment
        self.balance = np.zeros(n, f)  # contractual amount still owed (principal + scheduled interest)
        self.instalment = np.zeros(n, f)
        self.amount_due = np.zeros(n, f)  # fallen due and unpaid (the arrears)
        self.fees = np.zeros(n, f)
        self.next_due = np.full(n, -1, i)
        self.dpd = np.zeros(n, i)
        self.on_plan = np.zeros(n, b)
        self.plans_taken = np.zeros(n, np.int8)
        self.episodes = np.zeros(n, np.int16)  # delinquency episodes of this loan
        # the loan's history (reset at origination, recorded in the ledger when it ends)
        self.max_dpd = np.zeros(n, i)  # worst DPD so far
        self.day_dpd1 = np.full(n, -1, i)  # first day at 1+ DPD (-1: never)
        self.day_dpd5 = np.full(n, -1, i)
        self.day_dpd30 = np.full(n, -1, i)
        self.day_dpd60 = np.full(n, -1, i)
        self.day_dpd90 = np.full(n, -1, i)
        self.first_plan_day = np.full(n, -1, i)  # day the first plan was taken
        self.redefault_day = np.full(n, -1, i)  # first day at 30+ DPD after a plan
        self.promises = np.zeros(n, np.int16)  # promises to pay made
        self.promises_broken = np.zeros(n, np.int16)
        self.cause = np.full(n, -1, np.int8)  # why the loan fell behind: index into CAUSES, -1 none
        self.last_visit = np.full(n, -(10**6), i)
        self.queued_since = np.full(n, -1, i)  # in the visit queue since this day, or -1
        self._pack()

    #: Arrays read together for the same scattered rows (spending and pay; a decision, a contact; a
    #: loan's DPD history) are kept as fields of one record per person, so gathering a few thousand
    #: rows from several of them costs one cache miss per row instead of one per array. The attributes
    #: stay 1-D arrays (strided views of the record block) with the same values and dtypes; nothing
    #: reads the blocks directly. Not for arrays read whole or in dense strides (stress, trust, the
    #: application clocks' groups of every 7th person): those are faster as plain arrays.
    PACKED = (
        ("income", "cash", "reserved", "daily_subsistence", "daily_habit", "daily_other", "benefit",
         "settled_day", "pay_offset"),
        ("attention", "pressure", "contact_load", "will_re", "literacy", "understanding", "present_bias",
         "attention_day", "pressure_day", "contact_day", "promise_day", "other_first"),
        ("max_dpd", "day_dpd1", "day_dpd5", "day_dpd30", "day_dpd60", "day_dpd90", "first_plan_day",
         "redefault_day", "episodes", "promises", "promises_broken", "cause", "plans_taken"),
    )

    def _pack(self) -> None:
        self._blocks = []
        for names in self.PACKED:
            block = np.zeros(self.n, np.dtype([(k, getattr(self, k).dtype) for k in names], align=True))
            for k in names:
                block[k] = getattr(self, k)
                setattr(self, k, block[k])
            self._blocks.append(block)

    # ---- lazily decaying quantities ----
    @staticmethod
    def _decayed(level, day, t, halflife, floor=0.0):
        factor = np.divide(day - t, halflife)  # day - t == -(t - day), exactly
        np.exp2(factor, out=factor)
        if floor == 0.0:  # the same numbers without the two no-op passes (x - 0 and 0 + x are x for x >= 0)
            return np.multiply(np.maximum(level, 0.0), factor, out=factor)
        return floor + np.maximum(level - floor, 0.0) * factor

    #: attention never falls below this share (people do remember they have a loan)
    attention_floor = 0.0

    def attention_now(self, idx, t, halflife):
        return self._decayed(self.attention[idx], self.attention_day[idx], t, halflife, self.attention_floor)

    def pressure_now(self, idx, t, halflife):
        return self._decayed(self.pressure[idx], self.pressure_day[idx], t, halflife)

    def restore_attention(self, idx, t, level, halflife):
        """A contact brings the loan back to mind: attention rises to at least ``level``."""
        self.attention[idx] = np.maximum(self.attention_now(idx, t, halflife), level)
        self.attention_day[idx] = t

    def add_pressure(self, idx, t, amount, halflife):
        self.pressure[idx] = np.minimum(self.pressure_now(idx, t, halflife) + amount, 1.0)
        self.pressure_day[idx] = t

    def contact_load_now(self, idx, t, halflife):
        return self._decayed(self.contact_load[idx], self.contact_day[idx], t, halflife)

    def add_contact(self, idx, t, halflife):
        """One more contact in recent memory (avoidance grows with it)."""
        self.contact_load[idx] = self.contact_load_now(idx, t, halflife) + 1.0
        self.contact_day[idx] = t

    def borrowers(self) -> np.ndarray:
        """Mask of borrowers: people holding a loan or still owing charged-off debt."""
        return self.has_loan | (self.co_balance > 0.0)

    def delinquent(self) -> np.ndarray:
        """Rows whose loan has arrears."""
        return (self.amount_due > 0.0).nonzero()[0]


LEDGER_FIELDS = {
    "loan_id": np.int64,
    "person": np.int32,
    "product": np.int8,
    "orig_day": np.int32,
    "end_day": np.int32,
    "outcome": np.int8,
    "principal": np.float64,
    "max_dpd": np.int32,
    "day_dpd1": np.int32,
    "day_dpd5": np.int32,
    "day_dpd30": np.int32,
    "day_dpd60": np.int32,
    "day_dpd90": np.int32,
    "promises": np.int16,
    "promises_broken": np.int16,
    "plans": np.int8,
    "first_plan_day": np.int32,
    "redefault_day": np.int32,
    "cause": np.int8,
}


@dataclass
class LoanLedger:
    """One record per ended loan, appended in batches (no per-loan Python work)."""

    chunks: list[dict[str, np.ndarray]] = field(default_factory=list)

    def append(self, people: People, idx: np.ndarray, day: int, outcome: int) -> None:
        if len(idx) == 0:
            return
        self.chunks.append(_records(people, idx, day, outcome))

    def table(self, people: People | None = None, day: int | None = None) -> dict[str, np.ndarray]:
        """All ended loans, plus (if ``people`` given) the loans still active on ``day``."""
        chunks = list(self.chunks)
        if people is not None:
            chunks.append(_records(people, people.has_loan.nonzero()[0], day, ACTIVE))
        if not chunks:
            return {k: np.zeros(0, v) for k, v in LEDGER_FIELDS.items()}
        return {k: np.concatenate([c[k] for c in chunks]).astype(v) for k, v in LEDGER_FIELDS.items()}


def _records(p: People, idx: np.ndarray, day: int, outcome: int) -> dict[str, np.ndarray]:
    return {
        "loan_id": p.loan_id[idx].copy(),
        "person": idx.astype(np.int32),
        "product": p.product[idx].copy(),
        "orig_day": p.orig_day[idx].copy(),
        "end_day": np.full(len(idx), day, np.int32),
        "outcome": np.full(len(idx), outcome, np.int8),
        "principal": p.principal[idx].copy(),
        "max_dpd": p.max_dpd[idx].copy(),
        **{f"day_dpd{k}": getattr(p, f"day_dpd{k}")[idx].copy() for k in DPD_MILESTONES},
        "promises": p.promises[idx].copy(),
        "promises_broken": p.promises_broken[idx].copy(),
        "plans": p.plans_taken[idx].copy(),
        "first_plan_day": p.first_plan_day[idx].copy(),
        "redefault_day": p.redefault_day[idx].copy(),
        "cause": p.cause[idx].copy(),
    }
