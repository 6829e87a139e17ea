"""Repayment decisions: ability times willingness.

A borrower reconsiders the loan on the day an instalment falls due, on pay day while anything is
owed, and on the day after the lender contacted them. Then:

* **ability** is cash (including money set aside) minus what subsistence needs until the next pay;
* **willingness** is a logistic function of attention to the loan (decays; contacts restore it),
  financial literacy, understanding of what lateness costs, present bias, stress (avoidance),
  trust in the lender and recent collection pressure.

A willing borrower pays what they can of the arrears and fees; an unwilling one pays nothing.
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE
from . import loans, spending


def willingness(model, idx, t) -> np.ndarray:
    """Probability of paying, for borrowers who could."""
    ppl, rp, pop = model.people, model.params.repayment, model.params.population
    z = (
        rp.intercept
        + rp.attention_weight * (ppl.attention_now(idx, t, rp.attention_halflife) - 0.5)
        + rp.literacy_weight * (ppl.literacy[idx] - pop.literacy_mean)
        + rp.understanding_weight * (ppl.understanding[idx] - (pop.literacy_mean - pop.understanding_gap))
        - rp.present_bias_weight * (ppl.present_bias[idx] - pop.present_bias_mean)
        - rp.stress_weight * (ppl.stress[idx] - model.params.stress.baseline)
        + rp.trust_weight * (ppl.trust[idx] - model.params.trust.initial_mean)
        + rp.pressure_weight * ppl.pressure_now(idx, t, rp.pressure_halflife)
    )
    return 1.0 / (1.0 + np.exp(-z))


def ability(model, idx, t) -> np.ndarray:
    """Cash that can go to the loan without going hungry before the next pay day.

    Under collection pressure people pay out of money meant for necessities: the food money kept
    back shrinks by ``pressure_squeeze`` times the felt pressure.
    """
    ppl, rp = model.people, model.params.repayment
    days_to_pay = (ppl.pay_offset[idx] - t) % CYCLE
    days_to_pay = np.where(days_to_pay == 0, CYCLE, days_to_pay)
    keep = 1.0 - rp.pressure_squeeze * ppl.pressure_now(idx, t, rp.pressure_halflife)
    return np.maximum(ppl.cash[idx] + ppl.reserved[idx] - keep * ppl.daily_subsistence[idx] * days_to_pay, 0.0)


def deciders(model, t) -> np.ndarray:
    ppl = model.people
    pay_group = model.pay_groups[t % CYCLE]
    groups = [model.billed_today, pay_group[ppl.has_loan[pay_group]], model.prompted_yesterday]
    idx = np.sort(np.concatenate(groups))
    if len(idx) == 0:
        return idx
    idx = idx[np.concatenate(([True], idx[1:] != idx[:-1]))]  # unique (cheaper than np.unique here)
    return idx[(ppl.amount_due[idx] + ppl.fees[idx]) > 0.0]


def step(model, t) -> np.ndarray:
    """Step 4 of the day. Returns the rows that paid something."""
    ppl = model.people
    idx = deciders(model, t)
    spending.settle(model, idx, t)
    u = model.streams.repayment.random(len(idx))
    willing = u < willingness(model, idx, t)
    owed = ppl.amount_due[idx] + ppl.fees[idx]
    amount = np.where(willing, np.minimum(ability(model, idx, t), owed), 0.0)
    payers = amount > 0.0
    idx = idx[payers]
    loans.pay(model, idx, amount[payers])
    return idx
