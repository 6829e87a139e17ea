"""The contact pipeline: every outbound contact the lender makes goes through :func:`contact`.

For a channel (an SMS, a phone call, a home visit, ...) and the people a tactic wants to contact that
day, in this order:

1. **regulation** (:mod:`sim.regulation`): rules that are in force remove the contacts they forbid
   (a call cap, a quiet period after a conversation, a ban on visits); rules that are not in force
   count the contacts that would have breached them;
2. **capacity**: where a channel has a daily capacity (calls, visits), the contacts go in priority
   order: the key the tactic gives (most overdue first, longest waiting first), unless an active
   prioritising tactic supplies its own (``risk_based``);
3. **cost** and counts, per attempt;
4. **reach**: a message reaches everyone it is sent to and can only remind
   (:func:`sim.mechanisms.conversations.message`). A call is answered, and a visit finds the borrower,
   with the channel's probability, less the borrower's avoidance of the lender; an unanswered call is a
   message (a missed call and a voicemail remind);
5. **a conversation** restores attention, adds the channel's pressure and stress, shows the borrower
   something of the lender (trust), may end in a complaint, and goes on in :func:`converse`: the
   active tactics make their offers (a plan, a settlement), the borrower may raise money from family
   and friends, and the tactics ask for what they ask (a promise to pay).

A :class:`Channel` holds what a channel does; the tactic that owns the channel builds it from its
parameters (:meth:`sim.tactics.Tactic.channels`). A channel staffed by collectors (``team``: call
agents, field collectors; :mod:`sim.collectors`) deals the day's contacts to them, and each
conversation takes the tone and skill of its collector: what the channel does at the strategy's mean
harshness, moved by ``per_harshness`` times the collector's difference from it, and the collector's
skill shifting the log-odds of a diagnosis of hardship and of a promise to pay (:func:`persuaded`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .. import collectors, regulation
from ..mechanisms import conversations

EMPTY = np.zeros(0, np.int64)


@dataclass(frozen=True)
class Channel:
    """What one contact channel does."""

    name: str
    reach: Literal["message", "call", "visit"]  # a message always arrives; a call is answered; a visit finds
    cost: float  # CU per attempt
    count: str  # the lender's Books field counting attempts
    cost_line: str  # the Books field its cost goes to
    reached: str | None = None  # the Books field counting conversations on this channel
    reach_prob: float = 1.0  # answered / found, for a borrower who does not avoid the lender
    avoidance_effect: float = 1.0  # how much avoidance lowers reach
    needs_address: bool = False  # a visit needs a verifiable address
    stream: str = "contact"  # the per-person stream of the reach draw, and its slot
    slot: int = conversations.SLOT_ANSWER
    message_attention: float = 0.0  # what a message (or an unanswered call) restores
    message_stress: float = 0.0
    attention: float = 0.0  # what a conversation restores
    pressure: float = 0.0  # pressure a conversation adds
    stress: float = 0.0  # stress of a conversation
    quality: float = 0.5  # what a conversation shows of the lender (trust), and its salience
    weight: float = 0.0
    diagnose: float = 0.0  # chance a conversation learns that a borrower in hardship is in hardship
    complaint: float = 0.0  # chance a conversation ends in a complaint
    team: collectors.Kind | None = None  # the collectors who make these contacts (sim.collectors)
    harshness: float = 0.0  # the mean harshness the values above are for
    per_harshness: dict[str, float] = field(default_factory=dict)  # d(value)/d(harshness), by field name


@dataclass
class Talk:
    """Today's conversations on one channel, sorted by person: what their collector brings."""

    idx: np.ndarray
    skill: np.ndarray  # the collector's skill (logit)
    diagnose: np.ndarray  # chance this conversation learns of hardship

    def lookup(self, idx: np.ndarray) -> np.ndarray:
        return np.minimum(self.idx.searchsorted(idx), len(self.idx) - 1)


@dataclass
class Contacted:
    attempted: np.ndarray  # the contacts made (after regulation and capacity)
    talked: np.ndarray  # those that became conversations
    harshness: np.ndarray | None = None  # of the collector of each conversation (staffed channels)


