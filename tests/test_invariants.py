"""Invariants over randomised scenarios: money is conserved, nothing goes negative, DPD agrees with
arrears and due dates, a charged-off loan stays charged off."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.mechanisms import stress
from sim.state import CHARGED_OFF, CYCLE
from sim.tactics import registry

scenarios = st.fixed_dictionaries(
    {
        "collection.tone.harshness": st.floats(0.0, 1.0),
        "collection.tactics": st.lists(st.sampled_from(sorted(registry())), unique=True),
        "collection.plans.on_call": st.booleans(),
        "collection.plans.arrears_instalments": st.booleans(),
        "collection.plans.term_extension": st.booleans(),
        "collection.plans.require_hardship": st.booleans(),
        "collection.plans.false_hardship": st.floats(0.0, 1.0),
        "collection.plans.qualifying_payments": st.integers(1, 6),
        "collection.settlement.min_dpd": st.integers(1, 29),  # below the lowest loans.charge_off_dpd drawn
        "collection.settlement.discount": st.floats(0.0, 1.0),
        "collection.settlement.acceptance": st.floats(0.0, 1.0),
        "collection.bureau.report_dpd": st.integers(1, 29),  # below the lowest loans.charge_off_dpd drawn
        "collection.bureau.weight": st.floats(0.0, 5.0),
        "collection.visits.start_dpd": st.integers(5, 90),
        "education.enabled": st.booleans(),
        "early_contact.channel": st.booleans(),
        "simulation.burn_in": st.sampled_from([0, 7, 45]),
        "macro.recession.enabled": st.booleans(),
        "macro.recession.start_day": st.integers(0, 60),
        "macro.recession.severity": st.floats(0.0, 2.0),
        "loans.charge_off_dpd": st.integers(30, 150),
        "loans.late_fee_share": st.floats(0.0, 0.3),
        "shocks.job_loss_rate": st.floats(0.0, 1.0),
        "shocks.emergency_rate": st.floats(0.0, 3.0),
        "population.savings_months": st.floats(0.0, 3.0),
        "collection.recovery.pay_prob": st.floats(0.0, 1.0),
        "regulation.fee_cap": st.booleans(),
        "regulation.max_late_fee_share": st.floats(0.0, 0.3),
        "regulation.max_fees_share": st.floats(0.0, 1.0),
        "regulation.rate_cap": st.booleans(),
        "regulation.max_annual_rate": st.floats(0.0, 0.5),
        "regulation.forbearance": st.booleans(),
        "regulation.emergency_start_day": st.integers(0, 100),
        "regulation.emergency_days": st.integers(1, 120),
    }
)


def check(m, charged_off_ids, seen_banned):
    p, b, t = m.people, m.lender.books, m.day
    # money between borrowers and lender
    assert np.isclose(p.paid_total.sum(), b.received, rtol=1e-9, atol=1e-6)
    assert np.isclose(b.received, b.principal_repaid + b.interest_income + b.fee_income + b.recoveries, rtol=1e-9, atol=1e-6)
    outstanding = float(np.dot(p.balance, p.principal_share))
    assert np.isclose(b.disbursed, b.principal_repaid + b.credit_loss + b.settlement_discount + outstanding,
                      rtol=1e-9, atol=1e-6)
    assert np.isclose(p.received_total.sum(), b.disbursed, rtol=1e-9, atol=1e-6)
    # nothing negative
    for name in ("balance", "amount_due", "fees", "cash", "reserved", "co_balance", "stress", "trust"):
        assert (getattr(p, name) >= -1e-9).all(), name
    assert (p.stress <= 1).all() and (p.trust <= 1).all()
    assert (p.amount_due <= p.balance + 1e-6).all()
    # DPD agrees with arrears and due dates
    act = np.flatnonzero(p.has_loan)
    late = act[p.amount_due[act] > 0]
    assert (p.dpd[act[p.amount_due[act] <= 0]] == 0).all()
    missed = np.ceil(p.amount_due[late] / p.instalment[late] - 1e-9)
    oldest = p.next_due[late] - CYCLE * missed
    assert (p.dpd[late] == np.maximum(t - oldest, 0)).all()
    assert (p.dpd[act] <= t - np.minimum(p.orig_day[act], t)).all()
    assert (p.dpd[act] < m.params.loans.charge_off_dpd).all()
    # pricing caps in force hold on every loan
    reg = m.params.regulation
    if reg.fee_cap:
        assert (p.fees[act] <= reg.max_fees_share * p.principal[act] + 1e-6).all()
    for rule in ("fee_cap", "rate_cap", "forbearance"):
        assert not getattr(reg, rule) or m.contact_history.breaches[rule] == 0, rule
    # state kept incrementally equals its definition
    assert np.array_equal(m.stress_levels.current(m, t), stress.level(m, t))
    # a charged-off loan stays charged off
    led = m.ledger.table()
    assert len(np.unique(led["loan_id"])) == len(led["loan_id"])
    now_co = set(led["loan_id"][led["outcome"] == CHARGED_OFF].tolist())
    assert charged_off_ids <= now_co
    assert not set(p.loan_id[act].tolist()) & now_co
    assert seen_banned <= set(np.flatnonzero(p.banned).tolist())
    assert not p.has_loan[p.banned].any()
    return now_co, set(np.flatnonzero(p.banned).tolist())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=scenarios, seed=st.integers(0, 2**31 - 1))
def test_invariants_hold_every_day(overrides, seed):
    m = sim.CreditModel(scenario="baseline", borrowers=400, days=200, rng=seed, overrides=overrides)
    co, banned = set(), set()
    for _ in range(200):
        m.step()
        co, banned = check(m, co, banned)
