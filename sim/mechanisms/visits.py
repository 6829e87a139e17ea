"""Home visits: a queue from ``start_dpd``, daily field capacity, address verification and tone.

Delinquent loans at or past ``start_dpd`` join the queue (again every ``repeat_days`` while still
behind). Each day field collectors visit as many as capacity allows, longest-waiting first; loans
that cured or closed leave the queue. A visit finds the borrower only if the address verifies.

A completed visit restores attention and applies pressure, more so from a harsh collector. It costs
stress and trust: an empathetic visit little, a harsh one much more (``stress.visit_harsh``,
``trust.visit_harsh`` times harshness), and a harsh visit may end in a complaint. An empathetic
collector is more likely to learn why the borrower is behind; where plans are offered on visits, a
borrower in hardship is offered one.
"""

from __future__ import annotations

import numpy as np

from . import plans, reminders


def step(model, t) -> None:
    vis = model.params.collection.visits
    if not vis.enabled:
        model.visit_queue = 0
        return
    ppl, books, prm = model.people, model.lender.books, model.params
    tone = prm.collection.tone
    h = tone.harshness
    rng = model.streams.collection

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

    u_find, u_complain, u_diagnose = rng.random((3, len(go)))
    met = go[ppl.address_ok[go] & (u_find < vis.verify_prob)]
    books.visits_completed += len(met)
    ppl.restore_attention(met, t, vis.attention, prm.repayment.attention_halflife)
    ppl.add_pressure(met, t, vis.pressure * (1.0 + tone.pressure_bonus * h), prm.repayment.pressure_halflife)
    reminders.contacted(
        model,
        met,
        stress=prm.stress.visit + prm.stress.visit_harsh * h,
        trust=prm.trust.visit + prm.trust.visit_harsh * h,
    )
    found = ppl.address_ok[go] & (u_find < vis.verify_prob)
    books.complaints += int((found & (u_complain < prm.trust.complaint_prob * h)).sum())
    diagnosed = go[found & (u_diagnose < tone.diagnoses_hardship * (1.0 - h))]
    if prm.collection.plans.on_visit:
        plans.offer(model, diagnosed, t)
