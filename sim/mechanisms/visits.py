"""Home visits: a queue from ``start_dpd``, daily field capacity, address verification and tone.

Delinquent loans at or past ``start_dpd`` join the queue (again every ``repeat_days`` while still
behind), and so does a loan whose borrower broke a promise to pay (``on_broken_promise``). Each day
field collectors visit as many as capacity allows, longest-waiting first; loans that cured or closed
leave the queue. A visit finds the borrower only if the address verifies and the borrower, who may
be avoiding the lender, is met (``avoidance_effect``).

A visit that meets the borrower is a conversation (:mod:`sim.mechanisms.conversations`): it restores
attention and applies pressure, more so from a harsh collector; it costs stress (``stress.visit``,
plus ``stress.visit_harsh`` times harshness) and shows the borrower what the lender is like (trust
moves towards ``trust.visit_quality``, or towards ``trust.harsh_visit_quality`` as harshness rises);
a harsh visit may end in a complaint. An empathetic collector is likelier to learn why the borrower
is behind (and, where plans are offered on visits, to offer one); the collector asks for a promise
to pay.
"""

from __future__ import annotations

import numpy as np

from . import conversations


def step(model, t) -> None:
    vis = model.params.collection.visits
    if not vis.enabled:
        model.visit_queue = 0
        return
    ppl, books, prm = model.people, model.lender.books, model.params
    tone = prm.collection.tone
    h = tone.harshness

    late = model.prev_delinquent
    join = late[(ppl.dpd[late] >= vis.start_dpd) & (ppl.queued_since[late] < 0) & (t - ppl.last_visit[late] >= vis.repeat_days)]
    ppl.queued_since[join] = t
    queue = np.flatnonzero(ppl.queued_since >= 0)
    stale = queue[ppl.amount_due[queue] <= 0.0]
    ppl.queued_since[stale] = -1
    queue = queue[ppl.amount_due[queue] > 0.0]

    order = np.argsort(ppl.queued_since[queue], kind="stable")
    go = queue[order[: model.lender.visit_capacity]]
    model.visit_queue = len(queue) - len(go)
    if len(go) == 0:
        return
    ppl.queued_since[go] = -1
    ppl.last_visit[go] = t
    books.visits_attempted += len(go)
    books.visit_cost += vis.cost * len(go)

    draw = model.streams.person.visit
    u_find, u_complain = draw.uniform(go, t, 0), draw.uniform(go, t, 1)
    at_home = 1.0 - vis.avoidance_effect * conversations.avoidance(model, go, t)
    found = ppl.address_ok[go] & (u_find < vis.verify_prob * at_home)
    met = go[found]
    books.visits_completed += len(met)
    ppl.restore_attention(met, t, vis.attention, prm.repayment.attention_halflife)
    ppl.add_pressure(met, t, vis.pressure * (1.0 + tone.pressure_bonus * h), prm.repayment.pressure_halflife)
    conversations.contacted(model, met, t, stress=prm.stress.visit + prm.stress.visit_harsh * h)
    tr = prm.trust
    model.experience(met, quality=tr.visit_quality + (tr.harsh_visit_quality - tr.visit_quality) * h, weight=tr.visit_weight)
    books.complaints += int((found & (u_complain < prm.trust.complaint_prob * h)).sum())
    conversations.converse(
        model, met, t, diagnose_prob=tone.diagnoses_hardship * (1.0 - h), offer_plans=prm.collection.plans.on_visit
    )
