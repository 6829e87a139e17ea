"""Early contact: borrowers who foresee a shortfall call the lender before they fall behind.

``horizon_days`` before a due date, a current borrower projects their cash to the due date (pay due
before it, daily spending until then). If it will not cover the instalment, they may call: rarely
without an advertised hardship channel (``base_prob``), more often with one (``channel_prob``), more
so when literate and trusting, less so the more they avoid the lender (stress, recent contacts). A call makes the loan salient and,
where the strategy allows, brings a plan offer (the tactics' ``inbound`` hook, :mod:`sim.tactics`).
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE
from . import conversations, spending


def foresee_shortfall(model, idx, t, horizon) -> np.ndarray:
    """Will cash on the due date (``t + horizon``) fall short of the instalment plus food until pay?"""
    ppl = model.people
    spending.settle(model, idx, t)
    days_to_pay = (ppl.pay_offset[idx] - t) % CYCLE  # 0: paid today, already in cash
    paid_before = (days_to_pay >= 1) & (days_to_pay <= horizon)
    expected_pay = np.where(paid_before, ppl.income[idx] * np.where(ppl.employed[idx], 1.0, ppl.benefit[idx]), 0.0)
    burn = (ppl.daily_subsistence[idx] + ppl.daily_habit[idx] + ppl.daily_other[idx]) * horizon
    at_due = ppl.cash[idx] + ppl.reserved[idx] + expected_pay - burn
    due_to_pay = (ppl.pay_offset[idx] - (t + horizon)) % CYCLE
    food = ppl.daily_subsistence[idx] * np.where(due_to_pay == 0, CYCLE, due_to_pay)
    return at_due < ppl.instalment[idx] + food


def step(model, t) -> None:
    """Step 5 of the day."""
    ppl, ec = model.people, model.params.early_contact
    h = ec.horizon_days
    idx = (ppl.next_due == t + h).nonzero()[0]
    idx = idx[ppl.amount_due[idx] <= 0.0]
    u = model.streams.person.early_contact.uniform(idx, t)
    base = ec.channel_prob if ec.channel else ec.base_prob
    prob = base * (ppl.literacy[idx] + ppl.trust[idx]) * (1.0 - conversations.avoidance(model, idx, t))
    spending.settle(model, idx, t)  # everyone foreseeing is settled, as foresee_shortfall would
    maybe = idx[u < prob]  # only they can call: project the cash of those alone (settling them again is a no-op)
    callers = maybe[foresee_shortfall(model, maybe, t, h)]
    if len(callers) == 0:
        return
    model.lender.books.early_contacts += len(callers)
    ppl.restore_attention(callers, t, 1.0, model.params.repayment.attention_halflife)
    model.tactics.run("inbound", callers, t)
