"""A payment moratorium: on a given day the lender defers every covered loan's payments for a while.

On day ``start_day`` of the measurement window (the recession's clock), each loan that is at most
``max_dpd`` days past due (and, with ``hardship_only``, whose borrower is in hardship) is offered a
payment holiday of ``months`` instalments, and taken with probability ``take_up``. The holiday
defers the schedule: the next instalment falls due ``months`` cycles later than it would have; the
arrears, if any, are folded into the balance to be repaid after the holiday, and the loan's DPD
returns to 0 (re-aged, as payment moratoria did in 2020; it is not counted as a cure). The lender
forgoes the interest on the delay, as with plans. Taking the holiday relieves some stress
(``relief``) and shows the lender in a good light (``quality``, ``weight``).
"""

from __future__ import annotations

import numpy as np

from ..paramtypes import P, Section
from ..state import CYCLE
from . import Tactic


class MoratoriumParams(Section):
    start_day: int = P(180, "day", "Day of the measurement window on which the moratorium is offered.", ge=0, le=36_500)
    months: int = P(3, "months", "Instalments deferred.", ge=1, le=12)
    max_dpd: int = P(29, "DPD", "Loans further behind are not covered.", ge=0, le=720)
    hardship_only: bool = P(False, "flag", "Only borrowers in hardship (job loss, emergency) are covered.")
    take_up: float = P(0.5, "probability", "Chance a covered borrower takes the holiday (assumption).", ge=0, le=1)
    relief: float = P(0.05, "0..1", "Stress relieved by taking it (assumption).", ge=0, le=1)
    quality: float = P(0.8, "0..1", "What the offer shows of the lender (assumption).", ge=0, le=1)
    weight: float = P(0.2, "0..1", "Salience of the offer (assumption).", ge=0, le=1)


class Moratorium(Tactic):
    name = "moratorium"
    doc = "A payment holiday the lender offers every covered borrower on one day."
    Params = MoratoriumParams
    rank = 40
    counters = {"moratorium_loans": "loans that took the moratorium's payment holiday in the window"}

    def collect(self, t) -> None:
        m, p = self.model, self.p
        if t - m.t0 != p.start_day:
            return
        ppl = m.people
        idx = (ppl.has_loan & (ppl.dpd <= p.max_dpd)).nonzero()[0]
        if p.hardship_only:
            idx = idx[ppl.hardship_until[idx] >= t]
        idx = idx[self.draw.uniform(idx, t) < p.take_up]
        if len(idx) == 0:
            return
        inst = ppl.instalment[idx]
        remaining = np.ceil((ppl.balance[idx] - ppl.amount_due[idx]) / inst - 1e-9)
        missed = np.ceil(ppl.amount_due[idx] / inst - 1e-9)
        ppl.instalment[idx] = ppl.balance[idx] / np.maximum(remaining + missed, 1)
        ppl.amount_due[idx] = 0.0
        ppl.dpd[idx] = 0
        ppl.next_due[idx] = np.maximum(ppl.next_due[idx], t + 1) + CYCLE * p.months
        ppl.queued_since[idx] = -1
        self.counts["moratorium_loans"] += len(idx)
        m.experience(idx, stress=-p.relief, quality=p.quality, weight=p.weight)


TACTIC = Moratorium
