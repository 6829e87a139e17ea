"""Policies that change on a given day (``[[changes]]`` in a scenario file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import collectors
from sim.mechanisms import stress
from sim.scenario import ScenarioError, timeline

CREDSIM = Path(sys.executable).with_name("credsim")
BURN_IN, DAY = 30, 40  # the change applies from model day BURN_IN + DAY


def scenario_file(tmp_path, changes: str, extends="baseline.toml") -> Path:
    f = tmp_path / "changing.toml"
    f.write_text(f'extends = "{extends}"\nname = "changing"\n{changes}')
    return f


def model(path, days=80, borrowers=1500, seed=5, **dotted):
    m = sim.CreditModel(scenario=path, borrowers=borrowers, days=days, rng=seed,
                        overrides={"simulation.burn_in": BURN_IN, **dotted})
    m.contact_log = []
    return m


def visit_days(m) -> np.ndarray:
    return np.array([d for d, ch, attempted, _ in m.contact_log if ch == "visit" and len(attempted)])


def test_a_visit_ban_from_day_d_stops_visits_exactly_from_d(tmp_path):
    f = scenario_file(tmp_path, f'[[changes]]\nday = {DAY}\nset = {{ "regulation.visit_ban" = true }}\n')
    m = model(f)
    while m.running:
        m.step()
    days = visit_days(m)
    d = BURN_IN + DAY
    assert (days < d).sum() > 20  # visits every day before
    assert d - 1 in days
    assert not (days >= d).any()  # none on or after the day of the change
    # before the ban, every visit counted as a breach of a ban not in force; from d, none was made
    window_visits = sum(len(a) for day, ch, a, _ in m.contact_log if ch == "visit" and BURN_IN < day < d)
    assert m.params.regulation.visit_ban and m.summary()["breaches_visit_ban"] == window_visits > 0


def test_the_run_is_identical_to_the_unchanged_one_before_d_and_differs_after(tmp_path):
    f = scenario_file(tmp_path, f'[[changes]]\nday = {DAY}\nset = {{ "collection.visits.start_dpd" = 60, '
                                f'"regulation.fee_cap" = true }}\n')
    changed, plain = model(f), model("baseline")
    d = BURN_IN + DAY
    for m in (changed, plain):
        while m.day < d - 1:
            m.step()
    for name in ("cash", "stress", "trust", "dpd", "balance", "fees", "has_loan"):
        assert np.array_equal(getattr(changed.people, name), getattr(plain.people, name)), name
    for m in (changed, plain):
        while m.running:
            m.step()
    a = changed.datacollector.get_model_vars_dataframe()
    b = plain.datacollector.get_model_vars_dataframe()
    pd.testing.assert_frame_equal(a.iloc[:d], b.iloc[:d])  # rows of days 0 .. d - 1
    assert not a.iloc[d:].equals(b.iloc[d:])


def test_a_later_visit_threshold_applies_to_loans_joining_the_queue_from_d(tmp_path):
    # no promises: a broken promise sends a collector whatever the DPD
    f = scenario_file(tmp_path, f'[collection]\ntactics = ["reminders", "visits", "recovery"]\n'
                                f'[[changes]]\nday = {DAY}\nset = {{ "collection.visits.start_dpd" = 75 }}\n')
    m = model(f)
    d = BURN_IN + DAY
    early, waiting = [], set()
    while m.running:
        if m.day == d - 1:
            waiting = set(np.flatnonzero(m.people.queued_since >= 0).tolist())  # queued under the old rule
        n = len(m.contact_log)
        m.step()
        for day, ch, att, _ in m.contact_log[n:]:
            if ch != "visit":
                continue
            for i in att.tolist():
                if day < d:
                    early.append(m.people.dpd[i])
                elif i in waiting:
                    waiting.discard(i)  # served from the old queue; a later visit needs 75 DPD
                else:
                    assert m.people.dpd[i] >= 75, (day, i, m.people.dpd[i])
    assert min(early) < 75  # before d the threshold was 30


def test_everything_that_caches_parameters_picks_the_change_up(tmp_path):
    f = scenario_file(tmp_path, f'[[changes]]\nday = {DAY}\nset = {{ "collection.visits.capacity" = 1.0, '
                                f'"collection.reminders.phone_capacity" = 10.0, "collection.tone.harshness" = 0.1, '
                                f'"acquisition.cutoff" = 0.6, "stress.arrears_strain" = 0.3, '
                                f'"repayment.attention_floor" = 0.3 }}\n')
    m = model(f, borrowers=2000)
    d = BURN_IN + DAY
    while m.day < d - 1:
        m.step()
    cap, calls, thr = m.lender.visit_capacity, m.lender.call_capacity, m.score_threshold
    harsh = collectors.team(m, "field").harshness.mean()
    m.step()  # day d
    assert m.lender.visit_capacity == 2 < cap  # 1 per 1,000 people
    assert m.lender.call_capacity == 20 < calls
    assert m.score_threshold == pytest.approx(np.quantile(m.people.score, 0.6)) and m.score_threshold > thr
    assert collectors.team(m, "field").harshness.mean() < harsh - 0.4  # retrained: the same people, gentler
    assert np.allclose(m.stress_levels.current(m, m.day), stress.level(m, m.day))  # not the cached levels
    assert m.people.attention_floor == 0.3
    # no visits beyond the new capacity
    days = [len(att) for day, ch, att, _ in m.contact_log if ch == "visit" and day >= d]
    assert max(days, default=0) <= 2


def test_a_tactic_added_and_one_removed_mid_run(tmp_path):
    f = scenario_file(tmp_path, f'[[changes]]\nday = {DAY}\nset = {{ "collection.tactics" = '
                                f'["reminders", "promises", "bureau", "recovery"] }}\n')
    m = model(f, days=150)
    d = BURN_IN + DAY
    reports_before = None
    while m.running:
        if m.day == d - 1:
            reports_before = m.tactics["bureau"].counts["bureau_reports"]
        m.step()
    assert reports_before == 0 and m.tactics["bureau"].counts["bureau_reports"] > 0
    days = visit_days(m)
    assert (days < d).any() and not (days >= d).any()  # the visits tactic no longer runs


def test_later_changes_build_on_earlier_ones(tmp_path):
    f = scenario_file(tmp_path, '[[changes]]\nday = 5\nset = { "regulation.visit_ban" = true }\n'
                                '[[changes]]\nday = 9\nset = { "regulation.fee_cap" = true }\n')
    sc = sim.load_scenario(f)
    (d1, s1), (d2, s2) = timeline(sc)
    assert (d1, d2) == (5, 9)
    assert s1.regulation.visit_ban and not s1.regulation.fee_cap
    assert s2.regulation.visit_ban and s2.regulation.fee_cap
    assert not sc.regulation.visit_ban  # the scenario itself starts without the ban


def test_the_saved_parameters_keep_the_changes(tmp_path):
    f = scenario_file(tmp_path, '[[changes]]\nday = 3\nset = { "regulation.visit_ban" = true }\n')
    res = sim.run(f, borrowers=200, days=5, seed=1, overrides={"simulation.burn_in": 0})
    assert res.scenario.changes[0].set == {"regulation.visit_ban": True}
    assert not res.scenario.regulation.visit_ban


@pytest.mark.parametrize("changes, key, says", [
    ('[[changes]]\nday = 10\nset = { "collection.visits.start_dpdx" = 60 }\n',
     "changes.0.set.collection.visits.start_dpdx", "unknown parameter"),
    ('[[changes]]\nday = 10\nset = { "collection.visits.start_dpd" = "soon" }\n',
     "changes.0.set.collection.visits.start_dpd", "integer"),
    ('[[changes]]\nday = 10\nset = { "regulation.visit_ban" = "yes" }\n',
     "changes.0.set.regulation.visit_ban", "boolean"),
    ('[[changes]]\nday = 10\nset = { "collection.tactics" = ["reminders", "nope"] }\n',
     "changes.0.set.collection.tactics", "unknown tactic"),
    ('[[changes]]\nday = 10\nset = { "population.borrowers" = 500 }\n',
     "changes.0.set.population.borrowers", "fixed once the run has started"),
    ('[[changes]]\nday = 10\nset = { "stress" = { baseline = 0.5 } }\n',
     "changes.0.set.stress.baseline", "fixed once the run has started"),
    ('[[changes]]\nday = 9\nset = { "regulation.visit_ban" = true }\n'
     '[[changes]]\nday = 9\nset = { "regulation.fee_cap" = true }\n', "changes.1.day", "later than changes.0.day"),
    ('[[changes]]\nday = 800\nset = { "regulation.visit_ban" = true }\n', "changes.0.day", "0..simulation.days"),
    ('[[changes]]\nday = -1\nset = { "regulation.visit_ban" = true }\n', "changes.0.day", "greater than or equal to 0"),
    ('[[changes]]\nset = { "regulation.visit_ban" = true }\n', "changes.0.day", "required"),
    ('[[changes]]\nday = 3\nset = { "regulation.visit_ban" = true, "when" = 3 }\n', "changes.0.set.when",
     "unknown parameter"),
    ('[[changes]]\nday = 10\nsett = { "regulation.visit_ban" = true }\n', "changes.0.sett", "unknown parameter"),
])
def test_a_bad_change_is_one_error_naming_the_key(tmp_path, changes, key, says):
    f = scenario_file(tmp_path, changes)
    with pytest.raises(ScenarioError) as err:
        sim.load_scenario(f)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{f}: {key}: ") and says in line, line


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("changes, key", [
    ('[[changes]]\nday = 10\nset = { "collection.visits.start_dpdx" = 60 }\n', "changes.0.set.collection.visits.start_dpdx"),
    ('[[changes]]\nday = 10\nset = { "collection.visits.start_dpd" = -3 }\n', "changes.0.set.collection.visits.start_dpd"),
])
def test_a_bad_change_on_the_command_line_is_one_line_exit_2(tmp_path, changes, key, command):
    f = scenario_file(tmp_path, changes)
    out = tmp_path / "out"
    args = [str(CREDSIM), command, str(f)] + (["--borrowers", "100", "--out", str(out)] if command == "run" else [])
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{f}: {key}: "), res.stderr
    assert not out.exists()


def test_a_change_past_a_shortened_run_is_refused_on_the_command_line(tmp_path):
    f = scenario_file(tmp_path, '[[changes]]\nday = 50\nset = { "regulation.visit_ban" = true }\n')
    res = subprocess.run([str(CREDSIM), "run", str(f), "--borrowers", "100", "--days", "20"],
                         capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "changes.0.day" in lines[0] and "(20)" in lines[0], res.stderr


def test_a_change_on_day_0_without_burn_in_is_in_force_from_the_first_step(tmp_path):
    f = scenario_file(tmp_path, '[[changes]]\nday = 0\nset = { "regulation.visit_ban" = true }\n')
    m = sim.CreditModel(scenario=f, borrowers=300, days=3, rng=1, overrides={"simulation.burn_in": 0})
    assert m.params.regulation.visit_ban
    assert not sim.load_scenario(f).regulation.visit_ban
