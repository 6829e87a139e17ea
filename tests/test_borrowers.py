"""The borrower mechanisms of "credible borrowers", one at a time: decisions kept between occasions,
lasting differences, budgets with other creditors, stopping and hoping, messages versus
conversations, promises, avoidance, the network, who applies, causes, and per-person draws."""

import numpy as np
import pytest

from sim.mechanisms import acquisition, causes, conversations, income, loans, repayment, spending
from sim.rng import PersonStream
from sim.state import CAUSES, CHARGED_OFF, CYCLE, HOPED, PAID_PART, REPAID, UNABLE, UNWILLING

from support import free_row, give_loan


def behind(m, i, owed=300.0, dpd=10):
    give_loan(m, i)
    m.people.amount_due[i] = owed
    m.people.dpd[i] = dpd
    m.prev_delinquent = np.array([i])
    return i


def rich(m, i):
    """Plenty of cash, nothing else to pay: able to pay anything owed."""
    p = m.people
    p.cash[i] = 1e6
    p.daily_subsistence[i] = p.daily_habit[i] = p.daily_other[i] = 0.0
    p.settled_day[i] = m.day


# ---- decisions: kept between occasions -------------------------------------------------------

def test_a_message_makes_a_borrower_reconsider_only_with_the_set_probability(model_factory):
    for prob, expect in ((0.0, 0), (1.0, 1)):
        m = model_factory(**{"repayment.reconsider_message": prob})
        i = behind(m, free_row(m))
        conversations.message(m, np.array([i]), m.day, attention=0.5, stress=0.0)
        m.step()  # the next day: was the borrower among today's deciders?
        assert np.count_nonzero(m.prompted_yesterday == i) == expect


def test_no_decision_between_occasions(model_factory):
    """A borrower behind, with cash, whose due date and pay day are not today and who got no message,
    does not decide (and so does not pay) today."""
    m = model_factory()
    m.day = 40
    i = behind(m, free_row(m))
    rich(m, i)
    p = m.people
    p.next_due[i] = m.day + 10
    p.pay_offset[i] = (m.day + 5) % CYCLE
    m.pay_groups = [g[g != i] for g in m.pay_groups]
    m.pay_groups[(m.day + 5) % CYCLE] = np.append(m.pay_groups[(m.day + 5) % CYCLE], i)
    m.billed_today = m.prompted_yesterday = m.promised_today = np.zeros(0, np.int64)
    assert i not in repayment.deciders(m, m.day)
    m.prompted_yesterday = np.array([i])
    assert i in repayment.deciders(m, m.day)


def test_lasting_willingness_effect(model_factory):
    m = model_factory()
    p = m.people
    rows = np.array([0, 1])
    p.will_re[rows] = [-2.0, 2.0]
    for arr in (p.attention, p.literacy, p.understanding, p.present_bias, p.stress, p.trust, p.pressure):
        arr[rows] = arr[rows[0]]
    p.attention_day[rows] = p.pressure_day[rows] = 0
    w = repayment.willingness(m, rows, m.day)
    assert w[0] < w[1]
    z = np.log(w / (1 - w))
    assert z[1] - z[0] == pytest.approx(4.0)
    assert p.will_re.std() == pytest.approx(m.params.repayment.willingness_sd, rel=0.1)


# ---- budgets ---------------------------------------------------------------------------------

def test_other_creditors_first_eat_the_set_aside_money(model_factory):
    m = model_factory()
    p = m.people
    a, b = 0, 1
    for i, first in ((a, True), (b, False)):
        p.cash[i], p.reserved[i] = 0.0, 200.0
        p.daily_subsistence[i] = p.daily_habit[i] = 0.0
        p.daily_other[i] = 10.0
        p.other_first[i] = first
        p.settled_day[i] = 0
    spending.settle(m, np.array([a, b]), 10)
    assert p.reserved[a] == pytest.approx(100.0)  # others were paid out of this lender's money
    assert p.reserved[b] == pytest.approx(200.0)  # this lender first: the set-aside is kept


