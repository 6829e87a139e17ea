"""Settlement offers: close a loan far behind for less than is owed.

In a conversation (an answered call, a visit that met the borrower) with a loan at least ``min_dpd``
days past due and not on a repayment plan, the lender offers to close the loan for ``1 - discount``
of what is owed (balance + fees). The borrower takes the offer with probability ``acceptance`` if
they can pay the whole price now from what they can spare before the next pay day (cash and money
set aside, less subsistence and, for those who put them first, other creditors' instalments:
:func:`sim.mechanisms.repayment.ability`). Money raised from family in the same conversation comes
after the offers (:func:`sim.tactics.pipeline.converse`), so it is not counted.

Accepted, the price is paid (the money set aside first, then cash) and booked like a payment: to the
balance first, split into principal and interest by the loan's ``principal_share``, the rest to fees.
The balance left is forgiven: its principal part is the lender's loss ``Books.settlement_discount``
(like ``credit_loss``, unearned interest forgiven is no loss), and the fees left are forgone. The loan
closes as ``settled`` in the per-loan table (not a charge-off, not a cure; the roll-rate matrix counts
it with "repaid"). The borrower is relieved of the debt (``relief``, less stress) and the offer shows
the lender in a good light (``quality``, ``weight``). The discount, acceptance and experience defaults
are assumptions.
"""

from __future__ import annotations

import numpy as np

from ..mechanisms import loans, spending
from ..mechanisms.repayment import ability
from ..paramtypes import P, Section
from ..state import SETTLED
from . import Tactic


class SettlementParams(Section):
    min_dpd: int = P(60, "DPD", "Loans at least this far behind are offered a settlement.", ge=1, le=720)
    discount: float = P(0.3, "share of owed", "Share of what is owed (balance + fees) the lender forgoes (assumption).", ge=0, le=1)
    acceptance: float = P(0.5, "probability", "Chance a borrower who can pay the price now takes the offer (assumption).", ge=0, le=1)
    relief: float = P(0.1, "0..1", "Stress relieved by closing the debt (assumption).", ge=0, le=1)
    quality: float = P(0.7, "0..1", "What a settlement shows of the lender (assumption).", ge=0, le=1)
    weight: float = P(0.2, "0..1", "Salience of a settlement (assumption).", ge=0, le=1)


class Settlement(Tactic):
    name = "settlement"
    doc = "Settlement offers: close a loan far behind for part of what is owed."
    Params = SettlementParams
    rank = 27  # after plans (25): a loan just put on a plan is not offered a settlement
    counters = {
        "settlement_offers": "settlement offers made in conversations in the window",
        "settlements_accepted": "settlements accepted in the window (the loan closed as settled)",
        "settled_amount": "money paid to close loans by settlement in the window (CU)",
        "settlement_forgiven": "amount owed (balance + fees) forgiven by settlements in the window (CU)",
    }

    def offer(self, idx, t, channel) -> None:
        offer(self.model, idx, t, self)


def offer(model, idx, t, tac) -> np.ndarray:
    """Offer settlements to the loans in ``idx`` at or past ``min_dpd``; returns the settled rows."""
    ppl, p = model.people, tac.p
    idx = idx[ppl.has_loan[idx] & ~ppl.on_plan[idx] & (ppl.dpd[idx] >= p.min_dpd)]
    if len(idx) == 0:
        return idx
    tac.counts["settlement_offers"] += len(idx)
    spending.settle(model, idx, t)
    price = (1.0 - p.discount) * (ppl.balance[idx] + ppl.fees[idx])
    take = (ability(model, idx, t) >= price) & (tac.draw.uniform(idx, t) < p.acceptance)
    idx, price = idx[take], price[take]
    settle(model, idx, price, t, tac)
    return idx


def settle(model, idx, price, t, tac) -> None:
    """Close the loans in ``idx`` for ``price`` each (at most what is owed)."""
    if len(idx) == 0:
        return
    ppl, books, p = model.people, model.lender.books, tac.p
    owed = ppl.balance[idx] + ppl.fees[idx]
    price = np.minimum(price, owed)
    to_bal = np.minimum(price, ppl.balance[idx])
    to_fees = price - to_bal
    share = ppl.principal_share[idx]
    # the money leaves the person: the set-aside money first, then cash
    from_reserved = np.minimum(price, ppl.reserved[idx])
    ppl.reserved[idx] -= from_reserved
    ppl.cash[idx] -= price - from_reserved
    ppl.paid_total[idx] += price
    books.received += float(price.sum())
    books.principal_repaid += float((to_bal * share).sum())
    books.interest_income += float((to_bal * (1.0 - share)).sum())
    books.fee_income += float(to_fees.sum())
    books.settlement_discount += float(((ppl.balance[idx] - to_bal) * share).sum())
    books.settlements += len(idx)
    tac.counts["settlements_accepted"] += len(idx)
    tac.counts["settled_amount"] += float(price.sum())
    tac.counts["settlement_forgiven"] += float((owed - price).sum())
    model.experience(idx, stress=-p.relief, quality=p.quality, weight=p.weight)
    loans.close(model, idx, t, SETTLED)


TACTIC = Settlement
