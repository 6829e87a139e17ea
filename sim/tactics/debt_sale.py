"""Debt sale: charged-off debt is sold to a debt buyer at a chosen DPD and price per unit owed.

Each day, charged-off debt that has reached ``dpd`` days past due (counted on from the charge-off at
``loans.charge_off_dpd``) and is still owed is sold: the lender books ``price`` per CU owed
(``Books.debt_sale_proceeds``) and stops collecting it (the ``recovery`` tactic skips sold debt). The
person still owes the debt, now to the buyer, so the strain of owing it (7.14) remains. The buyer
collects harder than the lender's agency: on pay day the person pays the buyer with probability
``buyer_pay_prob`` a share ``recovery.pay_share`` of their free cash; that money leaves the person
but not to the lender. The sale itself is an experience: a letter from a debt buyer costs stress
(``buyer_stress``) and shows the lender's brand in a poor light (``buyer_quality``,
``buyer_weight``). Prices for charged-off consumer debt are a few cents per dollar (about 4 cents
on average in the US: FTC 2013, The Structure and Practices of the Debt Buying Industry).
"""

from __future__ import annotations

import numpy as np

from ..mechanisms import spending
from ..paramtypes import P, Section
from ..state import CYCLE
from . import Tactic


class DebtSaleParams(Section):
    dpd: int = P(180, "DPD", "Days past due at which charged-off debt is sold (at or after loans.charge_off_dpd).", ge=30, le=3650)
    price: float = P(0.05, "CU per CU owed", "Price the buyer pays per unit of debt owed (FTC 2013: about 0.04 on average).", ge=0, le=1)
    buyer_pay_prob: float = P(0.04, "per month", "Chance a person pays the debt buyer something in a month (assumption).", ge=0, le=1)
    buyer_stress: float = P(0.08, "0..1", "Stress from learning the debt was sold and being pursued by the buyer (assumption).", ge=0, le=1)
    buyer_quality: float = P(0.1, "0..1", "What the sale shows of the lender (assumption).", ge=0, le=1)
    buyer_weight: float = P(0.3, "0..1", "Salience of the sale (assumption).", ge=0, le=1)


class DebtSale(Tactic):
    name = "debt_sale"
    doc = "Sale of charged-off debt to a debt buyer."
    Params = DebtSaleParams
    rank = 85
    counters = {
        "debts_sold": "charged-off debts sold to the buyer in the window",
        "debt_sold_amount": "amount owed on the debts sold in the window (CU)",
        "paid_to_buyer": "money borrowers paid the debt buyer in the window (CU)",
    }
    state = {"debt_sold": (np.bool_, False), "charge_off_day": (np.int32, -1)}

    def recover(self, t) -> None:
        m, p = self.model, self.p
        ppl, books = m.people, m.lender.books
        new = ((ppl.co_balance > 0.0) & (ppl.charge_off_day < 0)).nonzero()[0]
        ppl.charge_off_day[new] = t  # charge-off ran earlier today (step 6)
        wait = max(p.dpd - m.params.loans.charge_off_dpd, 0)
        sell = ((ppl.co_balance > 0.0) & ~ppl.debt_sold & (ppl.charge_off_day >= 0)
                & (t - ppl.charge_off_day >= wait)).nonzero()[0]
        if len(sell):
            owed = ppl.co_balance[sell]
            ppl.debt_sold[sell] = True
            books.debt_sale_proceeds += float(p.price * owed.sum())
            self.counts["debts_sold"] += len(sell)
            self.counts["debt_sold_amount"] += float(owed.sum())
            m.experience(sell, stress=p.buyer_stress, quality=p.buyer_quality, weight=p.buyer_weight)
        # the buyer collects on pay day
        group = m.pay_groups[t % CYCLE]
        idx = group[ppl.debt_sold[group] & (ppl.co_balance[group] > 0.0)]
        idx = idx[self.draw.uniform(idx, t) < p.buyer_pay_prob]
        if len(idx):
            spending.settle(m, idx, t)
            amount = np.minimum(m.params.collection.recovery.pay_share * ppl.cash[idx], ppl.co_balance[idx])
            ppl.cash[idx] -= amount
            ppl.co_balance[idx] -= amount
            self.counts["paid_to_buyer"] += float(amount.sum())


TACTIC = DebtSale
