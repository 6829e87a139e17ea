"""The reminder ladder: SMS and phone contacts on set days around the due date.

Each step of ``collection.reminders.schedule`` names a day relative to the due date and a channel.
Negative days are reminders before the due date, sent to borrowers who are current. Days from 1 on
go to loans that many days past due, and repeat every 30 days while the loan stays behind; a loan
that two rungs of one channel target on the same day (days 0 and 30, say) gets one contact. SMS are
unlimited; phone calls are limited by the call centre's daily capacity, most overdue first (or by
risk, with ``risk_based``).

What a contact does (nothing here multiplies an outcome): an SMS, and a call nobody answers, is a
message that can only remind. An answered call is a conversation: it restores attention, adds some
pressure and stress, shows the borrower something of the lender (trust), and goes on with the
strategy's offers and asks (:mod:`sim.tactics.pipeline`). Whether a call is answered depends on
``answer_rate`` and the borrower's avoidance.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..paramtypes import P, Section
from ..state import CYCLE
from . import Tactic
from .pipeline import Channel, contact

ChannelName = Literal["sms", "phone"]


class ReminderStep(Section):
    day: int = P(1, "days from due date", "When the contact is made (negative: before the due date).", ge=-29, le=720)
    channel: ChannelName = P("sms", "sms|phone", "Channel of the contact.")


def _ladder() -> list[ReminderStep]:
    return [
        ReminderStep(day=-3, channel="sms"),
        ReminderStep(day=1, channel="sms"),
        ReminderStep(day=5, channel="phone"),
        ReminderStep(day=10, channel="phone"),
        ReminderStep(day=20, channel="phone"),
    ]


class Reminders(Section):
    schedule: list[ReminderStep] = Field(default_factory=_ladder, description="The ladder: a list of {day, channel}.")
    sms_attention: float = P(0.6, "0..1", "Attention an SMS restores (assumption; Cadena & Schoar 2011 effect size).", ge=0, le=1)
    phone_attention: float = P(0.8, "0..1", "Attention a phone call restores (assumption).", ge=0, le=1)
    phone_pressure: float = P(0.3, "0..1", "Pressure a phone call adds (assumption).", ge=0, le=1)
    phone_capacity: float = P(30.0, "calls/day per 1,000 people", "Phone calls the call centre can make per day.", ge=0, le=1_000)
    answer_rate: float = P(0.55, "probability", "Chance a call is answered by a borrower who does not avoid the lender: a conversation; otherwise it only reminds.", ge=0, le=1)
    diagnoses_hardship: float = P(0.5, "probability", "Chance a call conversation learns that the borrower is in hardship (when they are).", ge=0, le=1)
    sms_cost: float = P(0.1, "CU", "Cost of one SMS.", ge=0, le=1e6)
    phone_cost: float = P(3.0, "CU", "Cost of one phone call.", ge=0, le=1e6)


class ReminderLadder(Tactic):
    name = "reminders"
    doc = "SMS and phone reminder ladder."
    Params = Reminders
    rank = 10

    def channels(self) -> dict[str, Channel]:
        rem, prm = self.p, self.model.params
        message = dict(message_attention=rem.sms_attention, message_stress=prm.stress.sms)
        return {
            "sms": Channel("sms", "message", rem.sms_cost, "sms", "sms_cost", **message),
            "phone": Channel("phone", "call", rem.phone_cost, "calls", "phone_cost", reached="calls_answered",
                             reach_prob=rem.answer_rate, attention=rem.phone_attention, pressure=rem.phone_pressure,
                             stress=prm.stress.phone, quality=prm.trust.call_quality, weight=prm.trust.call_weight,
                             diagnose=rem.diagnoses_hardship, team="call", **message),
        }

    def targets(self, day: int, t: int, late_dpd: np.ndarray | None = None) -> np.ndarray:
        """Who the step of the ladder ``day`` days from the due date contacts today (``late_dpd``:
        the DPD of ``prev_delinquent``, if already gathered)."""
        m = self.model
        ppl = m.people
        if day < 0:
            idx = (ppl.next_due == t - day).nonzero()[0]
            return idx[ppl.amount_due[idx] <= 0.0]
        late = m.prev_delinquent
        d = ppl.dpd[late] if late_dpd is None else late_dpd
        return late[(d >= day) & ((d - day) % CYCLE == 0)]

    def collect(self, t: int) -> None:
        m = self.model
        sms, calls = [], []
        late_dpd = m.people.dpd[m.prev_delinquent]  # the steps after the due date share one gather
        for s in self.p.schedule:
            (sms if s.channel == "sms" else calls).append(self.targets(s.day, t, late_dpd))
        ch = self.channels()
        if sms:
            contact(m, t, ch["sms"], _once(sms))
        if calls:  # the call centre's capacity goes to the most overdue first
            idx = _once(calls)
            contact(m, t, ch["phone"], idx, capacity=m.lender.call_capacity, key=-m.people.dpd[idx])


def _once(rungs: list[np.ndarray]) -> np.ndarray:
    """The people the rungs of one channel target today, each once, in the rungs' order: two rungs
    whose days differ by a multiple of 30 (days 0 and 30, or 30 and 60) target the same loan on the
    same day, and it gets one contact, not two."""
    idx = np.concatenate(rungs)
    if len(rungs) == 1:
        return idx
    first = np.unique(idx, return_index=True)[1]
    return idx if len(first) == len(idx) else idx[np.sort(first)]


TACTIC = ReminderLadder