def test_ability_keeps_back_other_creditors_money_and_pressure_redirects_it(model_factory):
    m = model_factory(**{"repayment.pressure_priority": 0.5})
    p = m.people
    m.day = 31
    i = behind(m, free_row(m))
    p.cash[i], p.reserved[i] = 3000.0, 0.0
    p.daily_subsistence[i], p.daily_other[i] = 20.0, 30.0
    p.pay_offset[i] = (m.day + 10) % CYCLE  # ten days to pay
    p.pressure[i] = 0.0
    p.other_first[i] = False
    assert repayment.ability(m, np.array([i]), m.day)[0] == pytest.approx(3000 - 200)
    p.other_first[i] = True
    assert repayment.ability(m, np.array([i]), m.day)[0] == pytest.approx(3000 - 200 - 300)
    p.pressure[i], p.pressure_day[i] = 1.0, m.day
    assert repayment.ability(m, np.array([i]), m.day)[0] == pytest.approx(3000 - 200 - 150)


def test_irregular_earners_pay_varies_more(model_factory):
    m = model_factory(borrowers=4000, **{"population.informal_share": 0.5})
    p = m.people
    p.employed[:] = True
    informal = p.volatility > m.params.population.income_volatility
    assert 0.4 < informal.mean() < 0.6
    before = p.income_received.copy()
    for t in range(1, 31):
        income.pay_day(m, t)
    ratio = (p.income_received - before) / p.income
    assert ratio[informal].std() > 1.5 * ratio[~informal].std()
    assert ratio.mean() == pytest.approx(1.0, abs=0.03)  # mean-one variation


def test_employed_budgets_can_fail(model_factory):
    """Some employed borrowers reach 30 DPD: not only the unemployed are unable to pay."""
    m = model_factory(borrowers=3000, **{"shocks.job_loss_rate": 0.0, "shocks.emergency_rate": 0.0})
    m.people.employed[:] = True
    for _ in range(300):
        m.step()
    led = m.ledger.table(m.people, m.day)
    assert np.count_nonzero(led["day_dpd30"] >= 0) >= 5


# ---- stopping and hoping ---------------------------------------------------------------------

def test_short_borrowers_may_stop_paying_and_hope(model_factory):
    paid = {}
    for hope in (-10.0, 10.0):
        m = model_factory(**{"repayment.hope_intercept": hope, "repayment.intercept": 20.0})
        i = behind(m, free_row(m), owed=1000.0)
        p = m.people
        p.cash[i], p.reserved[i] = 400.0, 0.0
        p.daily_subsistence[i] = p.daily_habit[i] = p.daily_other[i] = 0.0
        p.settled_day[i] = m.day + 1
        m.billed_today = np.array([i])
        m.prompted_yesterday = m.promised_today = np.zeros(0, np.int64)
        m.pay_groups = [g[g != i] for g in m.pay_groups]
        repayment.step(m, m.day + 1)
        paid[hope] = p.paid_total[i]
        assert p.last_decision[i] == (HOPED if hope > 0 else PAID_PART)
    assert paid[-10.0] == pytest.approx(400.0) and paid[10.0] == 0.0


def test_hope_grows_with_stress(model_factory):
    m = model_factory()
    m.people.stress[[0, 1]] = [0.1, 0.9]
    h = repayment.hope(m, np.array([0, 1]))
    assert h[1] > h[0]


# ---- messages, conversations, promises, avoidance --------------------------------------------

def _calls(model_factory, answer_rate, scenario="baseline", **extra):
    m = model_factory(scenario, **{"collection.reminders.answer_rate": answer_rate,
                                           "repayment.intercept": 20.0, **extra})
    m.day = 60
    i = behind(m, free_row(m), dpd=5)
    m.people.stress[i] = 0.0
    m.people.contact_load[i] = 0.0
    m.tactics["reminders"].collect(m.day)
    return m, i


def test_an_unanswered_call_only_reminds(model_factory):
    m, i = _calls(model_factory, 0.0)
    assert m.lender.books.calls == 1 and m.lender.books.conversations == 0
    assert m.people.promises[i] == 0 and m.people.pressure[i] == 0.0


def test_an_answered_call_is_a_conversation_that_obtains_a_promise(model_factory):
    m, i = _calls(model_factory, 1.0)
    assert m.lender.books.conversations == 1
    assert m.people.promises[i] == 1
    assert m.people.promise_day[i] == m.day + m.params.collection.promises.days
    assert m.people.pressure[i] > 0.0


