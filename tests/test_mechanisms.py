"""Each mechanism on its own: set up a situation by hand, apply one mechanism, check what it did."""

import numpy as np
import pytest

from sim.mechanisms import (
    acquisition,
    early_contact,
    education,
    income,
    loans,
    macro,
    repayment,
    stress,
    trust,
)
from sim.state import CHARGED_OFF, CYCLE
from sim.tactics import DEFAULT, plans

from support import free_row, give_loan

WITH_PLANS = [*DEFAULT, "plans"]


def advance_to(model, t):
    model.day = t


def test_pre_due_sms_restores_attention(model_factory):
    m = model_factory("reminders_only")
    advance_to(m, 50)
    i = give_loan(m, free_row(m), next_due=53)
    m.people.attention[i], m.people.attention_day[i] = 0.9, 0  # long ago: decayed to the floor
    hl = m.params.repayment.attention_halflife
    before = m.people.attention_now(np.array([i]), 50, hl)[0]
    m.tactics["reminders"].collect(50)
    after = m.people.attention_now(np.array([i]), 50, hl)[0]
    assert before < 0.3
    assert after == pytest.approx(m.params.collection.reminders.sms_attention)
    assert m.lender.books.sms >= 1


def test_disabled_reminders_send_nothing(model_factory):
    m = model_factory("no_collection")
    advance_to(m, 50)
    give_loan(m, free_row(m), next_due=53)
    m.tactics.run("collect", 50)  # the tactics the scenario lists
    assert m.lender.books.sms == 0 and m.lender.books.calls == 0


def test_attention_raises_willingness(model_factory):
    m = model_factory()
    idx = np.arange(50)
    m.people.attention_day[idx] = 10
    m.people.attention[idx] = 0.2
    low = repayment.willingness(m, idx, 10)
    m.people.attention[idx] = 0.9
    high = repayment.willingness(m, idx, 10)
    assert np.all(high > low)


def test_missed_instalment_ages_and_payment_cures(model_factory):
    m = model_factory(**{"loans.fee_dpd": 5, "loans.late_fee_share": 0.1})
    i = give_loan(m, free_row(m), next_due=m.day + 1)  # 6 instalments of 300, the first due on day 1
    m.people.cash[i] = m.people.reserved[i] = 0.0
    m.prev_delinquent = m.people.delinquent()
    for t in range(m.day + 1, m.day + 8):
        m.day = t
        loans.bill(m, t)
        loans.update(m, t, np.zeros(0, np.int64))
    assert m.people.amount_due[i] == pytest.approx(300.0)
    assert m.people.dpd[i] == 6  # day 7, due on day 1
    assert m.people.fees[i] == pytest.approx(30.0)  # 10 % of the instalment, at 5 DPD
    t = m.day + 1
    m.day = t
    fee_income = m.lender.books.fee_income
    paid = loans.pay(m, np.array([i]), np.array([1e9]))
    m.people.cash[i] = 0.0
    loans.update(m, t, np.array([i]))
    assert paid[0] == pytest.approx(330.0)  # the missed instalment, then the fee
    assert m.people.balance[i] == pytest.approx(1500.0) and m.people.fees[i] == 0.0
    assert m.lender.books.fee_income - fee_income == pytest.approx(30.0)
    assert m.people.dpd[i] == 0 and m.people.amount_due[i] == 0.0
    assert m.lender.books.cures >= 1


def test_dpd_counts_days_since_the_oldest_unpaid_instalment_fell_due(model_factory):
    """Instalments of 300 due on days 1 and 31, both unpaid; then 300, 150 and 150 paid on days 41-43.
    Payments clear the oldest instalment first, so DPD is counted from day 1, then from day 31."""
    m = model_factory()
    p = m.people
    i = give_loan(m, free_row(m), next_due=1)
    p.cash[i], p.reserved[i] = 1e6, 0.0
    m.prev_delinquent = p.delinquent()
    nobody = np.zeros(0, np.int64)
    seen = {}
    for t, pay in [*((t, 0.0) for t in range(1, 41)), (41, 300.0), (42, 150.0), (43, 150.0)]:
        m.day = t
        loans.bill(m, t)
        if pay:
            loans.pay(m, np.array([i]), np.array([pay]))
        loans.update(m, t, np.array([i]) if pay else nobody)
        seen[t] = int(p.dpd[i])
    assert [seen[t] for t in (1, 2, 30, 31, 40)] == [0, 1, 29, 30, 39]
    assert seen[41] == 10  # the day-1 instalment is paid: the oldest unpaid fell due on day 31
    assert seen[42] == 11  # half of the day-31 instalment is still unpaid
    assert seen[43] == 0 and p.amount_due[i] == 0.0


