"""Collectors (sim/collectors.py): capacity from headcount, per-collector tone and skill, incentive pay.

Each mechanism on its own, on small models: the capacity a headcount gives, how the day's contacts
are dealt to collectors, what a harsher collector's conversations do against a gentler one's (the
same borrowers, the same day, the same draws), what incentive pay does to tone and to the books, and
that the same seed gives the same collectors and the same assignment.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import collectors
from sim.params import Scenario
from sim.scenario import ScenarioError
from sim.tactics.pipeline import contact


def _model(borrowers=600, seed=3, **dotted):
    return sim.CreditModel(scenario="baseline", borrowers=borrowers, days=400, rng=seed,
                           overrides={"simulation.burn_in": 0, **dotted})


def test_shipped_capacity_is_what_the_per_thousand_parameters_gave():
    """Unset headcounts staff the channels to their old per-1,000 capacity: 30 calls and 1.5 visits a day
    per 1,000 people, so 300 and 15 at 10,000 people, by 5 call agents and 3 field collectors."""
    p = Scenario()
    assert (collectors.capacity(p, "call"), collectors.capacity(p, "field")) == (300, 15)
    assert (collectors.headcount(p, "call"), collectors.headcount(p, "field")) == (5.0, 3.0)


@pytest.mark.parametrize("agents, rate, fields, per", [(3, 20, 2, 4), (2.5, 10, 1.5, 2)])
def test_capacity_is_headcount_times_rate(agents, rate, fields, per):
    m = _model(**{"collection.collectors.call_agents": agents, "collection.collectors.calls_per_agent": rate,
                  "collection.collectors.field_collectors": fields,
                  "collection.collectors.visits_per_collector": per,
                  "collection.visits.start_dpd": 1, "collection.visits.repeat_days": 1,
                  # a call before every due date for a month: a queue longer than the call centre
                  "collection.reminders.schedule": [{"day": -d, "channel": "phone"} for d in range(1, 30)]})
    assert m.lender.call_capacity == round(agents * rate)
    assert m.lender.visit_capacity == round(fields * per)
    call, field = collectors.team(m, "call"), collectors.team(m, "field")
    assert (call.size, field.size) == (int(np.ceil(agents)), int(np.ceil(fields)))  # a part-timer counts
    calls = visits = 0
    most_calls = most_visits = 0
    for _ in range(120):
        b = m.lender.books
        c0, v0 = b.calls, b.visits_attempted
        m.step()
        most_calls = max(most_calls, b.calls - c0)
        most_visits = max(most_visits, b.visits_attempted - v0)
        calls, visits = b.calls, b.visits_attempted
    assert calls > 0 and visits > 0
    # the queue is long enough that some day uses every slot, and none uses more
    assert most_calls == round(agents * rate)
    assert most_visits == round(fields * per)


def test_no_collector_makes_more_contacts_than_their_own_capacity():
    m = _model(**{"collection.collectors.call_agents": 4.5, "collection.collectors.calls_per_agent": 7})
    team = collectors.team(m, "call")
    assert team.capacity == 32 and team.size == 5
    people = np.arange(0, 400, 7)[:32]
    for t, n in ((1, 32), (2, 32), (3, 10), (4, 0)):
        owner = team.assign(people[:n], t)
        load = np.bincount(owner, minlength=team.size)
        assert load.sum() == n
        assert (load[:4] <= 7).all() and load[4] <= 4  # the part-timer makes half a day's calls
        assert load[:4].max() - load[:4].min() <= 1  # the day's work is spread evenly
    full = np.bincount(team.assign(people, 5), minlength=5)
    assert full.tolist() == [7, 7, 7, 7, 4]
    # a random order of the people: another day deals them differently
    assert not np.array_equal(team.assign(people, 5), team.assign(people, 6))


def test_traits_are_drawn_around_the_strategys_means():
    many = {"collection.collectors.field_collectors": 4000.0, "collection.collectors.call_agents": 4000.0,
            "collection.collectors.harshness_sd": 0.1, "collection.collectors.skill_sd": 0.3,
            "collection.tone.harshness": 0.5, "collection.tone.skill": 0.4}
    m = _model(**many)
    field, call = collectors.team(m, "field"), collectors.team(m, "call")
    assert field.size == 4000
    assert abs(field.harshness.mean() - 0.5) < 0.01 and abs(field.harshness.std() - 0.1) < 0.01
    assert abs(field.skill.mean() - 0.4) < 0.03 and abs(field.skill.std() - 0.3) < 0.02
    assert abs(call.skill.mean() - 0.4) < 0.03
    assert not np.allclose(field.skill, call.skill)  # separate people
    flat = _model(**{**many, "collection.collectors.harshness_sd": 0.0, "collection.collectors.skill_sd": 0.0})
    assert np.all(collectors.team(flat, "field").harshness == 0.5)


def _visit_everyone(harshness, seed=5, day=60, skill=0.0):
    """A model on ``day`` whose one field collector, of set tone, visits every borrower behind, all
    found at home: what those conversations did (stress and trust of each, complaints)."""
    m = _model(borrowers=3000, seed=seed, **{
        "collection.collectors.field_collectors": 1.0, "collection.collectors.visits_per_collector": 100,
        "collection.visits.verify_prob": 1.0, "collection.visits.avoidance_effect": 0.0,
        "population.address_unverifiable": 0.0})
    for _ in range(day):
        m.step()
    collectors.staff(m, "field", harshness=harshness, skill=skill)
    seen = []
    original = m.experience

    def record(idx, *, stress=0.0, quality=None, weight=0.0):
        seen.append((np.asarray(idx).copy(), np.broadcast_to(stress, np.shape(idx)).copy(),
                     None if quality is None else np.broadcast_to(quality, np.shape(idx)).copy()))
        original(idx, stress=stress, quality=quality, weight=weight)

    m.experience = record
    idx = np.flatnonzero(m.people.amount_due > 0.0)
    complaints = m.lender.books.complaints
    done = contact(m, m.day + 1, m.tactics["visits"].channels()["visit"], idx, capacity=100)
    m.experience = original
    stress = np.concatenate([s for _, s, q in seen if q is None])  # the stress of each visit
    quality = np.concatenate([q for _, _, q in seen if q is not None])
    return done, stress, quality, m.lender.books.complaints - complaints


def test_a_harsher_collector_stresses_more_shows_worse_and_draws_more_complaints():
    soft, s_stress, s_quality, s_complaints = _visit_everyone(0.1)
    hard, h_stress, h_quality, h_complaints = _visit_everyone(0.9)
    assert len(soft.talked) == len(hard.talked) >= 40  # the same borrowers met, the same day
    assert np.array_equal(soft.talked, hard.talked)
    assert h_stress.mean() > s_stress.mean() + 0.05  # 0.12 x 0.8 more per visit
    assert h_quality.max() < s_quality.min()
    # expected complaints 0.15 x h per visit: ~11 against ~1; the same draws, so never fewer
    assert h_complaints > s_complaints
    assert h_complaints >= 4


def test_conversations_take_the_tone_of_their_own_collector():
    """Two field collectors in one model, one gentle and one harsh: each visit's stress is its collector's."""
    m = _model(borrowers=3000, seed=5, **{
        "collection.collectors.field_collectors": 2.0, "collection.collectors.visits_per_collector": 50,
        "collection.visits.verify_prob": 1.0, "collection.visits.avoidance_effect": 0.0,
        "population.address_unverifiable": 0.0})
    for _ in range(60):
        m.step()
    collectors.staff(m, "field", harshness=[0.0, 1.0])
    p = m.params.stress
    got = []
    original = m.experience

    def record(idx, *, stress=0.0, quality=None, weight=0.0):
        if quality is None:  # the stress of each visit (its trust comes in a call of its own)
            got.append(np.broadcast_to(stress, np.shape(idx)).copy())
        original(idx, stress=stress, quality=quality, weight=weight)

    m.experience = record
    contact(m, m.day + 1, m.tactics["visits"].channels()["visit"], np.flatnonzero(m.people.amount_due > 0.0),
            capacity=100)
    stress = np.concatenate(got)
    gentle, harsh = np.isclose(stress, p.visit), np.isclose(stress, p.visit + p.visit_harsh)
    assert (gentle | harsh).all()
    assert gentle.sum() >= 15 and harsh.sum() >= 15


def test_a_skilled_collector_gets_more_promises():
    """The same borrowers, the same day and draws: a more skilled collector gets more promises."""
    promises = []
    for skill in (-3.0, 3.0):
        m = _model(borrowers=3000, seed=5, **{
            "collection.collectors.field_collectors": 1.0, "collection.collectors.visits_per_collector": 100,
            "collection.visits.verify_prob": 1.0, "collection.visits.avoidance_effect": 0.0,
            "population.address_unverifiable": 0.0})
        for _ in range(60):
            m.step()
        collectors.staff(m, "field", skill=skill)
        before = m.lender.books.promises
        contact(m, m.day + 1, m.tactics["visits"].channels()["visit"], np.flatnonzero(m.people.amount_due > 0.0),
                capacity=100)
        promises.append(m.lender.books.promises - before)
    assert promises[1] > promises[0]


def test_incentive_pay_raises_harshness_and_effort():
    base = {"collection.collectors.field_collectors": 50.0, "collection.collectors.harshness_sd": 0.0,
            "collection.collectors.skill_sd": 0.0, "collection.tone.harshness": 0.4,
            "collection.collectors.incentive_harshness": 0.3, "collection.collectors.incentive_effort": 0.5}
    flat = collectors.team(_model(**base), "field")
    paid = collectors.team(_model(**base, **{"collection.collectors.incentive": 1.0}), "field")
    assert np.allclose(flat.harshness, 0.4) and np.allclose(paid.harshness, 0.7)
    assert np.allclose(flat.skill, 0.0) and np.allclose(paid.skill, 0.5)


def test_incentive_pay_is_costed():
    runs = {}
    for incentive in (0.0, 0.5):
        m = _model(borrowers=1500, seed=4, **{"collection.collectors.incentive": incentive,
                                             "collection.collectors.commission": 0.1})
        for _ in range(200):
            m.step()
        runs[incentive] = m.lender.books
    none, half = runs[0.0], runs[0.5]
    assert none.incentive_pay == 0.0
    assert half.promises_kept > 0 and half.incentive_pay > 0.0
    # at most 5% of everything borrowers paid, and part of the cost of collection and of profit
    assert half.incentive_pay <= 0.05 * half.received
    others = half.sms_cost + half.phone_cost + half.visit_cost + half.plan_cost + half.recovery_cost
    assert half.collection_cost == pytest.approx(others + half.incentive_pay)


def test_incentive_pay_brings_more_complaints():
    """Paired seeds: the same strategy with and without incentive pay (harsher field collectors)."""
    more = 0
    for seed in range(4):
        counts = []
        for incentive in (0.0, 1.0):
            m = _model(borrowers=1500, seed=seed, **{"collection.tone.harshness": 0.3,
                                                    "collection.collectors.incentive": incentive,
                                                    "collection.collectors.incentive_harshness": 0.6})
            for _ in range(250):
                m.step()
            counts.append(m.lender.books.complaints)
        more += counts[1] > counts[0]
    assert more >= 3


def test_same_seed_same_collectors_and_same_assignment():
    a, b, c = _model(seed=11), _model(seed=11), _model(seed=12)
    ta, tb, tc = (collectors.team(x, "field") for x in (a, b, c))
    assert np.array_equal(ta.harshness, tb.harshness) and np.array_equal(ta.skill, tb.skill)
    assert not np.array_equal(collectors.team(a, "call").skill, collectors.team(c, "call").skill)
    ca, cb = collectors.team(a, "call"), collectors.team(b, "call")
    people = np.arange(15) * 3
    assert np.array_equal(ca.assign(people, 7), cb.assign(people, 7))
    for _ in range(80):
        a.step()
        b.step()
    assert a.lender.books.as_dict() == b.lender.books.as_dict()
    assert np.array_equal(a.people.stress, b.people.stress)


@pytest.mark.parametrize("key, value, says", [
    ("collection.collectors.call_agents", -1, "greater than or equal to 0"),
    ("collection.collectors.calls_per_agent", 0, "greater than or equal to 1"),
    ("collection.collectors.visits_per_collector", 2.5, "integer"),
    ("collection.collectors.harshness_sd", 2.0, "less than or equal to 1"),
    ("collection.collectors.incentive", 1.5, "less than or equal to 1"),
])
def test_bad_collector_settings_are_one_line_errors(key, value, says):
    with pytest.raises(ScenarioError) as err:
        _model(**{key: value})
    msg = str(err.value)
    assert key in msg and says in msg and "\n" not in msg


@pytest.mark.parametrize("harshness, spread", [(0.9, 0.0), (0.1, 0.0), (0.5, 0.3)])
def test_harsh_visits_counts_the_visits_of_collectors_harsher_than_neutral(harshness, spread):
    m = _model(borrowers=1500, seed=2, **{"collection.tone.harshness": harshness,
                                         "collection.collectors.harshness_sd": spread,
                                         "collection.collectors.field_collectors": 6.0})
    for _ in range(200):
        m.step()
    completed, harsh = m.lender.books.visits_completed, m.summary()["harsh_visits"]  # no burn-in: one window
    assert completed > 20
    if spread == 0.0:
        assert harsh == (completed if harshness >= 0.5 else 0)
    else:  # collectors either side of neutral: some visits by each
        share = (collectors.team(m, "field").harshness >= 0.5).mean()
        assert 0.0 < share < 1.0 and 0 < harsh < completed


@pytest.mark.parametrize("headcount, capacity", [("call_agents", "collection.reminders.phone_capacity"),
                                                 ("field_collectors", "collection.visits.capacity")])
def test_a_headcount_and_a_per_thousand_capacity_together_are_refused(headcount, capacity):
    with pytest.raises(ScenarioError) as err:
        _model(**{f"collection.collectors.{headcount}": 2.0, capacity: 10.0})
    msg = str(err.value)
    assert f"collection.collectors.{headcount}" in msg and capacity in msg and "\n" not in msg
    _model(**{capacity: 10.0})  # either alone is fine
    _model(**{f"collection.collectors.{headcount}": 2.0})


def test_the_cli_refuses_a_negative_headcount(tmp_path):
    from typer.testing import CliRunner

    from sim.cli import app

    bad = tmp_path / "s.toml"
    bad.write_text('extends = "baseline.toml"\n[collection.collectors]\nfield_collectors = -2\n')
    out = CliRunner().invoke(app, ["run", str(bad), "-n", "200", "-d", "5"])
    assert out.exit_code == 2
    line = out.output.strip()
    assert "\n" not in line and "s.toml" in line and "collection.collectors.field_collectors" in line


def test_one_more_contact_moves_only_the_people_at_the_edges_of_the_shares():
    """Common random numbers in the assignment: a person's collector follows their own number, so one
    more contact on the day moves at most one person per boundary between two collectors' shares
    (size - 1), not everyone dealt after the newcomer, as a rank-based round-robin would."""
    m = _model(borrowers=2000, **{"collection.collectors.call_agents": 30.0,
                                  "collection.collectors.calls_per_agent": 8})
    team = collectors.team(m, "call")
    assert team.size == 30 and team.capacity == 240
    rng = np.random.default_rng(5)
    for t in (3, 4, 5):
        day = np.sort(rng.choice(2000, 201, replace=False))
        base, newcomer = np.delete(day, 100), day[100]
        before = team.assign(base, t)
        after = team.assign(day, t)
        moved = int((after[np.flatnonzero(day != newcomer)] != before).sum())
        assert moved <= team.size - 1
        # and the same person on another day, among other people, meets the collector their number says
        other = np.sort(rng.choice(np.setdiff1d(np.arange(2000), day), 100, replace=False))
        mixed = np.union1d(base, other)
        assert (team.assign(mixed, t)[np.isin(mixed, base)] == before).mean() > 0.5
