"""The Python API: sim.run, sim.load_scenario, CreditModel with Mesa's own tools."""

from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

import sim
from sim.metrics import DAILY, SUMMARY_KEYS
from sim.scenario import shipped_scenarios

SHIPPED = {"baseline", "no_collection", "reminders_only", "humane_visits", "flexible_plans", "education",
           "improvement_package", "recession"}


def test_every_required_scenario_ships_and_loads():
    names = {p.stem for p in shipped_scenarios()}
    assert SHIPPED <= names
    for p in shipped_scenarios():
        sc = sim.load_scenario(p)
        assert sc.name == p.stem and sc.description


def test_extends_overrides_only_what_differs():
    base, humane = sim.load_scenario("baseline"), sim.load_scenario("humane_visits")
    assert humane.collection.tone.harshness < base.collection.tone.harshness
    assert humane.collection.visits == base.collection.visits
    assert base.collection.visits.start_dpd == 30 and "visits" in base.collection.tactics
    assert "plans" not in base.collection.tactics and not base.education.enabled


def test_a_file_extends_a_shipped_scenario_by_name_or_file_name(tmp_path):
    """extends = "baseline" works as credsim run baseline does (it was 'not found'), as "baseline.toml" does."""
    base = sim.load_scenario("baseline")
    for parent in ("baseline", "baseline.toml"):
        f = tmp_path / f"mine_{parent.replace('.', '_')}.toml"
        f.write_text(f'extends = "{parent}"\nname = "mine"\n[collection.visits]\nstart_dpd = 45\n')
        sc = sim.load_scenario(f)
        assert sc.collection.visits.start_dpd == 45 and sc.collection.tactics == base.collection.tactics


def test_run_returns_summary_and_daily_series():
    r = sim.run("baseline", borrowers=800, days=40, seed=3,
                overrides={"collection.visits.start_dpd": 45, "simulation.burn_in": 25})
    assert list(r.summary) == SUMMARY_KEYS
    # every day of the run: the set-up (day 0), 25 days of burn-in, then the 40 days of the window
    assert isinstance(r.daily, pd.DataFrame) and len(r.daily) == 66
    assert set(DAILY) <= set(r.daily.columns)
    assert r.scenario.collection.visits.start_dpd == 45
    assert r.daily["day"].tolist() == list(range(66))
    assert r.daily["burn_in"].tolist() == [True] * 25 + [False] * 41
    assert r.daily["window_day"].tolist() == list(range(-25, 41))


def test_run_accepts_a_path_and_a_loaded_scenario():
    path = Path(sim.__file__).resolve().parent.parent / "scenarios" / "baseline.toml"
    a = sim.run(path, borrowers=500, days=20, seed=1).summary
    b = sim.run(sim.load_scenario(path), borrowers=500, days=20, seed=1).summary
    assert pd.Series(a).equals(pd.Series(b))  # NaN (an undefined metric) equals NaN here


def test_bad_override_is_a_scenario_error():
    with pytest.raises(sim.ScenarioError, match="collection.visits.start_dpd"):
        sim.run("baseline", borrowers=100, days=5, overrides={"collection.visits.start_dpd": -3})
    with pytest.raises(sim.ScenarioError, match="unknown parameter"):
        sim.run("baseline", borrowers=100, days=5, overrides={"collection.visits.nonsense": 1})


def test_mesa_batch_run_works_with_dotted_parameters():
    rows = mesa.batch_run(
        sim.CreditModel,
        parameters={"scenario": "baseline", "borrowers": 400, "days": 20, "collection.visits.start_dpd": [30, 60]},
        rng=[1, 2],
        max_steps=20,
        number_processes=1,
        display_progress=False,
    )
    df = pd.DataFrame(rows)
    assert len(df) == 4 and {"default_rate", "mean_stress", "brand_trust"} <= set(df.columns)
    assert (df["Step"] == 20).all()


