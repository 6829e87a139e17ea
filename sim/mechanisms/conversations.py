"""Contacts: one-way messages remind; conversations can learn why, obtain a promise, and offer help.

A **message** (an SMS, or a call nobody answers) restores attention to the loan and adds a little
stress. A borrower who is behind reconsiders paying the next day with probability
``repayment.reconsider_message``; otherwise the message works only through the attention it restored,
at the borrower's next decision.

A **conversation** (an answered call, a visit that meets the borrower) can do more:

* learn the reason: a borrower in hardship is recognised as such with a probability set by the
  channel and the collector's tone; where the strategy offers plans on that channel, they are
  offered one (:mod:`sim.mechanisms.plans`);
* a borrower short of cash may, under the pressure they feel, **raise money from family and
  friends** (probability ``repayment.family_help`` times felt pressure; at most
  ``repayment.family_help_months`` of income, never more than the shortfall): collection reaches
  people who cannot pay out of their own budget through their network, not through their food money;
* obtain a **promise to pay** by a date (``collection.promises.days`` ahead): a borrower still behind
  promises with their current willingness to pay. On the promised day they decide again, with the
  commitment of the promise added to their willingness. A promise is kept if they have paid at least
  the promised amount (one instalment, or all they owe if less) since making it; a broken promise
  escalates: the collector's pressure rises (``promises.broken_pressure``) and, where
  ``visits.on_broken_promise``, the loan joins the visit queue whatever its DPD.

Whether a call is answered, and whether a visiting collector finds the borrower at home, depends on
**avoidance**: ``1 - exp(-(avoid_stress * stress + avoid_contacts * recent contacts))``, which grows
with stress and with the number of recent contacts (a decaying count, ``contact_halflife``).
"""

from __future__ import annotations

import numpy as np

from . import plans, spending
from .repayment import ability, budget_month, willingness

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


def converse(model, idx, t, *, diagnose_prob: float, offer_plans: bool) -> None:
    """A conversation with the borrowers in ``idx``: learn the reason, offer a plan, ask for a promise."""
    if len(idx) == 0:
        return
    ppl, pr, books = model.people, model.params.collection.promises, model.lender.books
    books.conversations += len(idx)
    if offer_plans:
        u = model.streams.person.contact.uniform(idx, t, SLOT_DIAGNOSE)
        diagnosed = idx[(ppl.hardship_until[idx] >= t) & (u < diagnose_prob)]
        plans.offer(model, diagnosed, t)
    family(model, idx, t)
    if not pr.enabled:
        return
    ask = idx[(ppl.amount_due[idx] > 0.0) & (ppl.promise_day[idx] < t)]
    u = model.streams.person.promise.uniform_keyed(ask, budget_month(model, ask, t))
    promise = ask[u < willingness(model, ask, t)]
    day = t + pr.days
    ppl.promise_day[promise] = day
    ppl.promise_amount[promise] = np.minimum(ppl.amount_due[promise] + ppl.fees[promise], ppl.instalment[promise])
    ppl.promise_base[promise] = ppl.paid_total[promise]
    ppl.promises[promise] += 1
    books.promises += len(promise)
    model.promises_due.setdefault(day, []).append(promise)


def family(model, idx, t) -> None:
    """Borrowers short of what they owe may raise the difference from family and friends."""
    ppl, rp = model.people, model.params.repayment
    if rp.family_help <= 0.0:
        return
    idx = idx[ppl.amount_due[idx] > 0.0]
    spending.settle(model, idx, t)
    short = ppl.amount_due[idx] + ppl.fees[idx] - ability(model, idx, t)
    felt = ppl.pressure_now(idx, t, rp.pressure_halflife)
    u = model.streams.person.contact.uniform(idx, t, SLOT_FAMILY)
    helped = (short > 0.0) & (u < rp.family_help * felt)
    idx, short = idx[helped], short[helped]
    amount = np.minimum(short, rp.family_help_months * ppl.income[idx])
    ppl.reserved[idx] += amount  # raised for the lender: set aside, not free to spend
    ppl.family_help_total[idx] += amount
    model.lender.books.family_help += float(amount.sum())


def promised_today(model, t) -> np.ndarray:
    """Borrowers whose promise falls due today (their promise still stands)."""
    due = model.promises_due.get(t)
    if not due:
        return np.zeros(0, np.int64)
    idx = np.unique(np.concatenate(due))
    return idx[model.people.promise_day[idx] == t]


def follow_up(model, t) -> None:
    """After today's payments: promises due today are kept or broken; broken ones escalate."""
    due = model.promised_today
    model.promises_due.pop(t, None)
    if len(due) == 0:
        return
    ppl, prm, books = model.people, model.params, model.lender.books
    paid = ppl.paid_total[due] - ppl.promise_base[due]
    kept = (paid >= ppl.promise_amount[due] - 1e-6) | (ppl.amount_due[due] <= 0.0)
    broken = due[~kept]
    ppl.promise_day[due] = -1
    books.promises_kept += int(kept.sum())
    books.promises_broken += len(broken)
    ppl.promises_broken[broken] += 1
    ppl.add_pressure(broken, t, prm.collection.promises.broken_pressure, prm.repayment.pressure_halflife)
    vis = prm.collection.visits
    if vis.enabled and vis.on_broken_promise:
        join = broken[ppl.queued_since[broken] < 0]
        ppl.queued_since[join] = t