def test_a_broken_promise_escalates_to_the_visit_queue(model_factory):
    m, i = _calls(model_factory, 1.0)
    p = m.people
    t = int(p.promise_day[i])
    m.tactics["promises"].before_payments(t)
    assert i in m.promised_today
    m.day = t
    pressure_before = p.pressure_now(np.array([i]), t, m.params.repayment.pressure_halflife)[0]
    m.tactics["promises"].after_payments(t)  # nothing was paid since the promise
    assert p.promises_broken[i] == 1 and m.lender.books.promises_broken == 1
    assert p.queued_since[i] == t  # escalated, though the loan is only 10 DPD
    assert p.pressure[i] > pressure_before
    assert p.promise_day[i] == -1


def test_a_kept_promise_is_not_broken(model_factory):
    m, i = _calls(model_factory, 1.0)
    p = m.people
    t = int(p.promise_day[i])
    m.tactics["promises"].before_payments(t)
    p.paid_total[i] += p.promise_amount[i]
    m.tactics["promises"].after_payments(t)
    assert p.promises_broken[i] == 0 and m.lender.books.promises_kept == 1
    assert p.queued_since[i] < 0


def test_a_promise_on_a_loan_closed_before_its_day_is_still_judged(model_factory):
    """Repaid in full before the promised day: kept. Charged off without the promised payment: broken,
    with nothing to escalate (no visit queued for a loan that no longer exists)."""
    m, i = _calls(model_factory, 1.0)
    p, books = m.people, m.lender.books
    t = int(p.promise_day[i])
    p.paid_total[i] += p.amount_due[i] + p.fees[i]  # pays everything off
    loans.close(m, np.array([i]), t - 1, REPAID)
    m.tactics["promises"].before_payments(t)
    assert i not in m.promised_today  # no loan: no decision to take
    m.tactics["promises"].after_payments(t)
    assert books.promises_kept == 1 and books.promises_broken == 0 and p.promise_day[i] == -1

    m, i = _calls(model_factory, 1.0)
    p, books = m.people, m.lender.books
    t = int(p.promise_day[i])
    p.banned[i] = True  # as loans.charge_off leaves it
    loans.close(m, np.array([i]), t - 1, CHARGED_OFF)
    m.tactics["promises"].before_payments(t)
    m.tactics["promises"].after_payments(t)
    assert books.promises_kept == 0 and books.promises_broken == 1
    assert p.queued_since[i] < 0 and not p.has_loan[i]


def test_avoidance_grows_with_stress_and_contacts(model_factory):
    m = model_factory()
    p = m.people
    rows = np.array([0, 1, 2])
    p.stress[rows] = [0.1, 0.8, 0.1]
    p.contact_load[rows] = [0.0, 0.0, 6.0]
    p.contact_day[rows] = m.day
    a = conversations.avoidance(m, rows, m.day)
    assert a[1] > a[0] and a[2] > a[0]


def test_avoiders_answer_fewer_calls(model_factory):
    answered = {}
    for stress in (0.0, 1.0):
        m = model_factory("reminders_only", borrowers=3000, **{"collection.reminders.phone_capacity": 1000.0})
        m.day = 60
        rows = np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:800]
        for i in rows:
            behind(m, i, dpd=5)
        m.prev_delinquent = rows
        m.people.stress[rows] = stress
        m.people.contact_load[rows] = 0.0
        m.tactics["reminders"].collect(m.day)
        answered[stress] = m.lender.books.calls_answered / m.lender.books.calls
    assert answered[1.0] < 0.8 * answered[0.0]


# ---- the network and who applies ---------------------------------------------------------------

def test_network_has_no_self_ties_and_is_homophilous(model_factory):
    m = model_factory(borrowers=5000)
    p = m.people
    me = np.arange(p.n)[:, None]
    assert not np.any(p.neighbors == me)
    same_place = (p.place[p.neighbors] == p.place[:, None]).mean()
    chance = np.mean(np.bincount(p.place) ** 2) * len(np.bincount(p.place)) / p.n**2
    assert same_place > 0.6 and same_place > 10 * chance
    age_gap = np.abs(p.age[p.neighbors] - p.age[:, None]).mean()
    random_gap = np.abs(p.age[np.roll(np.arange(p.n), 1234)] - p.age).mean()
    assert age_gap < 0.7 * random_gap


