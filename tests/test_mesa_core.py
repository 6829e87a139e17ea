"""The per-agent Mesa core (benchmarks/mesa_agents.py) stays equal to the vectorised model on the core
subset (benchmarks/core.toml).

Both run the same scenario and seed from the same day-0 state; from then on they share no code on
the per-day path. Per loan and per person they must agree exactly (every draw is a per-person draw,
and the arithmetic is the same); daily counts exactly; money totals, which the two add up in
different orders, to floating-point tolerance.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import metrics
from sim.model import CreditModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import mesa_agents  # noqa: E402

N, DAYS, SEED = 600, 300, 1
#: per-person state compared exactly at the end of the run
PERSON = ("cash", "reserved", "stress", "trust", "attention", "pressure", "contact_load", "paid_total",
          "co_balance", "app_count", "app_hazard", "contacts", "last_decision", "banned", "cooldown_until")
#: money is added up in another order (a Python loop against NumPy's pairwise sums)
RTOL, ATOL = 1e-9, 1e-6


def run_both(n=N, days=DAYS, seed=SEED, overrides=None):
    sc = sim.model.build_scenario(mesa_agents.CORE, n, days, overrides)
    vec = CreditModel(scenario=sc, rng=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        for _ in range(vec.days):
            vec.step()
    agents = mesa_agents.run(sc, seed=seed)
    return vec, agents


@pytest.fixture(scope="module")
def both():
    return run_both()


def close(a, b) -> bool:
    return bool(np.isclose(a, b, rtol=RTOL, atol=ATOL) or (np.isnan(a) and np.isnan(b)))


def test_the_core_run_exercises_the_mechanisms_it_compares(both):
    vec, _ = both
    b = vec.lender.books
    assert b.originations > 50 and b.repaid_loans > 50
    assert b.delinquency_episodes > 50 and b.cures > 20 and b.fee_income > 0
    assert b.sms > 500 and b.calls_answered > 100 and b.calls > b.calls_answered
    assert b.charge_offs >= 5 and b.recoveries > 0
    led = metrics.loan_table(vec)
    assert (led["max_dpd"] >= 90).sum() >= 5 and led["cause"].nunique() >= 3


def assert_same_loans(vec, agents) -> None:
    """The per-loan tables agree exactly, column by column (ledger columns of ``Result.loans``)."""
    v = metrics.loan_table(vec)[list(mesa_agents.LEDGER)].reset_index(drop=True)
    m = agents.loans()[list(mesa_agents.LEDGER)].reset_index(drop=True)
    assert len(v) == len(m)
    for col in mesa_agents.LEDGER:
        differ = np.flatnonzero(v[col].to_numpy() != m[col].to_numpy())
        assert len(differ) == 0, (f"{col}: {len(differ)} loans differ, first loan {v['loan_id'][differ[0]]}: "
                                  f"{v[col][differ[0]]!r} vs {m[col][differ[0]]!r}")


def test_every_loan_has_the_same_life(both):
    assert_same_loans(*both)


def test_every_person_ends_in_the_same_state(both):
    vec, agents = both
    state = agents.person_state(*PERSON)
    for name in PERSON:
        x, y = getattr(vec.people, name), state[name]
        differ = np.flatnonzero(x != y)
        assert len(differ) == 0, (f"{name}: {len(differ)} people differ, first {differ[0]}: "
                                  f"{x[differ[0]]} vs {y[differ[0]]}")


def test_the_daily_series_agree(both):
    vec, agents = both
    v = vec.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    m = agents.daily()
    assert len(v) == len(m) == DAYS + 1
    for col in mesa_agents.DAILY:
        if v[col].dtype.kind in "iub":
            assert (v[col].to_numpy() == m[col].to_numpy()).all(), col
        else:
            np.testing.assert_allclose(m[col].to_numpy(float), v[col].to_numpy(float), rtol=RTOL, atol=ATOL,
                                       err_msg=col)


def test_the_books_and_the_summary_agree(both):
    vec, agents = both
    vb, mb = vec.lender.books.as_dict(), agents.books.as_dict()
    for key, value in vb.items():
        if isinstance(value, int):
            assert mb[key] == value, key
        else:
            assert close(mb[key], value), f"{key}: {mb[key]} vs {value}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        vs = vec.summary()
    ms = agents.summary()
    assert set(ms) <= set(metrics.SUMMARY_KEYS)
    for key, value in ms.items():
        assert close(value, vs[key]), f"{key}: {value} vs {vs[key]}"


LADDER = [{"day": -5, "channel": "sms"}, {"day": 2, "channel": "phone"}, {"day": 3, "channel": "phone"},
          {"day": 15, "channel": "sms"}]


@pytest.mark.parametrize("overrides", [
    {"collection.tactics": ["recovery"]},  # no reminders at all
    {"collection.reminders.schedule": LADDER, "collection.reminders.phone_capacity": 2.0},  # calls beyond capacity
    # tight budgets and an advertised hardship line: people call ahead; and a burn-in before the window
    {"early_contact.channel": True, "population.subsistence_share": 0.7, "simulation.burn_in": 60},
], ids=["no_reminders", "other_ladder", "early_contact_burn_in"])
def test_equal_with_other_settings_inside_the_core(overrides):
    vec, agents = run_both(300, 200, 5, overrides)
    assert_same_loans(vec, agents)
    state = agents.person_state("paid_total", "cash", "stress")
    for name, values in state.items():
        assert (getattr(vec.people, name) == values).all(), name
    vb, mb = vec.lender.books, agents.books
    assert (vb.calls, vb.sms, vb.early_contacts) == (mb.calls, mb.sms, mb.early_contacts)
    if "early_contact.channel" in overrides:
        assert vb.early_contacts > 0
    if "collection.reminders.schedule" in overrides:  # the call centre's capacity binds on some days
        calls = np.diff(vec.datacollector.get_model_vars_dataframe()["calls"].to_numpy())
        assert calls.max() == agents.call_capacity and (calls == agents.call_capacity).sum() >= 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        vs = vec.summary()
    for key, value in agents.summary().items():
        assert close(value, vs[key]), f"{key}: {value} vs {vs[key]}"


@pytest.mark.parametrize("key, value", [("shocks.job_loss_rate", 0.12), ("population.impulse_rate", 1.0),
                                        ("collection.tactics", ["reminders", "visits", "recovery"]),
                                        ("regulation.fee_cap", True)])
def test_a_scenario_outside_the_core_is_refused(key, value):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        mesa_agents.MesaCoreModel(borrowers=50, days=5, overrides={key: value})