def test_late_fee_charged_once_at_fee_dpd(model_factory):
    m = model_factory()
    fee_dpd = m.params.loans.fee_dpd
    i = give_loan(m, free_row(m), next_due=m.day + 1)
    start = m.day
    m.prev_delinquent = m.people.delinquent()
    for t in range(start + 1, start + 2 + fee_dpd + 5):
        m.day = t
        loans.bill(m, t)
        loans.update(m, t, np.zeros(0, np.int64))
    assert m.people.fees[i] == pytest.approx(m.params.loans.late_fee_share * 300.0)


def test_charge_off_at_configured_dpd(model_factory):
    m = model_factory(**{"loans.charge_off_dpd": 60})
    i = give_loan(m, free_row(m), next_due=m.day + 1)
    start = m.day
    m.prev_delinquent = m.people.delinquent()
    for t in range(start + 1, start + 63):
        m.day = t
        loans.bill(m, t)
        loans.update(m, t, np.zeros(0, np.int64))
        loans.charge_off(m, t)
        if not m.people.has_loan[i]:
            break
    assert not m.people.has_loan[i]
    assert m.people.banned[i] and m.people.co_balance[i] > 0
    led = m.ledger.table()
    rec = led["loan_id"] == 10**6 + i
    assert led["outcome"][rec][0] == CHARGED_OFF
    assert led["end_day"][rec][0] - (start + 1) == 60


def test_term_extension_plan_lowers_the_instalment(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.arrears_instalments": False,
                         "collection.plans.payment_holiday": False})
    i = give_loan(m, free_row(m), instalment=300.0, periods=6)
    m.people.amount_due[i] = 600.0  # two instalments behind
    m.people.fees[i] = 30.0
    m.people.dpd[i] = 35
    plans.restructure(m, np.array([i]), m.day)
    assert m.people.instalment[i] < 300.0
    assert m.people.amount_due[i] == 0.0 and m.people.dpd[i] == 0
    assert m.people.fees[i] == 0.0  # fee waiver is on
    assert m.people.balance[i] == pytest.approx(1800.0)  # nothing forgiven but fees
    assert m.people.on_plan[i]


def test_payment_holiday_only_for_the_unemployed(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS})
    a, b = np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:2]
    for i in (a, b):
        give_loan(m, i)
        m.people.amount_due[i] = 300.0
    m.people.employed[a], m.people.employed[b] = False, True
    plans.restructure(m, np.array([a, b]), m.day)
    hol = m.params.collection.plans.holiday_months
    assert m.people.next_due[a] == m.day + CYCLE * (1 + hol)
    assert m.people.next_due[b] == m.day + CYCLE


def test_plans_need_hardship_when_required(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS})
    a, b = np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:2]
    for i in (a, b):
        give_loan(m, i)
    m.people.hardship_until[a] = m.day + 10
    m.people.hardship_until[b] = m.day - 1
    assert list(plans.eligible(m, np.array([a, b]), m.day)) == [a]


def test_broken_plan_counts_as_redefault(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.break_dpd": 10})
    i = give_loan(m, free_row(m), next_due=m.day + 1)
    m.people.on_plan[i] = True
    m.prev_delinquent = m.people.delinquent()
    for t in range(m.day + 1, m.day + 13):
        m.day = t
        loans.bill(m, t)
        loans.update(m, t, np.zeros(0, np.int64))
    assert not m.people.on_plan[i]
    assert m.lender.books.plans_broken == 1


@pytest.mark.parametrize("harsh,gentle", [(1.0, 0.0)])
def test_harsh_visit_costs_more_stress_and_trust(model_factory, harsh, gentle):
    deltas = {}
    for h in (harsh, gentle):
        m = model_factory(**{"collection.tone.harshness": h, "population.address_unverifiable": 0.0,
                             "collection.visits.verify_prob": 1.0})
        i = give_loan(m, free_row(m))
        m.people.amount_due[i] = 300.0
        m.people.dpd[i] = 40
        m.prev_delinquent = np.array([i])
        m.people.stress[i] = 0.0  # no avoidance: the collector finds the borrower
        m.people.contact_load[i] = 0.0
        m.people.trust[:] = 0.6
        m._drain_experiences()
        m.tactics["visits"].collect(m.day)
        (si, sv), (ti, tq, tw) = m._drain_experiences()
        trust.step(m, m.day, ti, tq, tw)
        deltas[h] = (sv[si == i].sum(), m.people.trust[i] - 0.6)
        assert m.lender.books.visits_completed == 1
    assert deltas[harsh][0] > deltas[gentle][0] > 0
    assert deltas[harsh][1] < 0 < deltas[gentle][1]


def test_visit_capacity_and_queue(model_factory):
    m = model_factory(**{"collection.visits.capacity": 5.0})  # 600 people -> 3 visits a day
    rows = np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:10]
    for i in rows:
        give_loan(m, i)
        m.people.amount_due[i] = 300.0
        m.people.dpd[i] = 31
    m.prev_delinquent = rows
    m.tactics["visits"].collect(m.day)
    assert m.lender.books.visits_attempted == m.lender.visit_capacity == 3
    assert m.visit_queue == 7


