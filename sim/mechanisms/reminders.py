"""The reminder ladder: SMS and phone contacts on set days around the due date.

Each step of ``collection.reminders.schedule`` names a day relative to the due date and a channel.
Negative days are reminders before the due date, sent to borrowers who are current. Days from 1 on
go to loans that many days past due, and repeat every 30 days while the loan stays behind. SMS are
unlimited; phone calls are limited by the call centre's daily capacity, most overdue first.

What a contact does (nothing here multiplies an outcome): an SMS, and a call nobody answers, is a
message that can only remind (:func:`sim.mechanisms.conversations.message`). An answered call is a
conversation: it restores attention, adds some pressure and stress, shows the borrower something of
the lender (trust), and may learn the reason, offer a plan where the strategy allows and obtain a
promise to pay (:func:`sim.mechanisms.conversations.converse`). Whether a call is answered depends on
``answer_rate`` and the borrower's avoidance.
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE
from . import conversations


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
    if sms:
        idx = np.concatenate(sms)
        books.sms += len(idx)
        books.sms_cost += rem.sms_cost * len(idx)
        conversations.message(model, idx, t, attention=rem.sms_attention, stress=prm.stress.sms)
    if calls:
        idx = np.concatenate(calls)
        books.calls += len(idx)
        books.phone_cost += rem.phone_cost * len(idx)
        u = model.streams.person.contact.uniform(idx, t, conversations.SLOT_ANSWER)
        answered = u < rem.answer_rate * (1.0 - conversations.avoidance(model, idx, t))
        conversations.message(model, idx[~answered], t, attention=rem.sms_attention, stress=prm.stress.sms)
        talk = idx[answered]
        books.calls_answered += len(talk)
        ppl.restore_attention(talk, t, rem.phone_attention, prm.repayment.attention_halflife)
        ppl.add_pressure(talk, t, rem.phone_pressure, prm.repayment.pressure_halflife)
        conversations.contacted(model, talk, t, stress=prm.stress.phone)
        model.experience(talk, quality=prm.trust.call_quality, weight=prm.trust.call_weight)
        conversations.converse(model, talk, t, diagnose_prob=rem.diagnoses_hardship, offer_plans=prm.collection.plans.on_call)