def test_model_stops_after_its_days_and_shows_borrowers():
    m = sim.CreditModel(scenario="baseline", borrowers=300, days=10, rng=2, overrides={"simulation.burn_in": 5})
    while m.running:
        m.step()
    assert m.day == 15 and m.t0 == 5  # the burn-in, then the window
    with_loan = int(m.people.has_loan.nonzero()[0][0])
    b = m.borrower(with_loan)
    assert b.has_loan and b.state in {"current", "on plan", "1-29 DPD", "30-59 DPD", "60-89 DPD", "90+ DPD"}
    assert b.as_dict()["id"] == with_loan
    assert len(m.agents) == 1  # the lender is the only Mesa agent; borrowers are arrays


def test_a_scenario_anywhere_can_extend_a_shipped_one(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('extends = "baseline.toml"\n[collection.visits]\nstart_dpd = 45\n')
    sc = sim.load_scenario(f)
    assert sc.collection.visits.start_dpd == 45 and sc.name == "mine"


def test_vintage_curves_of_a_hand_built_book():
    """Window from day 11 (t0 = 10), run to day 110; cohorts of 30 origination days. Cohort 0 (days
    11-40) is seen for months 0-2, cohort 1 (41-70) for 0-1, cohort 2 (71-100) for month 0 only."""
    from types import SimpleNamespace

    from sim.metrics import vintages
    from sim.state import ACTIVE, CHARGED_OFF, LEDGER_FIELDS, REPAID, LoanLedger, People

    book = [  # (orig_day, end_day, outcome)
        (5, 20, CHARGED_OFF),  # booked in the burn-in: in no cohort
        (11, 50, CHARGED_OFF),  # cohort 0, 39 days on book: month 1
        (20, 45, CHARGED_OFF),  # cohort 0, 25 days: month 0
        (40, 60, REPAID),  # cohort 0
        (35, 100, CHARGED_OFF),  # cohort 0, 65 days: month 2
        (41, 80, CHARGED_OFF),  # cohort 1, 39 days: month 1
        (70, 110, ACTIVE),  # cohort 1
        (100, 105, CHARGED_OFF),  # cohort 2, 5 days: month 0
        (105, 110, ACTIVE),  # cohort 3: not yet a whole month old
    ]
    chunk = {k: np.zeros(len(book), v) for k, v in LEDGER_FIELDS.items()}
    chunk["loan_id"] = np.arange(len(book))
    for k, (orig, end, outcome) in enumerate(book):
        chunk["orig_day"][k], chunk["end_day"][k], chunk["outcome"][k] = orig, end, outcome
    model = SimpleNamespace(t0=10, day=110, people=People(0), ledger=LoanLedger([chunk]))
    v = vintages(model)
    got = {(int(r.cohort), int(r.months_on_book)): (int(r.loans), r.charged_off) for r in v.itertuples()}
    assert got == {(0, 0): (4, 0.25), (0, 1): (4, 0.5), (0, 2): (4, 0.75),
                   (1, 0): (2, 0.0), (1, 1): (2, 0.5),
                   (2, 0): (1, 1.0)}


def test_vintage_curves_agree_with_the_loan_table():
    r = sim.run("recession", borrowers=3000, days=400, seed=4, overrides={"simulation.burn_in": 0})
    v, loans = r.vintages, r.loans
    assert not v.empty
    booked = loans[loans["orig_day"] > 0]
    cohort = (booked["orig_day"] - 1) // 30
    for c, g in v.groupby("cohort"):
        mine = booked[cohort == c]
        assert (g["loans"] == len(mine)).all()
        assert g["months_on_book"].tolist() == list(range(len(g)))
        curve = g["charged_off"].to_numpy()
        assert (np.diff(curve) >= 0).all()  # cumulative
        assert curve[-1] <= (mine["outcome"] == "charged_off").mean() + 1e-12  # bounded by the final share
        # the share charged off within m + 1 months, counted loan by loan from the table
        for m_on_book, share in zip(g["months_on_book"], curve):
            within = sum(1 for o, e, out in zip(mine["orig_day"], mine["end_day"], mine["outcome"])
                         if out == "charged_off" and e - o < 30 * (m_on_book + 1))
            assert share == pytest.approx(within / len(mine))
    assert v["charged_off"].max() > 0
