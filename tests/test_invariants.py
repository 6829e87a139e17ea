"""Invariants over randomised scenarios: money is conserved, nothing goes negative, DPD behaves as days
past the oldest unpaid due date (watched day by day, not recomputed), a charged-off loan stays charged off."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim import regulation
from sim.mechanisms import stress
from sim.state import CHARGED_OFF, CYCLE

EPS = 1e-9
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


def check_dpd(m, before):
    """DPD seen day by day, without the formula ``loans.update`` uses: a loan that was current yesterday
    is at most due today (0 DPD); one that was behind and paid nothing ages by one day (none while
    mandatory forbearance holds its clock, which moves due dates on); a payment that leaves arrears can only move the oldest
    unpaid due date forward by whole instalment cycles; no arrears, no DPD."""
    p, t = m.people, m.day
    act = np.flatnonzero(p.has_loan)
    assert (p.dpd[act[p.amount_due[act] <= 0]] == 0).all()
    assert (p.dpd[act] >= 0).all()
    if before is None:
        return
    same = act[(p.loan_id[act] == before["loan_id"][act]) & (p.amount_due[act] > 0)]  # same loan, still behind
    was_current = same[before["amount_due"][same] <= 0]
    assert (p.dpd[was_current] == 0).all(), "a loan current yesterday is more than due today"
    behind = same[before["amount_due"][same] > 0]
    paid = p.paid_total[behind] > before["paid_total"][behind] + EPS
    aged, got = before["dpd"][behind] + 1, p.dpd[behind]
    # forbearance moves due dates a day on: the instalment billed on an emergency's last day falls due the next
    held = m.params.regulation.forbearance and (regulation.in_emergency(m, t) or regulation.in_emergency(m, t - 1))
    unpaid = ~paid
    ok = (got[unpaid] == aged[unpaid]) | (held & (got[unpaid] == aged[unpaid] - 1))
    assert ok.all(), f"unpaid loans did not age by a day: {behind[unpaid][~ok][:5]}"
    step = aged[paid] - got[paid]
    ok = (step >= 0) & ((step % CYCLE == 0) | (held & (step % CYCLE == 1)))
    assert ok.all(), f"a payment moved DPD by part of a cycle: {behind[paid][~ok][:5]}"


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
    # DPD: never more than the loan's age, and below the charge-off DPD (check_dpd: day by day)
    act = np.flatnonzero(p.has_loan)
    assert (p.dpd[act] <= t - np.minimum(p.orig_day[act], t)).all()
    assert (p.dpd[act] < m.params.loans.charge_off_dpd).all()
    # pricing caps in force hold on every loan
    reg = m.params.regulation
    if reg.fee_cap:
        assert (p.fees[act] <= reg.max_fees_share * p.principal[act] + 1e-6).all()
    for rule in ("fee_cap", "rate_cap", "forbearance"):
        assert not getattr(reg, rule) or m.contact_history.breaches[rule] == 0, rule
    # every promise to pay is judged on its day, kept or broken, even on a loan closed since (none is lost
    # while a new loan cannot be taken out before a closed loan's pending promise falls due)
    pending = int(np.count_nonzero(p.promise_day > t))
    judged = b.promises_kept + b.promises_broken + pending
    if m.params.acquisition.cooldown_days >= m.params.collection.promises.days:
        assert b.promises == judged, (b.promises, b.promises_kept, b.promises_broken, pending)
    assert b.promises >= judged
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
    co, banned, before = set(), set(), None
    aged = 0
    for _ in range(200):
        m.step()
        co, banned = check(m, co, banned)
        check_dpd(m, before)
        p = m.people
        if before is not None:
            aged += int(np.count_nonzero(p.has_loan & (p.dpd > before["dpd"])))
        before = {"loan_id": p.loan_id.copy(), "amount_due": p.amount_due.copy(), "dpd": p.dpd.copy(),
                  "paid_total": p.paid_total.copy()}
    assert aged > 0 or not m.people.episodes.any()  # the day-by-day DPD checks saw loans age