def contact(model, t: int, ch: Channel, idx: np.ndarray, *, capacity: int | None = None,
            key: np.ndarray | None = None) -> Contacted:
    """Contact ``idx`` on channel ``ch`` (see the module docstring for the order)."""
    allowed, breaches = regulation.admit(model, t, ch, idx)
    take = None if allowed is None else allowed.nonzero()[0]  # positions in idx (None: all, in order)
    if key is not None:
        if take is None:
            take = np.arange(len(idx))
        own = model.tactics.priority(idx[take], t)
        take = take[(key[take] if own is None else own).argsort(kind="stable")]
    if capacity is not None and capacity < len(idx if take is None else take):
        take = (np.arange(len(idx)) if take is None else take)[:capacity]
    if take is not None:
        idx = idx[take]
        breaches = {rule: mask[take] for rule, mask in breaches.items()}
    if len(idx) == 0:
        return Contacted(EMPTY, EMPTY)
    books = model.lender.books
    setattr(books, ch.count, getattr(books, ch.count) + len(idx))
    setattr(books, ch.cost_line, getattr(books, ch.cost_line) + ch.cost * len(idx))
    regulation.record(model, t, ch, idx, breaches)
    if ch.reach == "message":
        conversations.message(model, idx, t, attention=ch.message_attention, stress=ch.message_stress)
        _log(model, t, ch, idx, EMPTY)
        return Contacted(idx, EMPTY)
    team = collectors.team(model, ch.team) if ch.team else None
    owner = team.assign(idx, t) if team is not None else None
    draw = getattr(model.streams.person, ch.stream)
    u = draw.uniform(idx, t, ch.slot)
    complains = ch.complaint > 0.0 or ch.per_harshness.get("complaint", 0.0) > 0.0
    u_complain = draw.uniform(idx, t, ch.slot + 1) if complains else None
    reachable = 1.0 - ch.avoidance_effect * conversations.avoidance(model, idx, t)
    reached = u < ch.reach_prob * reachable
    if ch.needs_address:
        reached &= model.people.address_ok[idx]
    if ch.reach == "call":
        unanswered = idx[~reached]
        regulation.missed(model, t, ch, unanswered)
        conversations.message(model, unanswered, t, attention=ch.message_attention, stress=ch.message_stress)
    talk = idx[reached]
    _log(model, t, ch, idx, talk)
    if ch.reached:
        setattr(books, ch.reached, getattr(books, ch.reached) + len(talk))
    regulation.conversed(model, t, ch, talk)
    fx = _by_collector(ch, None if owner is None else owner[reached], team)
    _conversation_effects(model, talk, t, fx)
    if u_complain is not None:
        books.complaints += int((u_complain[reached] < fx["complaint"]).sum())
    if owner is not None and len(talk):
        order = talk.argsort(kind="stable")
        model.talk = Talk(talk[order], _per_row(fx["skill"], talk)[order], _per_row(fx["diagnose"], talk)[order])
    converse(model, talk, t, ch)
    model.talk = None
    harsh = None if owner is None else team.harshness[owner[reached]]
    return Contacted(idx, talk, harsh)


def _per_row(value, rows: np.ndarray) -> np.ndarray:
    """``value`` (one number, or one per row) as an array with one value per row."""
    if isinstance(value, np.ndarray) and value.shape == rows.shape:
        return value
    return np.broadcast_to(value, rows.shape)


def _log(model, t, ch, attempted, talked) -> None:
    if model.contact_log is not None:
        model.contact_log.append((t, ch.name, attempted.copy(), talked.copy()))


_EFFECTS = ("attention", "pressure", "stress", "quality", "weight", "diagnose", "complaint")
_PROBABILITIES = ("quality", "weight", "diagnose", "complaint")


def _by_collector(ch: Channel, owner: np.ndarray | None, team) -> dict:
    """What each conversation does: the channel's values, or (staffed channels: ``team``, and
    ``owner``, the collector of each conversation) its collector's."""
    fx = {name: getattr(ch, name) for name in _EFFECTS}
    fx["skill"] = 0.0
    if owner is None:
        return fx
    dh = team.harshness[owner] - ch.harshness
    for name, slope in ch.per_harshness.items():
        value = np.maximum(fx[name] + slope * dh, 0.0)
        fx[name] = np.minimum(value, 1.0) if name in _PROBABILITIES else value
    fx["skill"] = skill = team.skill[owner]
    fx["diagnose"] = _shift(fx["diagnose"], skill)
    return fx


def _shift(p, logit):
    """The probability ``p`` with its log-odds moved by ``logit`` (exact at p = 0, p = 1 and logit = 0)."""
    odds = np.exp(logit)
    return p * odds / (1.0 - p + p * odds)


def _conversation_effects(model, idx, t, fx: dict) -> None:
    ppl, rp = model.people, model.params.repayment
    ppl.restore_attention(idx, t, fx["attention"], rp.attention_halflife)
    ppl.add_pressure(idx, t, fx["pressure"], rp.pressure_halflife)
    conversations.contacted(model, idx, t, stress=fx["stress"])
    model.experience(idx, quality=fx["quality"], weight=fx["weight"])


def persuaded(model, idx: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """``prob`` (e.g. the chance of a promise) moved by the skill of the collector talking to ``idx``."""
    talk = getattr(model, "talk", None)
    if talk is None or len(idx) == 0:
        return prob
    return _shift(prob, talk.skill[talk.lookup(idx)])


def converse(model, idx: np.ndarray, t: int, ch: Channel) -> None:
    """A conversation: the tactics' offers, the borrower's own response, the tactics' asks."""
    if len(idx) == 0:
        return
    model.lender.books.conversations += len(idx)
    model.tactics.run("offer", idx, t, ch)
    conversations.family(model, idx, t)
    model.tactics.run("ask", idx, t, ch)


def diagnosed(model, idx: np.ndarray, t: int, ch: Channel) -> np.ndarray:
    """Those in ``idx`` whose hardship the conversation recognises."""
    u = model.streams.person.contact.uniform(idx, t, conversations.SLOT_DIAGNOSE)
    talk = getattr(model, "talk", None)
    chance = ch.diagnose if talk is None or len(idx) == 0 else talk.diagnose[talk.lookup(idx)]
    return idx[(model.people.hardship_until[idx] >= t) & (u < chance)]
