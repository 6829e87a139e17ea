"""Repayment decisions: ability times willingness, taken on a few occasions and kept in between.

A borrower who owes something decides whether to pay on the day an instalment falls due, on pay day,
on the day they promised to pay, and, with probability ``reconsider_message``, on the day after a
one-way message (SMS, unanswered call). Between those occasions the decision stands: someone who
decided not to pay does not pay because a message arrived, unless it made them reconsider. A
conversation (an answered call, a visit that meets the borrower) acts through the promise it may
obtain (:mod:`sim.mechanisms.conversations`), not through an extra decision.

At a decision:

* **ability** is cash (including money set aside) minus what must be kept back until the next pay
  day: food, and for people who pay other creditors first, their instalments too. Collection
  pressure re-orders priorities: it redirects a share ``pressure_priority`` of the money kept for
  other creditors to this lender (never the food money);
* **willingness** is a logistic function of attention to the loan (decays; contacts restore it),
  financial literacy, understanding of what lateness costs, present bias, stress (avoidance),
  trust in the lender, recent collection pressure, a promise falling due today, what the active
  tactics put at stake (a credit-bureau report, :mod:`sim.tactics.bureau`), and a lasting
  personal effect (``willingness_sd``): people differ, and the same people stay late;
* a willing borrower who can pay everything owed does; one who cannot may **stop paying and hope
  things improve** (probability ``sigmoid(hope_intercept + hope_stress_weight * stress)``), or else
  pays what they can.

A borrower's disposition is one draw per **budget month** (the 30 days from one of their pay days to
the next): every decision in that month compares the same uniform number with the willingness of the
moment. So reconsidering changes the outcome only if something changed the borrower's willingness
(attention restored by a reminder, pressure, a promise), never by a fresh roll of the dice; and a
strategy that moves a decision by a day does not give the borrower a new draw. The draws come from a
per-person stream keyed by person and budget month (common random numbers per person).
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE, HOPED, PAID_ALL, PAID_PART, UNABLE, UNWILLING
from . import loans, spending


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def willingness(model, idx, t) -> np.ndarray:
    """Probability of paying, for borrowers who could."""
    ppl, prm = model.people, model.params
    rp, pop = prm.repayment, prm.population
    z = (
        rp.intercept
        + ppl.will_re[idx]
        + rp.attention_weight * (ppl.attention_now(idx, t, rp.attention_halflife) - 0.5)
        + rp.literacy_weight * (ppl.literacy[idx] - pop.literacy_mean)
        + rp.understanding_weight * (ppl.understanding[idx] - (pop.literacy_mean - pop.understanding_gap))
        - rp.present_bias_weight * (ppl.present_bias[idx] - pop.present_bias_mean)
        - rp.stress_weight * (ppl.stress[idx] - prm.stress.baseline)
        + rp.trust_weight * (ppl.trust[idx] - prm.trust.prior)
        + rp.pressure_weight * ppl.pressure_now(idx, t, rp.pressure_halflife)
        + prm.collection.promises.commitment * (ppl.promise_day[idx] == t)
        + model.tactics.willingness(idx, t)  # what active tactics put at stake (bureau reporting); 0 if none
    )
    return _sigmoid(z)


def ability(model, idx, t) -> np.ndarray:
    """Cash that can go to the loan without going hungry, or (for those who put them first) without
    missing other creditors' instalments, before the next pay day."""
    ppl, rp = model.people, model.params.repayment
    days_to_pay = (ppl.pay_offset[idx] - t) % CYCLE
    days_to_pay = np.where(days_to_pay == 0, CYCLE, days_to_pay)
    redirect = rp.pressure_priority * ppl.pressure_now(idx, t, rp.pressure_halflife)
    other = np.where(ppl.other_first[idx], ppl.daily_other[idx] * (1.0 - redirect), 0.0)
    keep = (ppl.daily_subsistence[idx] + other) * days_to_pay
    return np.maximum(ppl.cash[idx] + ppl.reserved[idx] - keep, 0.0)


def budget_month(model, idx, t) -> np.ndarray:
    """The number of the person's budget month on day ``t`` (it starts on their pay day)."""
    return (t - model.people.pay_offset[idx]) // CYCLE


def deciders(model, t) -> np.ndarray:
    ppl = model.people
    pay_group = model.pay_groups[t % CYCLE]
    groups = [model.billed_today, pay_group[ppl.has_loan[pay_group]], model.prompted_yesterday, model.promised_today]
    idx = np.sort(np.concatenate(groups), kind="stable")  # merges the sorted groups (timsort): much faster than quicksort
    if len(idx) == 0:
        return idx
    idx = idx[np.concatenate(([True], idx[1:] != idx[:-1]))]  # unique (cheaper than np.unique here)
    return idx[(ppl.amount_due[idx] + ppl.fees[idx]) > 0.0]


def hope(model, idx) -> np.ndarray:
    """Chance that a borrower who cannot pay everything pays nothing and hopes things improve."""
    rp = model.params.repayment
    return _sigmoid(rp.hope_intercept + rp.hope_stress_weight * model.people.stress[idx])


def step(model, t) -> np.ndarray:
    """Step 4 of the day. Returns the rows that paid something."""
    ppl = model.people
    idx = deciders(model, t)
    spending.settle(model, idx, t)
    draw = model.streams.person.decision
    month = budget_month(model, idx, t)
    willing = draw.uniform_keyed(idx, month, 0) < willingness(model, idx, t)
    owed = ppl.amount_due[idx] + ppl.fees[idx]
    able = ability(model, idx, t)
    short = able < owed
    hoping = short & (draw.uniform_keyed(idx, month, 1) < hope(model, idx))
    amount = np.where(willing & ~hoping, np.minimum(able, owed), 0.0)
    # the first that applies of: unable, unwilling, hoping, paid part; else paid all
    decision = np.full(len(idx), PAID_ALL, np.int8)
    for applies, code in ((short, PAID_PART), (hoping, HOPED), (~willing, UNWILLING), (able <= 0.0, UNABLE)):
        decision[applies] = code
    ppl.last_decision[idx] = decision
    payers = amount > 0.0
    loans.pay(model, idx[payers], amount[payers])
    return idx[payers]
