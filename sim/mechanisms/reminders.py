"""The reminder ladder: SMS and phone contacts on set days around the due date.

Each step of ``collection.reminders.schedule`` names a day relative to the due date and a channel.
Negative days are reminders before the due date, sent to borrowers who are current. Days from 1 on
go to loans that many days past due, and repeat every 30 days while the loan stays behind. SMS are
unlimited; phone calls are limited by the call centre's daily capacity, most overdue first.

What a contact does (nothing here multiplies an outcome): it restores the borrower's attention to
the loan, a call adds some pressure, both add a little stress, a call costs a little trust, and the
borrower reconsiders paying the next day.
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE
from . import plans


def targets(model, day: int, t: int) -> np.ndarray:
    ppl = model.people
    if day < 0:
        idx = np.flatnonzero(ppl.next_due == t - day)
        return idx[ppl.amount_due[idx] <= 0.0]
    late = model.prev_delinquent
    d = ppl.dpd[late]
    return late[(d >= day) & ((d - day) % CYCLE == 0)]


def step(model, t) -> None:
    rem = model.params.collection.reminders
    if not rem.enabled:
        return
    ppl, books, prm = model.people, model.lender.books, model.params
    sms, calls = [], []
    for s in rem.schedule:
        (sms if s.channel == "sms" else calls).append(targets(model, s.day, t))
    if calls:  # the call centre's capacity goes to the most overdue first
        idx = np.concatenate(calls)
        calls = [idx[np.argsort(-ppl.dpd[idx], kind="stable")][: model.lender.call_capacity]]
    halflife = prm.repayment.attention_halflife
    if sms:
        idx = np.concatenate(sms)
        ppl.restore_attention(idx, t, rem.sms_attention, halflife)
        books.sms += len(idx)
        books.sms_cost += rem.sms_cost * len(idx)
        contacted(model, idx, stress=prm.stress.sms, trust=0.0)
    if calls:
        idx = np.concatenate(calls)
        ppl.restore_attention(idx, t, rem.phone_attention, halflife)
        ppl.add_pressure(idx, t, rem.phone_pressure, prm.repayment.pressure_halflife)
        books.calls += len(idx)
        books.phone_cost += rem.phone_cost * len(idx)
        contacted(model, idx, stress=prm.stress.phone, trust=prm.trust.phone)
        if prm.collection.plans.on_call:
            plans.offer(model, idx, t)


def contacted(model, idx, *, stress: float, trust: float) -> None:
    """Book-keeping every contact shares: counts, feelings, and a reason to reconsider tomorrow."""
    model.people.contacts[idx] += 1
    model.lender.books.dunning_contacts += int(np.count_nonzero(model.people.dpd[idx] > 0))
    model.experience(idx, stress=stress, trust=trust)
    model.prompt(idx)