def test_unverifiable_address_means_no_completed_visit(model_factory):
    m = model_factory(**{"population.address_unverifiable": 1.0})
    i = give_loan(m, free_row(m))
    m.people.amount_due[i], m.people.dpd[i] = 300.0, 45
    m.prev_delinquent = np.array([i])
    m.tactics["visits"].collect(m.day)
    assert m.lender.books.visits_attempted == 1 and m.lender.books.visits_completed == 0


def test_stress_returns_to_the_personal_baseline_and_jumps(model_factory):
    m = model_factory()
    p = m.people
    p.has_loan[:] = False
    p.instalment[:] = p.amount_due[:] = p.co_balance[:] = p.other_dsti[:] = 0.0
    p.employed[:] = True
    p.stress[:] = 0.9
    for t in range(int(12 * m.params.stress.halflife)):
        stress.step(m, t, np.zeros(0, np.int64), np.zeros(0))
    assert np.allclose(p.stress, p.stress_base, atol=0.01)
    assert p.stress_base.std() > 0.05  # people differ lastingly
    p.stress[0] = 0.2
    stress.step(m, 1000, np.array([0]), np.array([0.5]))
    assert p.stress[0] > 0.65


def test_arrears_strain_lasts_while_behind_and_lifts_when_the_debt_clears(model_factory):
    m = model_factory(**{"stress.arrears_strain": 0.2, "stress.debt_strain": 0.0, "stress.unemployed_strain": 0.0})
    p = m.people
    i = give_loan(m, free_row(m))
    p.employed[i] = True
    p.amount_due[i] = 300.0
    p.stress[i] = p.stress_base[i]
    none = (np.zeros(0, np.int64), np.zeros(0))
    for t in range(1, 400):
        stress.step(m, t, *none)
    assert p.stress[i] == pytest.approx(min(p.stress_base[i] + 0.2, 1.0), abs=0.01)
    p.amount_due[i] = 0.0  # paid up: relief
    for t in range(400, 800):
        stress.step(m, t, *none)
    assert p.stress[i] == pytest.approx(p.stress_base[i], abs=0.01)


def test_negative_word_of_mouth_travels_further(model_factory):
    m = model_factory()
    p = m.people
    speaker = 0
    ties = np.unique(p.neighbors[speaker])
    ties = ties[ties != speaker]
    p.trust_prior[:] = 0.5
    p.trust[:] = 0.5
    trust.step(m, 1, np.array([speaker]), np.array([0.1]), np.array([1.0]))  # a story 0.4 worse than expected
    drop = 0.5 - p.trust[ties]
    p.trust[:] = 0.5
    trust.step(m, 1, np.array([speaker]), np.array([0.9]), np.array([1.0]))  # 0.4 better
    rise = p.trust[ties] - 0.5
    assert np.all(drop > rise) and np.all(rise > 0)


def test_trust_learns_against_expectation_not_by_tally(model_factory):
    m = model_factory()
    p = m.people
    p.trust_prior[:] = p.trust[:] = 0.5
    a, b = 0, 1
    p.trust[a], p.trust[b] = 0.9, 0.2
    q = m.params.trust.harsh_visit_quality
    trust.step(m, 1, np.array([a, b]), np.array([q, q]), np.array([1.0, 1.0]))
    lr = m.params.trust.learning_rate
    # the same harsh visit: a trusting person loses much, a distrustful one little
    assert 0.9 - p.trust[a] == pytest.approx(lr * (0.9 - q), rel=0.05)
    assert 0.2 - p.trust[b] == pytest.approx(lr * (0.2 - q), rel=0.05)
    # repeated experiences converge on what they show instead of adding up without bound
    for t in range(2, 200):
        trust.step(m, t, np.array([a]), np.array([q]), np.array([1.0]))
    assert p.trust[a] == pytest.approx(q, abs=0.05)


def test_applications_follow_trust(model_factory):
    counts = []
    for level in (0.3, 0.9):
        m = model_factory(borrowers=5000, seed=11)
        m.people.trust[:] = level
        for t in range(1, 31):
            acquisition.step(m, t)
        counts.append(m.lender.books.applications)
    assert counts[1] > 2 * counts[0]