def test_network_is_random_without_homophily(model_factory):
    m = model_factory(borrowers=5000, **{"population.homophily": 0.0})
    p = m.people
    assert (p.place[p.neighbors] == p.place[:, None]).mean() < 0.1


def test_better_risks_follow_trust_more_closely(model_factory):
    m = model_factory()
    m.people.quality[[0, 1, 2]] = [-1.0, 0.0, 1.0]
    e = acquisition.elasticity(m, np.array([0, 1, 2]))
    acq = m.params.acquisition
    assert e[1] == pytest.approx(acq.trust_elasticity)
    assert e[2] - e[1] == pytest.approx(acq.careful_elasticity)
    assert e[0] < e[1] < e[2]


def test_low_trust_tilts_applicants_towards_worse_risks(model_factory):
    means = {}
    for level in (0.25, 0.95):
        m = model_factory(borrowers=30000, seed=2)
        m.people.trust[:] = level
        got = []
        orig = acquisition.loans.originate
        acquisition.loans.originate = lambda model, idx, t, **k: got.append(idx)
        try:
            for t in range(1, 40):
                acquisition.step(m, t)
        finally:
            acquisition.loans.originate = orig
        approved = np.concatenate(got)
        means[level] = m.people.quality[approved].mean()
    assert means[0.95] > means[0.25] + 0.05


# ---- causes ----------------------------------------------------------------------------------

def test_causes_follow_the_rules(model_factory):
    m = model_factory()
    p = m.people
    t = 500
    rows = np.arange(6)
    for i in rows:
        give_loan(m, i, instalment=300.0)
    p.employed[rows] = True
    p.last_job_loss[rows] = p.last_emergency[rows] = -(10**6)
    p.understanding[rows] = 0.8
    p.income[rows] = 3000.0
    p.other_dsti[rows] = 0.0
    p.employed[0] = False                                   # out of work
    p.last_emergency[1] = t - 10                            # an emergency last week
    p.last_decision[2], p.other_dsti[2] = UNABLE, 0.2       # short, 600/month to other creditors
    p.last_decision[3] = PAID_PART                          # short, no other debts
    p.last_decision[4], p.understanding[4] = UNWILLING, 0.1  # could pay, did not understand
    p.last_decision[5] = UNWILLING                          # could pay, would not
    got = [CAUSES[c] for c in causes.classify(m, rows, t)]
    assert got == ["job_loss", "emergency", "over_indebted", "spending", "misunderstood", "strategic"]


def test_a_loan_keeps_its_first_cause(model_factory):
    m = model_factory()
    p = m.people
    i = give_loan(m, free_row(m))
    p.employed[i] = False
    causes.assign(m, np.array([i]), 100)
    p.employed[i] = True
    p.last_job_loss[i] = -(10**6)
    causes.assign(m, np.array([i]), 400)
    assert CAUSES[p.cause[i]] == "job_loss"


# ---- per-person draws --------------------------------------------------------------------------

def test_a_persons_draw_does_not_depend_on_who_else_draws():
    s = PersonStream(7, "decision")
    everyone = s.uniform(np.arange(1000), 33)
    some = s.uniform(np.array([5, 500, 999]), 33)
    assert np.array_equal(some, everyone[[5, 500, 999]])
    assert not np.array_equal(s.uniform(np.arange(1000), 34), everyone)  # another day
    assert not np.array_equal(s.uniform(np.arange(1000), 33, slot=1), everyone)  # another purpose
    assert not np.array_equal(PersonStream(8, "decision").uniform(np.arange(1000), 33), everyone)  # another seed
    u = s.uniform(np.arange(200_000), 1)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002


def test_repayment_draws_are_per_person(model_factory):
    """Who else is behind today does not change whether a given borrower is willing."""
    m = model_factory()
    u_alone = m.streams.person.decision.uniform(np.array([42]), 77)
    u_crowd = m.streams.person.decision.uniform(np.arange(100), 77)[42]
    assert u_alone[0] == u_crowd
