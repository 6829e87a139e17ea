"""Credit-bureau reporting (sim/tactics/bureau.py): reports, defaults, closed credit, refusals, and
the cost a borrower weighs before the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.mechanisms import loans, repayment, spending
from sim.tactics import DEFAULT, registry

from support import give_loan

CREDSIM = Path(sys.executable).with_name("credsim")
WITH_BUREAU = [t for t in registry() if t in DEFAULT or t == "bureau"]


def bureau_model(model_factory, **dotted):
    return model_factory(**{"collection.tactics": WITH_BUREAU, **dotted})


def test_the_shipped_scenario_lists_the_tactic():
    sc = sim.load_scenario("bureau_reporting")
    assert "bureau" in sc.collection.tactics
    assert set(sc.collection.tactics) - {"bureau"} == set(DEFAULT)


def test_every_loan_reaching_report_dpd_is_reported_exactly_once():
    m = sim.CreditModel(scenario="bureau_reporting", borrowers=2000, days=300, rng=4,
                        overrides={"simulation.burn_in": 0})
    while m.running:
        m.step()
    ppl, tac = m.people, m.tactics["bureau"]
    table = m.ledger.table(ppl, m.day)
    reached = table["day_dpd60"] >= 0  # the ledger's own milestone: first day at 60+ DPD (report_dpd = 60)
    assert reached.sum() > 10
    assert tac.counts["bureau_reports"] == int(reached.sum())  # once per loan, however long it stays 60+
    # a loan still held that was reported was reported on the day it first reached 60 DPD
    held = np.flatnonzero(ppl.has_loan & (ppl.reported_loan == ppl.loan_id))
    assert len(held) and np.array_equal(ppl.reported_day[held], ppl.day_dpd60[held])
    # nobody with a reported delinquency got a new loan afterwards (underwriting checks the bureau)
    reported_on = dict(zip(np.flatnonzero(ppl.reported_day >= 0), ppl.reported_day[ppl.reported_day >= 0]))
    later = [p for p, day in zip(table["person"], table["orig_day"]) if p in reported_on and day > reported_on[p]]
    assert later == []


def test_a_second_loan_of_the_same_person_is_reported_again(model_factory):
    m = bureau_model(model_factory)
    m.step()
    i = int(np.flatnonzero(~m.people.has_loan & ~m.people.banned)[0])
    give_loan(m, i)
    tac, t = m.tactics["bureau"], m.day
    m.people.amount_due[i], m.people.dpd[i] = 600.0, 60
    m.prev_delinquent = np.array([i])
    tac.after_payments(t)
    tac.after_payments(t + 1)
    assert tac.counts["bureau_reports"] == 1 and m.people.reported_day[i] == t
    # FCRA: seven years from 180 days after the delinquency began (60 days ago)
    assert m.people.record_until[i] == t - 60 + 180 + 2555
    m.people.loan_id[i] += 1  # a new loan on the same row
    tac.after_payments(t + 2)
    assert tac.counts["bureau_reports"] == 2


@pytest.mark.parametrize("other_debt", [True, False])
def test_a_charge_off_reports_a_default_and_closes_other_credit(model_factory, other_debt):
    m = bureau_model(model_factory, **{"collection.bureau.line_months": 0.5, "collection.bureau.closed_stress": 0.2})
    m.step()
    ppl, tac = m.people, m.tactics["bureau"]
    i = int(np.flatnonzero(~ppl.has_loan & ~ppl.banned)[0])
    give_loan(m, i)
    ppl.other_dsti[i] = 0.2 if other_debt else 0.0
    ppl.income[i], ppl.cash[i] = 1000.0, 5000.0
    ppl.amount_due[i], ppl.dpd[i] = 900.0, 120
    m.prev_delinquent = np.array([i])
    m._drain_experiences()
    t = m.day
    loans.charge_off(m, t)
    assert ppl.banned[i] and not ppl.has_loan[i]
    spending.settle(m, np.array([i]), t)
    cash = ppl.cash[i]
    tac.recover(t)
    tac.recover(t)  # the same charge-off is reported once
    assert ppl.default_reported[i] and tac.counts["bureau_defaults"] == 1
    (s_idx, s_val), _ = m._drain_experiences()
    closure = s_val[(s_idx == i) & np.isclose(s_val, 0.2)]
    if other_debt:
        assert ppl.credit_closed[i] and tac.counts["other_credit_closed"] == 1
        assert ppl.cash[i] == pytest.approx(cash - 0.5 * 1000.0)  # the undrawn lines are gone
        assert len(closure) == 1
    else:
        assert not ppl.credit_closed[i] and tac.counts["other_credit_closed"] == 0
        assert ppl.cash[i] == cash and len(closure) == 0


def test_underwriting_refuses_applicants_with_a_record(model_factory):
    m = bureau_model(model_factory)
    m.step()
    tac, t = m.tactics["bureau"], m.day
    a, b = 5, 6
    m.people.record_until[a] = t + 10
    m.people.record_until[b] = t - 1  # the item has aged off the file
    assert list(tac.screen(np.array([a, b]), t)) == [b]
    assert tac.counts["bureau_refused"] == 1
    assert list(m.tactics.screen(np.array([a, b]), t)) == [b]
    off = bureau_model(model_factory, **{"collection.bureau.refuse_records": False})
    off.people.record_until[a] = t + 10
    assert list(off.tactics.screen(np.array([a, b]), t)) == [a, b]


def _willingness(m, i, *, dpd, other, understanding=0.8):
    ppl = m.people
    ppl.dpd[i], ppl.amount_due[i] = dpd, 300.0 if dpd else 0.0
    ppl.other_dsti[i] = other
    ppl.understanding[i] = understanding
    return float(repayment.willingness(m, np.array([i]), m.day)[0])


def test_borrowers_with_other_credit_are_more_willing_as_the_report_nears(model_factory):
    m = bureau_model(model_factory)
    m.step()
    i = int(np.flatnonzero(~m.people.has_loan & ~m.people.banned)[0])
    give_loan(m, i)
    near_with = _willingness(m, i, dpd=50, other=0.2)
    near_without = _willingness(m, i, dpd=50, other=0.0)
    assert near_with > near_without
    assert _willingness(m, i, dpd=90, other=0.2) > _willingness(m, i, dpd=90, other=0.0)  # the default report to come
    assert _willingness(m, i, dpd=10, other=0.2) == _willingness(m, i, dpd=10, other=0.0)  # not yet noticed
    # who does not understand the contract does not weigh it, and who has lost their credit has nothing to lose
    assert _willingness(m, i, dpd=50, other=0.2, understanding=0.0) == _willingness(m, i, dpd=50, other=0.0, understanding=0.0)
    m.people.credit_closed[i] = True
    assert _willingness(m, i, dpd=50, other=0.2) == pytest.approx(near_without)


def test_no_willingness_term_when_the_tactic_is_not_listed(model_factory):
    m = model_factory()  # the baseline: no bureau
    m.step()
    i = int(np.flatnonzero(~m.people.has_loan & ~m.people.banned)[0])
    give_loan(m, i)
    assert _willingness(m, i, dpd=50, other=0.2) == _willingness(m, i, dpd=50, other=0.0)
    assert m.tactics.willingness(np.array([i]), m.day) == 0.0


def test_the_cost_weighed_makes_borrowers_near_the_report_pay_more_often():
    """Mechanism level, paired: the same run with and without the weight, the same people deciding."""
    def run(weight):
        m = sim.CreditModel(scenario="bureau_reporting", borrowers=1500, days=200, rng=7,
                            overrides={"simulation.burn_in": 0, "collection.bureau.weight": weight})
        paid = []
        while m.running:
            m.step()
            ppl = m.people
            near = np.flatnonzero(ppl.has_loan & (ppl.dpd >= 30) & (ppl.other_dsti > 0))
            paid.append(float(repayment.willingness(m, near, m.day).mean()) if len(near) else np.nan)
        return np.array(paid)

    on, off = run(3.0), run(0.0)
    both = ~np.isnan(on) & ~np.isnan(off)
    assert both.sum() > 50
    assert np.mean(on[both]) > np.mean(off[both])


@pytest.mark.parametrize("command", ["validate", "run"])
def test_report_dpd_at_or_past_charge_off_is_one_line_exit_2(tmp_path, command):
    f = tmp_path / "s.toml"
    f.write_text('extends = "bureau_reporting.toml"\n[collection.bureau]\nreport_dpd = 120\n')
    out = tmp_path / "out"
    args = [str(CREDSIM), command, str(f)]
    if command == "run":
        args += ["--borrowers", "100", "--days", "5", "--out", str(out)]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"{f}: collection.bureau.report_dpd: ") and "charge_off_dpd (120)" in lines[0]
    assert not out.exists()
