"""Recovery after charge-off: a charged-off borrower sometimes pays part of the debt.

On pay day, each person still owing charged-off debt pays with probability ``pay_prob`` a share
``pay_share`` of their free cash (never more than is owed). The recovery agency keeps
``cost_share`` of what it collects.
"""

from __future__ import annotations

import numpy as np

from ..mechanisms import spending
from ..paramtypes import P, Section
from ..state import CYCLE
from . import Tactic


class Recovery(Section):
    pay_prob: float = P(0.02, "per month", "Chance a charged-off borrower pays something in a month.", ge=0, le=1)
    pay_share: float = P(0.5, "share of free cash", "Share of free cash paid when paying.", ge=0, le=1)
    cost_share: float = P(0.25, "share of amount recovered", "Agency cost of recovery.", ge=0, le=1)


class RecoveryAgency(Tactic):
    name = "recovery"
    doc = "Recovery of charged-off debt through an agency."
    Params = Recovery
    rank = 90

    def recover(self, t) -> None:
        m, rc = self.model, self.p
        ppl, books = m.people, m.lender.books
        group = m.pay_groups[t % CYCLE]
        idx = group[(ppl.co_balance[group] > 0.0) & ~ppl.debt_sold[group]]  # sold debt is the buyer's (debt_sale)
        u = m.streams.person.recovery.uniform(idx, t)
        idx = idx[u < rc.pay_prob]
        if len(idx) == 0:
            return
        spending.settle(m, idx, t)
        amount = np.minimum(rc.pay_share * ppl.cash[idx], ppl.co_balance[idx])
        ppl.cash[idx] -= amount
        ppl.co_balance[idx] -= amount
        ppl.paid_total[idx] += amount
        total = float(amount.sum())
        books.received += total
        books.recoveries += total
        books.recovery_cost += rc.cost_share * total


TACTIC = RecoveryAgency
