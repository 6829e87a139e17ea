"""Common random numbers reach brand trust: a strategy changes only the trust of the people it touches.

Two strategies with the same seed differ in what they do to people; a person's trust moves only
through their own experiences and what their ties tell them, and every draw that leads to an
experience is keyed per person (sim/rng.py). So over a run, everyone whom neither strategy ever
touched, directly or by word of mouth, ends with exactly the same trust under both; the difference in
brand trust is made by the people the strategies touched.
"""

from __future__ import annotations

import numpy as np

import sim


def _run(scenario, seed=7, n=2000, days=240):
    m = sim.CreditModel(scenario=scenario, borrowers=n, days=days, rng=seed, overrides={"simulation.burn_in": 0})
    heard = np.zeros(m.people.n, bool)  # had an experience that teaches trust, or was told of one
    record = m.experience

    def experience(idx, *, stress=0.0, quality=None, weight=0.0):
        if quality is not None and np.any(weight) and len(idx):
            heard[idx] = True
            heard[m.people.neighbors[idx].ravel()] = True
        record(idx, stress=stress, quality=quality, weight=weight)

    m.experience = experience
    for _ in range(m.days):
        m.step()
    return m, heard


def test_a_visit_strategy_leaves_the_trust_of_people_it_never_touched_unchanged():
    base, heard_b = _run("baseline")
    humane, heard_h = _run("humane_visits")
    untouched = ~(heard_b | heard_h)
    assert untouched.sum() > 200 and (~untouched).sum() > 200
    # the strategies do differ, and only where they touched someone
    assert not np.array_equal(base.people.trust, humane.people.trust)
    assert np.array_equal(base.people.trust[untouched], humane.people.trust[untouched])
    # including who applied and what they were lent: the same applications, by the same clock
    assert np.array_equal(base.people.app_count[untouched], humane.people.app_count[untouched])
    assert humane.summary()["brand_trust"] > base.summary()["brand_trust"]
