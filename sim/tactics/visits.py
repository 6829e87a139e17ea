"""Home visits: a queue from ``start_dpd``, daily field capacity, address verification and tone.

Delinquent loans at or past ``start_dpd`` join the queue (again every ``repeat_days`` while still
behind), and so does a loan whose borrower broke a promise to pay (``on_broken_promise``) or did not
answer ``after_unanswered_calls`` calls in a row (0: never). Each day field collectors visit as many
as capacity allows, longest-waiting first (or by risk, with ``risk_based``); loans that cured or
closed leave the queue. A visit finds the borrower only if the address verifies and the borrower,
who may be avoiding the lender, is met (``avoidance_effect``).

A visit that meets the borrower is a conversation (:mod:`sim.tactics.pipeline`): it restores
attention and applies pressure, more so from a harsh collector; it costs stress (``stress.visit``,
plus ``stress.visit_harsh`` times harshness) and shows the borrower what the lender is like (trust
moves towards ``trust.visit_quality``, or towards ``trust.harsh_visit_quality`` as harshness rises);
a harsh visit may end in a complaint. An empathetic collector is likelier to learn why the borrower
is behind (and, where plans are offered on visits, to offer one); the collector asks for a promise
to pay.
"""

from __future__ import annotations

import numpy as np

from ..paramtypes import P, Section
from . import Tactic, distinct_rows
from .pipeline import Channel, contact


class Visits(Section):
    start_dpd: int = P(30, "DPD", "Days past due at which a loan enters the visit queue.", ge=1, le=720)
    repeat_days: int = P(21, "days", "Days between repeat visits to a still-delinquent loan.", ge=1, le=365)
    capacity: float = P(1.5, "visits/day per 1,000 people", "Field collector capacity.", ge=0, le=1_000)
    verify_prob: float = P(0.9, "probability", "Chance a visit to a verifiable address finds and identifies the borrower.", ge=0, le=1)
    avoidance_effect: float = P(0.5, "0..1", "How much a borrower's avoidance keeps them from meeting a visiting collector (assumption).", ge=0, le=1)
    on_broken_promise: bool = P(True, "flag", "A broken promise to pay sends the loan to the visit queue, whatever its DPD.")
    after_unanswered_calls: int = P(0, "calls", "Unanswered calls in a row after which a delinquent loan joins the visit queue, whatever its DPD (0: never).", ge=0, le=100)
    pressure: float = P(0.7, "0..1", "Pressure a completed visit adds, before tone (assumption).", ge=0, le=1)
    attention: float = P(0.9, "0..1", "Attention a completed visit restores.", ge=0, le=1)
    cost: float = P(40.0, "CU", "Cost of one visit attempt.", ge=0, le=1e6)


class HomeVisits(Tactic):
    name = "visits"
    doc = "Home visits by field collectors."
    Params = Visits
    rank = 20
    counters = {"harsh_visits": "completed visits in the window by a field collector harsher than neutral "
                                "(harshness 0.5 or more; sim/collectors.py)"}

    def channels(self) -> dict[str, Channel]:
        vis, prm = self.p, self.model.params
        tone, tr = prm.collection.tone, prm.trust
        h = tone.harshness
        slopes = {"pressure": vis.pressure * tone.pressure_bonus, "stress": prm.stress.visit_harsh,
                  "quality": tr.harsh_visit_quality - tr.visit_quality, "diagnose": -tone.diagnoses_hardship,
                  "complaint": tr.complaint_prob}
        return {"visit": Channel(
            "visit", "visit", vis.cost, "visits_attempted", "visit_cost", reached="visits_completed",
            reach_prob=vis.verify_prob, avoidance_effect=vis.avoidance_effect, needs_address=True,
            stream="visit", slot=0, attention=vis.attention, pressure=vis.pressure * (1.0 + tone.pressure_bonus * h),
            stress=prm.stress.visit + prm.stress.visit_harsh * h,
            quality=tr.visit_quality + (tr.harsh_visit_quality - tr.visit_quality) * h, weight=tr.visit_weight,
            diagnose=tone.diagnoses_hardship * (1.0 - h), complaint=tr.complaint_prob * h,
            team="field", harshness=h, per_harshness=slopes)}

    def __init__(self, model, active):
        super().__init__(model, active)
        #: every row this tactic has put in the queue and not yet seen leave it, sorted: a superset
        #: of the queue (``queued_since >= 0``; only this tactic sets it, others only clear it), so
        #: the queue is found among these rows instead of by a pass over everyone
        self._waiting = np.zeros(0, np.int64)
        self._joined: list[np.ndarray] = []

    def enqueue(self, idx: np.ndarray, t: int) -> None:
        """Put loans in the visit queue (those already waiting keep their place)."""
        ppl = self.model.people
        join = idx[ppl.queued_since[idx] < 0]
        ppl.queued_since[join] = t
        self._joined.append(join)

    def queue(self) -> np.ndarray:
        """The loans in the queue (``queued_since >= 0``), sorted."""
        ppl = self.model.people
        rows = self._waiting
        if self._joined:
            rows = distinct_rows([rows, *self._joined])
            self._joined = []
        self._waiting = rows = rows[ppl.queued_since[rows] >= 0]
        return rows

    def collect(self, t: int) -> None:
        m = self.model
        ppl, vis = m.people, self.p
        late = m.prev_delinquent
        due = ppl.dpd[late] >= vis.start_dpd
        if vis.after_unanswered_calls:  # failed contact: calls nobody answers send a collector
            due |= m.contact_history.missed_calls[late] >= vis.after_unanswered_calls
        join = late[due & (ppl.queued_since[late] < 0) & (t - ppl.last_visit[late] >= vis.repeat_days)]
        ppl.queued_since[join] = t
        self._joined.append(join)
        queue = self.queue()
        stale = queue[ppl.amount_due[queue] <= 0.0]
        ppl.queued_since[stale] = -1
        queue = queue[ppl.amount_due[queue] > 0.0]

        done = contact(m, t, self.channels()["visit"], queue, capacity=m.lender.visit_capacity, key=ppl.queued_since[queue])
        go = done.attempted
        if done.harshness is not None:
            self.counts["harsh_visits"] += int(np.count_nonzero(done.harshness >= 0.5))
        m.visit_queue = len(queue) - len(go)
        ppl.queued_since[go] = -1
        ppl.last_visit[go] = t


TACTIC = HomeVisits
