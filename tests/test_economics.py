"""The lender's economics (sim/accounting.py): IFRS 9 provisions loan by loan, the P&L reconciled to
the cash, costs, npv and the business lost through trust."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import accounting
from sim.mechanisms import acquisition, loans

from support import free_row, give_loan

PV = dict(pd1=0.03, pd2=0.35, pd3=0.95, lgd=0.75)  # the defaults, written out: tests below compute by hand


def provisions_of(m):
    return m.lender.provisions.allowance


def late_loan(m, dpd, *, instalment=300.0, periods=6, share=0.8, fees=0.0):
    """A loan on a free row that is ``dpd`` days past due with one instalment in arrears."""
    i = give_loan(m, free_row(m), instalment=instalment, periods=periods, share=share)
    m.people.amount_due[i] = instalment
    m.people.dpd[i] = dpd
    m.people.fees[i] = fees
    return i


# ---- the allowance of one loan, by stage -----------------------------------------------------------

@pytest.mark.parametrize("dpd, pd", [(0, PV["pd1"]), (29, PV["pd1"]), (30, PV["pd2"]), (89, PV["pd2"]),
                                     (90, PV["pd3"]), (119, PV["pd3"])])
def test_allowance_is_pd_of_the_stage_times_lgd_times_principal_part_and_fees(model_factory, dpd, pd):
    m = model_factory(borrowers=300)
    i = late_loan(m, dpd, fees=50.0)
    m.lender.provisions.update(m)
    # exposure: principal part of the balance (300 x 6 x 0.8 = 1440) plus the fees
    assert provisions_of(m)[i] == pytest.approx(pd * PV["lgd"] * (1440.0 + 50.0))


def test_no_loan_no_allowance_and_the_stock_is_the_sum(model_factory):
    m = model_factory(borrowers=300)
    m.lender.provisions.update(m)
    a = provisions_of(m)
    assert np.all(a[~m.people.has_loan] == 0.0)
    assert a[m.people.has_loan].min() > 0.0
    assert m.lender.books.provisions == pytest.approx(a.sum())


# ---- releases: cure, repayment; use at write-off ----------------------------------------------------

def test_cure_releases_the_lifetime_allowance_down_to_twelve_months(model_factory):
    m = model_factory(borrowers=300)
    i = late_loan(m, 45)
    pv = m.lender.provisions
    pv.update(m)
    before = m.lender.books.as_dict()
    m.people.amount_due[i], m.people.dpd[i] = 0.0, 0  # the borrower pays the arrears: current again
    pv.update(m)
    b = m.lender.books
    released = b.provision_released - before["provision_released"]
    assert released >= (PV["pd2"] - PV["pd1"]) * PV["lgd"] * 1440.0 - 1e-6
    assert pv.allowance[i] == pytest.approx(PV["pd1"] * PV["lgd"] * 1440.0)


def test_repayment_releases_the_whole_allowance(model_factory):
    m = model_factory(borrowers=300)
    i = give_loan(m, free_row(m))
    pv = m.lender.provisions
    pv.update(m)
    held = pv.allowance[i]
    released0 = m.lender.books.provision_released
    loans.close(m, np.array([i]), m.day, sim.state.REPAID)
    pv.update(m)
    assert held > 0 and pv.allowance[i] == 0.0
    assert m.lender.books.provision_released - released0 >= held - 1e-9


def test_write_off_uses_the_allowance_and_only_the_rest_is_a_new_loss(model_factory):
    m = model_factory(borrowers=300)
    i = late_loan(m, m.params.loans.charge_off_dpd)
    pv = m.lender.provisions
    pv.update(m)
    held = pv.allowance[i]
    b0 = m.lender.books.as_dict()
    m.prev_delinquent = np.array([i])
    loans.charge_off(m, m.day)
    b = m.lender.books
    assert b.charge_offs - b0["charge_offs"] == 1
    assert b.provision_used - b0["provision_used"] == pytest.approx(held)
    assert held == pytest.approx(PV["pd3"] * PV["lgd"] * 1440.0)
    # impairment = write-off + change in the allowance: only the part not provided for hits the P&L now
    assert b.impairment - (b0["credit_loss"] + b0["provisions"]) == pytest.approx(1440.0 - held)
    assert pv.allowance[i] == 0.0


# ---- the whole run: every unit of cash in one line; the allowance is charges - releases - uses -------

@pytest.fixture(scope="module", params=["baseline", "no_collection", "flexible_plans", "debt_sale", "moratorium"])
def run_books(request):
    m = sim.CreditModel(scenario=request.param, borrowers=2000, days=600, rng=5,
                        overrides={"simulation.burn_in": 60, "lender.discount_rate": 0.0})
    while m.running:
        m.step()
    return m


def test_cash_from_borrowers_is_principal_interest_fees_and_recoveries(run_books):
    b = run_books.lender.books
    assert b.received > 0 and b.charge_offs > 0
    assert b.received == pytest.approx(b.principal_repaid + b.interest_income + b.fee_income + b.recoveries, rel=1e-9)


def test_money_lent_is_repaid_written_off_or_still_outstanding(run_books):
    m = run_books
    b, ppl = m.lender.books, m.people
    outstanding = float((ppl.balance * ppl.principal_share)[ppl.has_loan].sum())
    assert b.credit_loss > 0
    assert b.disbursed == pytest.approx(b.principal_repaid + b.credit_loss + outstanding, rel=1e-9)


def test_allowance_is_charges_less_releases_less_uses_and_matches_the_open_book(run_books):
    m = run_books
    b = m.lender.books
    assert b.provision_used > 0 and b.provision_released > 0
    assert b.provisions == pytest.approx(b.provision_charged - b.provision_released - b.provision_used, rel=1e-9)
    assert b.provisions == pytest.approx(accounting.ecl(m.people, m.params.lender.provisions).sum(), rel=1e-9)


def test_profit_is_the_sum_of_its_lines_and_npv_at_zero_rate_is_the_window_profit(run_books):
    s = run_books.summary()
    dunning = s["collection_cost"] - (s["recoveries"] - s["recoveries_net"])
    lines = (s["interest_income"] + s["fee_income"] + s["recoveries_net"] + s["debt_sale_proceeds"] - s["impairment"]
             - dunning - s["origination_cost"] - s["education_cost"] - s["funding_cost"] - s["operating_cost"]
             - s["capital_cost"])
    assert s["profit"] == pytest.approx(lines, rel=1e-9)
    assert s["npv"] == pytest.approx(s["profit"], rel=1e-9)  # lender.discount_rate = 0
    assert s["provision_charge"] == pytest.approx(s["impairment"] - s["credit_loss"]
                                                  + (run_books.lender.books.provision_used
                                                     - run_books.window.books.provision_used), rel=1e-9)


def test_costs_accrue_per_open_loan_and_on_outstanding_principal(model_factory):
    m = model_factory(borrowers=300, **{"lender.operating_cost": 30.0, "lender.capital_ratio": 0.5,
                                        "lender.hurdle_rate": 0.365})
    b0 = m.lender.books.as_dict()
    open_loans = int(m.people.has_loan.sum())
    principal = float((m.people.balance * m.people.principal_share).sum())
    accounting.accrue_costs(m, loans.accrue_funding_cost(m, m.day))  # as the lender accrues them
    b = m.lender.books
    assert b.operating_cost - b0["operating_cost"] == pytest.approx(open_loans * 30.0 * 12 / 365)
    assert b.capital_cost - b0["capital_cost"] == pytest.approx(principal * 0.5 * 0.365 / 365)


def test_discounting_lowers_npv_below_profit_when_profit_is_positive(model_factory):
    s = {}
    for r in (0.0, 0.5):
        m = model_factory(borrowers=800, **{"lender.discount_rate": r, "simulation.burn_in": 30})
        m.days = m.t0 + 200
        while m.day < m.days:
            m.step()
        s[r] = m.summary()
    assert s[0.0]["profit"] == s[0.5]["profit"] > 0
    assert s[0.0]["npv"] == pytest.approx(s[0.0]["profit"])
    assert s[0.5]["npv"] < s[0.0]["npv"]


# ---- business lost through trust --------------------------------------------------------------------

def test_lost_applications_follow_the_application_formula_at_prior_trust(model_factory):
    m = model_factory(borrowers=400)
    ppl, b = m.people, m.lender.books
    idx = np.arange(ppl.n)
    ppl.trust[:] = 0.5 * ppl.trust_prior  # trust has fallen to half the prior
    now = acquisition.rate(m, idx)
    saved = ppl.trust.copy()
    ppl.trust[:] = ppl.trust_prior
    at_prior = acquisition.rate(m, idx)  # the same formula, evaluated at the prior
    ppl.trust[:] = saved
    accounting.applications_at_prior(m, idx, now, acquisition.elasticity(m, idx), acquisition.CLOCK_GROUPS)
    lost = b.expected_applications_prior - b.expected_applications
    assert lost == pytest.approx(acquisition.CLOCK_GROUPS * (at_prior - now).sum())
    assert lost > 0


def test_lost_business_value_is_zero_when_trust_stays_at_the_prior(model_factory):
    # nothing moves trust (no experiences, no word of mouth): the counterfactual is the actual market
    m = model_factory(borrowers=600, **{"trust.learning_rate": 0.0, "trust.word_of_mouth": 0.0,
                                         "simulation.burn_in": 5})
    m.days = m.t0 + 90
    while m.day < m.days:
        m.step()
    s = m.summary()
    assert s["lost_applications"] == pytest.approx(0.0, abs=1e-9)
    assert s["lost_business_value"] == pytest.approx(0.0, abs=1e-6)


# ---- whole model: collecting pays for itself: tests/test_directions.py (the status quo's npv above no
# collection, on the paired runs the other directions use)

# ---- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, key, says", [
    ('[lender.provisions]\npd_stage2 = 0.01\n', "lender.provisions.pd_stage2", "pd_stage1 <= pd_stage2 <= pd_stage3"),
    ('[lender.provisions]\nlgd = 1.5\n', "lender.provisions.lgd", "less than or equal to 1"),
    ('[lender]\noperating_cost = -1\n', "lender.operating_cost", "greater than or equal to 0"),
    ('[lender]\ndiscount_rate = "high"\n', "lender.discount_rate", ""),
])
def test_a_bad_economic_setting_is_one_line_exit_2(tmp_path, body, key, says):
    import subprocess
    import sys
    from pathlib import Path

    f = tmp_path / "s.toml"
    f.write_text(body)
    credsim = Path(sys.executable).with_name("credsim")
    res = subprocess.run([str(credsim), "run", str(f), "--borrowers", "100", "--days", "5"], capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{f}: {key}: ") and says in lines[0], res.stderr
