"""Promises to pay: asked for in every conversation, followed up on the promised day.

A borrower still behind promises, with their current willingness to pay, to pay by a date
(``days`` ahead). On the promised day they decide again, with the commitment of the promise added to
their willingness (:func:`sim.mechanisms.repayment.willingness`). A promise is kept if they have paid
at least the promised amount (one instalment, or all they owe if less) since making it; a broken
promise escalates: the collector's pressure rises (``broken_pressure``) and, where
``visits.on_broken_promise`` and visits run, the loan joins the visit queue whatever its DPD.
"""

from __future__ import annotations

import numpy as np

from ..mechanisms.repayment import budget_month, willingness
from ..paramtypes import P, Section
from . import Tactic, distinct_rows
from .pipeline import persuaded

EMPTY = np.zeros(0, np.int64)


class Promises(Section):
    days: int = P(5, "days", "Days until the promised payment.", ge=1, le=60)
    commitment: float = P(1.0, "logit", "A promise raises willingness on the promised day (assumption).", ge=0, le=10)
    broken_pressure: float = P(0.2, "0..1", "Pressure added when a promise is broken (the collector calls back harder; assumption).", ge=0, le=1)


class PromiseToPay(Tactic):
    name = "promises"
    doc = "Conversations ask for a promise to pay by a date, and collectors follow it up."
    Params = Promises
    rank = 30

    def __init__(self, model, active):
        super().__init__(model, active)
        self.due: dict[int, list[np.ndarray]] = {}  # day -> borrowers whose promise falls due
        self._judged = EMPTY  # today's promises, held or not by a loan: judged after the payments

    def ask(self, idx, t, channel) -> None:
        m = self.model
        ppl, books = m.people, m.lender.books
        ask = idx[(ppl.amount_due[idx] > 0.0) & (ppl.promise_day[idx] < t)]
        u = m.streams.person.promise.uniform_keyed(ask, budget_month(m, ask, t))
        promise = ask[u < persuaded(m, ask, willingness(m, ask, t))]  # a skilled collector gets more
        day = t + self.p.days
        ppl.promise_day[promise] = day
        ppl.promise_amount[promise] = np.minimum(ppl.amount_due[promise] + ppl.fees[promise], ppl.instalment[promise])
        ppl.promise_base[promise] = ppl.paid_total[promise]
        ppl.promises[promise] += 1
        books.promises += len(promise)
        self.due.setdefault(day, []).append(promise)

    def due_today(self, t) -> np.ndarray:
        """Borrowers whose promise falls due today (their promise still stands)."""
        due = self.due.get(t)
        if not due:
            return EMPTY
        idx = distinct_rows(due)
        return idx[self.model.people.promise_day[idx] == t]

    def before_payments(self, t) -> None:
        due = self._judged = self.due_today(t)
        self.model.promised_today = due[self.model.people.has_loan[due]]  # they decide again today

    def after_payments(self, t) -> None:
        """After today's payments: promises due today are kept or broken; broken ones escalate. A promise
        on a loan that has closed since is judged too: kept if the loan was repaid or settled (nothing is
        owed), broken if it was charged off without the promised payment."""
        m = self.model
        due = self._judged
        self._judged = EMPTY
        self.due.pop(t, None)
        if len(due) == 0:
            return
        ppl, prm, books = m.people, m.params, m.lender.books
        paid = ppl.paid_total[due] - ppl.promise_base[due]
        kept = (paid >= ppl.promise_amount[due] - 1e-6) | ((ppl.amount_due[due] <= 0.0) & ~ppl.banned[due])
        broken = due[~kept]
        ppl.promise_day[due] = -1
        collected = float(np.maximum(np.minimum(paid, ppl.promise_amount[due]), 0.0).sum())
        c = prm.collection.collectors
        books.incentive_pay += c.incentive * c.commission * collected  # the collectors' share
        books.promises_kept += int(kept.sum())
        books.promises_broken += len(broken)
        ppl.promises_broken[broken] += 1
        broken = broken[ppl.has_loan[broken]]  # a charged-off loan has nothing left to escalate
        ppl.add_pressure(broken, t, self.p.broken_pressure, prm.repayment.pressure_halflife)
        visits = m.tactics["visits"]
        if visits.active and visits.p.on_broken_promise:
            visits.enqueue(broken, t)


TACTIC = PromiseToPay
