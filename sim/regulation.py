"""Regulation of collection: rules that filter the lender's contacts, and their breach counts.

Every contact passes :func:`admit` in the contact pipeline (:mod:`sim.tactics.pipeline`). A rule in
force removes the contacts it forbids; a rule not in force lets them through and counts them as
breaches, so a strategy's exposure to a rule can be read before the rule exists (``breaches_*``
summary keys; zero whenever the rule is in force).

* **call cap** (``regulation.call_cap``): at most ``max_calls`` calls to one borrower in any
  ``cap_window_days`` consecutive days, and no call within ``quiet_days`` after a telephone
  conversation with them (US Regulation F, 12 CFR 1006.14(b)(2): 7 calls in 7 days; 7 days after a
  conversation). Counted per call attempt, answered or not; SMS are not calls;
* **visit ban** (``regulation.visit_ban``): no home visits;
* **visit limit** (``regulation.visit_limit``): at most ``max_visits`` visits to one borrower in
  ``visit_window_days``;
* **fee cap** (``regulation.fee_cap``): a late fee is at most ``max_late_fee_share`` of the
  instalment, and the fees a loan owes are at most ``max_fees_share`` of its principal; a fee is
  cut to what the caps leave (:func:`cap_fees`, where fees accrue in :func:`sim.mechanisms.loans.update`).
  Counted per fee charged that the caps would have cut;
* **rate cap** (``regulation.rate_cap``): no loan at a nominal annual rate above
  ``max_annual_rate``; a product priced above it is lent at the cap (:func:`cap_rate`, at
  origination). Counted per loan originated above the cap;
* **forbearance** (``regulation.forbearance``): mandatory forbearance in a declared emergency, as
  emergency moratoria in 2020. From day ``emergency_start_day`` of the measurement window for
  ``emergency_days`` days, the loans of borrowers in hardship (``hardship_until``: out of work, or
  within the months after a shock) are held still: each day their schedule moves on by a day with the
  calendar (:func:`forbear`), so no instalment falls due, their DPD does not age (nor reach charge-off)
  and no late fee is charged; the lender forgoes the interest on the delay, as with the moratorium
  tactic. Only messages may reach them: calls and visits are removed. Counted per call, visit and late
  fee it would have stopped.

The calls each borrower received recently are kept in a small ring buffer (the last ``KEEP`` call
days per person), enough to apply a cap of up to ``KEEP - 1`` calls and to report the most calls
anyone received in a week (``max_calls_7d``, saturating at ``KEEP``).
"""

from __future__ import annotations

import numpy as np

KEEP = 8  #: call days remembered per person
NEVER = -(10**6)
RULES = ("call_cap", "quiet_period", "visit_ban", "visit_limit", "fee_cap", "rate_cap", "forbearance")
#: what one breach of each rule is (the unit of its breaches_* count)
BREACH_UNIT = {"call_cap": "calls", "quiet_period": "calls", "visit_ban": "visits", "visit_limit": "visits",
               "fee_cap": "late fees", "rate_cap": "loans originated",
               "forbearance": "calls, visits and late fees"}


class History:
    """Who was contacted when: what the rules read."""

    def __init__(self, n: int):
        self.call_days = np.full((n, KEEP), NEVER, np.int32)  # ring buffer of call days
        self.call_slot = np.zeros(n, np.int8)  # where the next call day goes
        self.visit_days = np.full((n, 2), NEVER, np.int32)  # the last two visit days
        self.last_conversation = np.full(n, NEVER, np.int32)  # last answered call
        self.missed_calls = np.zeros(n, np.int16)  # unanswered calls in a row
        self.breaches = dict.fromkeys(RULES, 0)
        self.max_calls_7d = 0  # in the measurement window

    def calls_within(self, idx, t, days) -> np.ndarray:
        """Calls each of ``idx`` received in the ``days`` days before today (today excluded)."""
        return (self.call_days[idx] > t - days).sum(axis=1)  # np.count_nonzero(..., axis=1), without its wrapper


