"""Regulation of pricing: the fee cap and the interest-rate cap, each on its own and over a run."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.mechanisms import loans
from sim.state import CASH, CYCLE, POS

from support import give_loan

FEE_DPD = 10
EMPTY = np.zeros(0, np.int64)


def small_run(days=240, borrowers=1500, **dotted):
    return sim.CreditModel(scenario="baseline", borrowers=borrowers, days=days, rng=5,
                           overrides={"simulation.burn_in": 0, **dotted})


def late_loans(m, rows, *, fees=0.0, instalment=300.0):
    """Loans on ``rows`` one instalment behind, reaching the fee DPD today (no randomness)."""
    for i in rows:
        give_loan(m, i, instalment=instalment, periods=6, next_due=m.day - FEE_DPD + CYCLE, share=0.8)
        m.people.amount_due[i] = instalment
        m.people.fees[i] = fees


def free_rows(m, k):
    return np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:k]


FEE_RULES = {"loans.fee_dpd": FEE_DPD, "loans.late_fee_share": 0.05, "regulation.max_late_fee_share": 0.03,
             "regulation.max_fees_share": 0.1}


def fee_model(model_factory, **dotted):
    return model_factory(**{"loans.fee_dpd": FEE_DPD, "loans.late_fee_share": 0.05,
                            "regulation.max_late_fee_share": 0.03, "regulation.max_fees_share": 0.1, **dotted})


# ---- fee cap ------------------------------------------------------------------------------------

@pytest.mark.parametrize("on", [True, False])
def test_a_late_fee_is_cut_to_the_per_fee_cap_only_when_the_rule_is_in_force(model_factory, on):
    m = fee_model(model_factory, **{"regulation.fee_cap": on})
    rows = free_rows(m, 3)
    late_loans(m, rows)
    before = m.contact_history.breaches["fee_cap"]
    loans.update(m, m.day, EMPTY)
    # 5 % of 300 would be 15; the cap allows 3 % of 300 = 9
    assert m.people.fees[rows] == pytest.approx([9.0 if on else 15.0] * 3)
    assert m.contact_history.breaches["fee_cap"] - before == (0 if on else 3)


def test_the_total_fee_cap_leaves_only_the_room_below_it(model_factory):
    m = fee_model(model_factory, **{"regulation.fee_cap": True})
    a, b, c = free_rows(m, 3)
    # principal 300 * 6 * 0.8 = 1440: the fees owed may reach 144
    late_loans(m, [a], fees=140.0)
    late_loans(m, [b], fees=144.0)
    late_loans(m, [c], fees=0.0)
    loans.update(m, m.day, EMPTY)
    assert m.people.fees[a] == pytest.approx(144.0)  # 4 of the 9 allowed
    assert m.people.fees[b] == pytest.approx(144.0)  # nothing more
    assert m.people.fees[c] == pytest.approx(9.0)
    assert m.contact_history.breaches["fee_cap"] == 0


def test_a_fee_within_both_caps_is_no_breach(model_factory):
    m = fee_model(model_factory, **{"regulation.fee_cap": False, "loans.late_fee_share": 0.03})
    rows = free_rows(m, 2)
    late_loans(m, rows)
    before = m.contact_history.breaches["fee_cap"]
    loans.update(m, m.day, EMPTY)
    assert m.people.fees[rows] == pytest.approx([9.0, 9.0])
    assert m.contact_history.breaches["fee_cap"] == before


def run_watching_fees(m):
    """Run to the end; return the largest excess of any loan's fees over 10 % of its principal, and
    the largest one-day rise of fees relative to the instalment."""
    ppl = m.people
    worst_total, worst_rise = -np.inf, 0.0
    while m.running:
        fees, loan = ppl.fees.copy(), ppl.loan_id.copy()
        m.step()
        same = ppl.has_loan & (ppl.loan_id == loan)
        worst_rise = max(worst_rise, float(((ppl.fees - fees)[same] / ppl.instalment[same]).max(initial=0.0)))
        held = ppl.has_loan
        worst_total = max(worst_total, float((ppl.fees[held] - 0.1 * ppl.principal[held]).max(initial=-np.inf)))
    return worst_total, worst_rise


def test_over_a_run_with_the_cap_no_loan_owes_fees_above_it_and_no_breach_is_counted():
    on = small_run(**{**FEE_RULES, "regulation.fee_cap": True, "loans.late_fee_share": 0.2})
    worst_total, worst_rise = run_watching_fees(on)
    assert worst_total <= 1e-6
    assert worst_rise <= 0.03 + 1e-9  # fees rise only by charges, each at most 3 % of the instalment
    assert on.summary()["breaches_fee_cap"] == 0

    off = small_run(**{**FEE_RULES, "regulation.fee_cap": False, "loans.late_fee_share": 0.2})
    worst_total, worst_rise = run_watching_fees(off)
    assert worst_rise > 0.03  # without the cap fees of 20 % of an instalment are charged ...
    assert off.summary()["breaches_fee_cap"] > 0  # ... and counted


# ---- interest-rate cap --------------------------------------------------------------------------

def annuity_payment(principal, annual_rate, months):
    r = annual_rate / 12.0
    return principal * r / (1.0 - (1.0 + r) ** -months)


@pytest.mark.parametrize("on", [True, False])
def test_a_product_priced_above_the_rate_cap_is_lent_at_the_cap(model_factory, on):
    # cash at 30 % a year is above a 24 % cap; point of sale at 12 % is below it
    m = model_factory(**{"regulation.rate_cap": on, "regulation.max_annual_rate": 0.24,
                         "products.cash.annual_rate": 0.30, "products.pos.annual_rate": 0.12})
    rows = free_rows(m, 60)
    before = m.contact_history.breaches["rate_cap"]
    loans.originate(m, rows, m.day)
    ppl, p = m.people, m.params.products
    cash, pos = rows[ppl.product[rows] == CASH], rows[ppl.product[rows] == POS]
    assert len(cash) and len(pos)
    cash_rate = 0.24 if on else 0.30
    assert ppl.instalment[cash] == pytest.approx(annuity_payment(ppl.principal[cash], cash_rate, p.cash.term_months))
    assert ppl.instalment[pos] == pytest.approx(annuity_payment(ppl.principal[pos], 0.12, p.pos.term_months))
    assert m.contact_history.breaches["rate_cap"] - before == (0 if on else len(cash))


def test_the_rate_cap_lowers_interest_income_and_counts_no_breach():
    res = {}
    for on in (True, False):
        m = small_run(days=200, **{"regulation.rate_cap": on, "regulation.max_annual_rate": 0.2})
        while m.running:
            m.step()
        res[on] = m.summary()
    assert res[True]["breaches_rate_cap"] == 0
    assert res[False]["breaches_rate_cap"] > 0  # cash loans at 30 % are made every month
    assert res[True]["interest_income"] < res[False]["interest_income"]


# ---- mandatory forbearance in a declared emergency ----------------------------------------------

EMERGENCY = {"regulation.emergency_start_day": 0, "regulation.emergency_days": 20, "loans.fee_dpd": FEE_DPD}


def test_forbearance_stops_ageing_and_fees_of_hardship_loans_in_the_window_only(model_factory):
    m = model_factory(**{**EMERGENCY, "regulation.forbearance": True})
    assert m.t0 == 0
    a, b = free_rows(m, 2)
    for i in (a, b):  # one instalment behind, 5 days past due on day 1
        give_loan(m, i, instalment=300.0, periods=6, next_due=1 - 5 + CYCLE)
        m.people.amount_due[i] = 300.0
    m.people.hardship_until[a], m.people.hardship_until[b] = 10**6, -1
    dpd = {a: [], b: []}
    for t in range(1, 41):  # the emergency is in force on days 0..19
        loans.update(m, t, EMPTY)
        for i in (a, b):
            dpd[i].append(int(m.people.dpd[i]))
        if t == 19:
            assert m.people.fees[a] == 0.0 and m.people.fees[b] > 0.0  # b was charged at 10 DPD
    assert dpd[b] == list(range(5, 45))  # ages day by day
    assert dpd[a][:19] == [4] * 19  # held still at its DPD of day 0, when the emergency began
    assert dpd[a][19:] == list(range(5, 26))  # ages again once it ends
    assert m.people.fees[a] > 0.0  # its fee falls due at 10 DPD, after the emergency
    assert m.contact_history.breaches["forbearance"] == 0


def test_without_forbearance_the_fees_and_calls_it_would_stop_are_counted(model_factory):
    m = model_factory(**{**EMERGENCY, "regulation.forbearance": False})
    a, b = free_rows(m, 2)
    late_loans(m, [a, b])
    m.people.hardship_until[a], m.people.hardship_until[b] = 10**6, -1
    t = m.day
    loans.update(m, t, EMPTY)
    assert m.people.fees[a] > 0.0 and m.contact_history.breaches["forbearance"] == 1

    from types import SimpleNamespace
    from sim import regulation
    call, sms = SimpleNamespace(reach="call"), SimpleNamespace(reach="message")
    allowed, breaches = regulation.admit(m, t, call, np.array([a, b]))
    assert allowed is None and list(breaches["forbearance"]) == [True, False]
    assert "forbearance" not in regulation.admit(m, t, sms, np.array([a, b]))[1]  # messages are allowed
    m.params.regulation.forbearance = True
    allowed, _ = regulation.admit(m, t, call, np.array([a, b]))
    assert list(allowed) == [False, True]
    assert regulation.admit(m, t + 20, call, np.array([a, b]))[0] is None  # the emergency is over


def test_over_a_run_forbearance_holds_every_hardship_loan_still_and_counts_no_breach():
    res = {}
    for on in (True, False):
        m = small_run(days=150, **{"regulation.forbearance": on, "regulation.emergency_start_day": 30,
                                   "regulation.emergency_days": 60, "shocks.job_loss_rate": 1.0})
        ppl, aged = m.people, 0
        while m.running:
            dpd, fees, loan = ppl.dpd.copy(), ppl.fees.copy(), ppl.loan_id.copy()
            m.step()
            t = m.day
            held = ppl.has_loan & (ppl.loan_id == loan) & (ppl.hardship_until >= t) & (dpd > 0)
            if 30 <= t - m.t0 < 90:
                aged += int(np.count_nonzero(held & ((ppl.dpd > dpd) | (ppl.fees > fees))))
        res[on] = aged, m.summary()
    assert res[True][0] == 0 and res[True][1]["breaches_forbearance"] == 0
    assert res[False][0] > 0 and res[False][1]["breaches_forbearance"] > 0


# ---- a rule switched on mid-run ------------------------------------------------------------------

def test_a_fee_cap_switched_on_from_a_given_day_counts_breaches_only_before_it():
    m = small_run(days=200, **FEE_RULES)
    while m.day < 100:
        m.step()
    before = m.contact_history.breaches["fee_cap"]
    assert before > 0  # 5 % fees break a 3 % cap while it is off
    m.params.regulation.fee_cap = True  # the policy changes on day 100: the rules read it every day
    fees, loan = m.people.fees.copy(), m.people.loan_id.copy()
    rises = []
    while m.running:
        fees, loan = m.people.fees.copy(), m.people.loan_id.copy()
        m.step()
        same = m.people.has_loan & (m.people.loan_id == loan)
        rises.append(float(((m.people.fees - fees)[same] / m.people.instalment[same]).max(initial=0.0)))
    assert m.contact_history.breaches["fee_cap"] == before
    assert max(rises) <= 0.03 + 1e-9


@pytest.mark.parametrize("annual_rate", [0.0, 1e-130, 1e-12, 1e-6])
def test_a_rate_capped_near_zero_lends_a_finite_instalment_close_to_interest_free(model_factory, annual_rate):
    m = model_factory(**{"regulation.rate_cap": True, "regulation.max_annual_rate": annual_rate})
    rows = free_rows(m, 20)
    loans.originate(m, rows, m.day)
    ppl, p = m.people, m.params.products
    term = np.where(ppl.product[rows] == CASH, p.cash.term_months, p.pos.term_months)
    assert np.isfinite(ppl.instalment[rows]).all()
    assert ppl.instalment[rows] == pytest.approx(ppl.principal[rows] / term, rel=1e-5)
    assert (ppl.balance[rows] >= ppl.principal[rows] - 1e-9).all()
