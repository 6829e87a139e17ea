"""The borrower's side of a contact: one-way messages remind; in conversations people may find help.

The lender's side (who is contacted, on which channel, what is offered and asked) is the contact
pipeline, :mod:`sim.tactics.pipeline`; this module is what a contact does to the person.

A **message** (an SMS, or a call nobody answers) restores attention to the loan and adds a little
stress. A borrower who is behind reconsiders paying the next day with probability
``repayment.reconsider_message``; otherwise the message works only through the attention it restored,
at the borrower's next decision.

A **conversation** (an answered call, a visit that meets the borrower) can do more:

* learn the reason: a borrower in hardship is recognised as such with a probability set by the
  channel and the collector's tone; where the strategy offers plans on that channel, they are
  offered one (:mod:`sim.tactics.plans`);
* a borrower short of cash may, under the pressure they feel, **raise money from family and
  friends** (probability ``repayment.family_help`` times felt pressure; at most
  ``repayment.family_help_months`` of income, never more than the shortfall): collection reaches
  people who cannot pay out of their own budget through their network, not through their food money;
* obtain a **promise to pay** by a date (:mod:`sim.tactics.promises`).

Whether a call is answered, and whether a visiting collector finds the borrower at home, depends on
**avoidance**: ``1 - exp(-(avoid_stress * stress + avoid_contacts * recent contacts))``, which grows
with stress and with the number of recent contacts (a decaying count, ``contact_halflife``).
"""

from __future__ import annotations

import numpy as np

from . import spending
from .repayment import ability

SLOT_RECONSIDER, SLOT_ANSWER, SLOT_DIAGNOSE, SLOT_FAMILY = 0, 1, 2, 3


def avoidance(model, idx, t) -> np.ndarray:
    """How much each borrower avoids the lender (0..1)."""
    ppl, rp = model.people, model.params.repayment
    load = ppl.contact_load_now(idx, t, rp.contact_halflife)
    return 1.0 - np.exp(-(rp.avoid_stress * ppl.stress[idx] + rp.avoid_contacts * load))


def contacted(model, idx, t, *, stress: float) -> None:
    """Book-keeping every contact that reaches a person shares: counts, stress, recent contacts."""
    ppl = model.people
    ppl.contacts[idx] += 1
    ppl.add_contact(idx, t, model.params.repayment.contact_halflife)
    model.lender.books.dunning_contacts += int(np.count_nonzero(ppl.dpd[idx] > 0))
    model.experience(idx, stress=stress)


def message(model, idx, t, *, attention: float, stress: float) -> None:
    """A one-way message: it can only remind."""
    if len(idx) == 0:
        return
    ppl, rp = model.people, model.params.repayment
    ppl.restore_attention(idx, t, attention, rp.attention_halflife)
    contacted(model, idx, t, stress=stress)
    behind = idx[ppl.amount_due[idx] > 0.0]
    u = model.streams.person.contact.uniform(behind, t, SLOT_RECONSIDER)
    model.prompt(behind[u < rp.reconsider_message])


def family(model, idx, t) -> None:
    """Borrowers short of what they owe may raise the difference from family and friends."""
    ppl, rp = model.people, model.params.repayment
    if rp.family_help <= 0.0:
        return
    due = ppl.amount_due[idx]
    owing = due > 0.0
    idx = idx[owing]
    spending.settle(model, idx, t)
    short = due[owing] + ppl.fees[idx] - ability(model, idx, t)
    felt = ppl.pressure_now(idx, t, rp.pressure_halflife)
    u = model.streams.person.contact.uniform(idx, t, SLOT_FAMILY)
    helped = (short > 0.0) & (u < rp.family_help * felt)
    idx, short = idx[helped], short[helped]
    amount = np.minimum(short, rp.family_help_months * ppl.income[idx])
    ppl.reserved[idx] += amount  # raised for the lender: set aside, not free to spend
    ppl.family_help_total[idx] += amount
    model.lender.books.family_help += float(amount.sum())