def admit(model, t, ch, idx) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Which contacts in ``idx`` the rules in force allow (a mask; None: all), and for each rule not
    in force, which contacts would break it (masks over ``idx``; counted by :func:`record` for the
    contacts actually made)."""
    allowed, breaches = _admit_contact_rules(model, t, ch, idx)
    if len(idx) == 0 or ch.reach == "message" or not in_emergency(model, t):
        return allowed, breaches
    held = model.people.hardship_until[idx] >= t
    if model.params.regulation.forbearance:
        return (~held if allowed is None else allowed & ~held), breaches
    return allowed, {**breaches, "forbearance": held}


def in_emergency(model, t) -> bool:
    """Whether a declared emergency is in force on day ``t`` (the window's clock)."""
    reg = model.params.regulation
    return 0 <= t - model.t0 - reg.emergency_start_day < reg.emergency_days


def held(model, idx, t) -> np.ndarray:
    """Which loans of ``idx`` mandatory forbearance covers today, whether the rule is in force or not."""
    if not in_emergency(model, t):
        return np.zeros(len(idx), bool)
    return model.people.hardship_until[idx] >= t


def forbear(model, t) -> None:
    """Mandatory forbearance in force: the loans it covers move on with the calendar by one day
    (their next due date and, with it, their oldest unpaid due date), so nothing falls due and DPD
    stays where it is. Called before DPD is computed, after the day's billing."""
    if not (model.params.regulation.forbearance and in_emergency(model, t)):
        return
    ppl = model.people
    idx = (ppl.has_loan & (ppl.hardship_until >= t)).nonzero()[0]
    ppl.next_due[idx] += 1


def _admit_contact_rules(model, t, ch, idx) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    reg, hist = model.params.regulation, model.contact_history
    if len(idx) == 0:
        return None, {}
    if ch.reach == "call":
        over = hist.calls_within(idx, t, reg.cap_window_days) >= reg.max_calls
        quiet = (t - hist.last_conversation[idx]) <= reg.quiet_days if reg.quiet_days else np.zeros(len(idx), bool)
        if reg.call_cap:
            return ~(over | quiet), {}
        return None, {"call_cap": over, "quiet_period": quiet & ~over}
    if ch.reach == "visit":
        if reg.visit_ban:
            return np.zeros(len(idx), bool), {}
        over = (hist.visit_days[idx] > t - reg.visit_window_days).sum(axis=1) >= reg.max_visits
        breaches = {"visit_ban": np.ones(len(idx), bool)}
        if reg.visit_limit:
            return ~over, breaches
        return None, {**breaches, "visit_limit": over}
    return None, {}


def record(model, t, ch, idx, breaches: dict[str, np.ndarray]) -> None:
    """Remember the contacts made today (after capacity), and count those that broke a rule not in force."""
    hist = model.contact_history
    for rule, mask in breaches.items():
        hist.breaches[rule] += int(np.count_nonzero(mask))
    if ch.reach == "call":
        slot = hist.call_slot[idx]
        hist.call_days[idx, slot] = t
        hist.call_slot[idx] = (slot + 1) % KEEP
        if t > model.t0 and len(idx):
            week = int(hist.calls_within(idx, t + 1, 7).max())
            hist.max_calls_7d = max(hist.max_calls_7d, week)
    elif ch.reach == "visit":
        hist.visit_days[idx, 1] = hist.visit_days[idx, 0]
        hist.visit_days[idx, 0] = t


def conversed(model, t, ch, talked) -> None:
    """After reach: a call answered starts the quiet period; unanswered calls in a row are counted."""
    if ch.reach != "call":
        return
    hist = model.contact_history
    hist.last_conversation[talked] = t
    hist.missed_calls[talked] = 0


def missed(model, t, ch, idx) -> None:
    """Calls in ``idx`` went unanswered."""
    hist = model.contact_history
    hist.missed_calls[idx] = np.minimum(hist.missed_calls[idx] + 1, np.iinfo(np.int16).max)


def cap_fees(model, t, idx, fee) -> np.ndarray:
    """The late fees ``fee`` due today on the loans ``idx``, none for loans under mandatory
    forbearance and cut to the fee caps, for the rules in force; for the rules not in force, the fees
    they would have stopped or cut are counted as breaches."""
    reg, ppl, breaches = model.params.regulation, model.people, model.contact_history.breaches
    if len(idx) == 0:
        return fee
    spared = held(model, idx, t)  # mandatory forbearance: no late fee
    if reg.forbearance:
        fee = np.where(spared, 0.0, fee)
    else:
        breaches["forbearance"] += int(np.count_nonzero(spared & (fee > 0)))
    room = np.maximum(reg.max_fees_share * ppl.principal[idx] - ppl.fees[idx], 0.0)
    allowed = np.minimum(np.minimum(fee, reg.max_late_fee_share * ppl.instalment[idx]), room)
    if reg.fee_cap:
        return allowed
    breaches["fee_cap"] += int(np.count_nonzero(allowed < fee - 1e-9))
    return fee


def cap_rate(model, annual_rate) -> np.ndarray:
    """The nominal annual rates of loans being originated, at most the cap if it is in force; when
    not, the loans priced above it are counted as breaches."""
    reg = model.params.regulation
    over = annual_rate > reg.max_annual_rate
    if reg.rate_cap:
        return np.where(over, reg.max_annual_rate, annual_rate)
    model.contact_history.breaches["rate_cap"] += int(np.count_nonzero(over))
    return annual_rate
