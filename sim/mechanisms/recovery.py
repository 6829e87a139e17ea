"""Recovery after charge-off: a charged-off borrower sometimes pays part of the debt.

On pay day, each person still owing charged-off debt pays with probability ``pay_prob`` a share
``pay_share`` of their free cash (never more than is owed). The recovery agency keeps
``cost_share`` of what it collects.
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE
from . import spending


def step(model, t) -> None:
    ppl, rc, books = model.people, model.params.collection.recovery, model.lender.books
    group = model.pay_groups[t % CYCLE]
    idx = group[ppl.co_balance[group] > 0.0]
    u = model.streams.person.recovery.uniform(idx, t)
    idx = idx[u < rc.pay_prob]
    if len(idx) == 0:
        return
    spending.settle(model, idx, t)
    amount = np.minimum(rc.pay_share * ppl.cash[idx], ppl.co_balance[idx])
    ppl.cash[idx] -= amount
    ppl.co_balance[idx] -= amount
    ppl.paid_total[idx] += amount
    total = float(amount.sum())
    books.received += total
    books.recoveries += total
    books.recovery_cost += rc.cost_share * total