def test_underwriting_cutoff_declines_low_scores(model_factory):
    m = model_factory(borrowers=3000, **{"acquisition.cutoff": 0.6})
    before = m.people.has_loan.copy()
    for t in range(1, 60):
        acquisition.step(m, t)
    new = m.people.has_loan & ~before
    assert new.any()
    assert np.all(m.people.score[new] >= m.score_threshold)


def test_education_raises_literacy_at_origination(model_factory):
    m = model_factory("education", **{"acquisition.cutoff": 0.0, "acquisition.application_rate": 50.0})
    ppl = m.people
    free = ~ppl.has_loan & ~ppl.banned & ~ppl.educated & (ppl.cooldown_until <= 1)
    lit, und, bias = ppl.literacy.copy(), ppl.understanding.copy(), ppl.present_bias.copy()
    cost0 = m.lender.books.education_cost
    acquisition.step(m, 1)  # step 8: applications, underwriting, origination (everyone approved)
    new = free & ppl.has_loan
    assert 20 < new.sum() < free.sum()  # one clock group applies today
    ed = m.params.education
    gain = ed.literacy_gain * (1.0 - lit[new])  # closes that share of the gap to 1
    assert ppl.literacy[new] == pytest.approx(lit[new] + gain)
    assert np.all(ppl.understanding[new] > und[new])
    assert ppl.present_bias[new] == pytest.approx(bias[new] * (1.0 - ed.present_bias_reduction))
    assert np.array_equal(ppl.literacy[~new], lit[~new])  # nobody else
    assert m.lender.books.education_cost - cost0 == pytest.approx(new.sum() * ed.cost)
    rows = np.flatnonzero(new)
    lit2 = ppl.literacy[rows].copy()
    education.at_origination(m, rows)  # once only
    assert np.array_equal(lit2, ppl.literacy[rows])


def test_early_contact_channel_brings_calls(model_factory):
    got = []
    for channel in (False, True):
        m = model_factory(borrowers=3000, **{"early_contact.channel": channel})
        rows = np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:400]
        for i in rows:
            give_loan(m, i, next_due=m.day + m.params.early_contact.horizon_days, instalment=1e6)
        m.people.stress[rows] = 0.2
        early_contact.step(m, m.day)
        got.append(m.lender.books.early_contacts)
    assert got[1] > 3 * got[0] and got[1] > 0


def test_job_loss_cuts_pay(model_factory):
    m = model_factory(borrowers=4000)
    m.people.employed[:2000] = False
    m.people.employed[2000:] = True
    before = m.people.income_received.copy()
    for t in range(1, 31):
        income.pay_day(m, t)
    got = m.people.income_received - before
    assert got[:2000] == pytest.approx(m.people.income[:2000] * m.people.benefit[:2000], rel=1e-9)
    assert m.people.benefit.mean() == pytest.approx(m.params.shocks.benefit_share, abs=0.02)
    assert m.people.benefit.std() > 0.1  # some have family to fall back on, some nothing
    assert got[2000:].sum() / m.people.income[2000:].sum() == pytest.approx(1.0, abs=0.02)


def test_recession_timeline():
    from sim import load_scenario

    sc = load_scenario("recession")
    r = sc.macro.recession
    assert macro.conditions(sc, r.start_day - 1).job_loss == 1.0
    peak = macro.conditions(sc, r.start_day + r.onset_days + 1)
    assert peak.job_loss == pytest.approx(r.job_loss_multiplier)
    assert peak.reemployment < 1.0
    mid_easing = macro.conditions(sc, r.start_day + r.onset_days + r.peak_days + r.easing_days // 2)
    assert 1.0 < mid_easing.job_loss < r.job_loss_multiplier
    assert macro.conditions(sc, r.start_day + r.onset_days + r.peak_days + r.easing_days + 1).job_loss == 1.0


def test_recovery_collects_part_of_charged_off_debt(model_factory):
    m = model_factory(**{"collection.recovery.pay_prob": 1.0})
    rows = np.arange(100)
    m.people.co_balance[rows] = 1000.0
    m.people.cash[rows] = 500.0
    m.people.daily_subsistence[rows] = m.people.daily_habit[rows] = m.people.daily_other[rows] = 0.0
    for t in range(1, 31):
        m.tactics["recovery"].recover(t)
    assert m.lender.books.recoveries > 0
    assert np.all(m.people.co_balance[rows] < 1000.0) and np.all(m.people.co_balance[rows] >= 0.0)
