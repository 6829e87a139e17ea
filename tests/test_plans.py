"""Repayment plans like real ones (on plan until qualifying payments, broken plans, an imperfect
hardship check) and settlement offers, each on small constructed situations."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.mechanisms import loans
from sim.state import CYCLE, HOPED, PAID_ALL, SETTLED, UNWILLING
from sim.tactics import DEFAULT, plans, settlement

from support import free_row, give_loan
from test_invariants import check

WITH_PLANS = [*DEFAULT, "plans"]
WITH_SETTLEMENT = [*DEFAULT, "settlement"]


def rows(m, k):
    return np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:k]


def advance(m, days, pay=()):
    """Run only the loan accounting for ``days`` days: bill, the rows in ``pay`` pay what is due on its
    due day, update. No other mechanism runs, so what happens is the plan's doing alone."""
    pay = np.asarray(pay, np.int64)
    for _ in range(days):
        t = m.day = m.day + 1
        loans.bill(m, t)
        due = pay[m.people.amount_due[pay] > 0]
        m.people.cash[due] += m.people.amount_due[due]
        paid = loans.pay(m, due, m.people.amount_due[due].copy()) if len(due) else None
        loans.update(m, t, due if paid is not None else np.zeros(0, np.int64))


def late_loan(m, i, *, behind=2, instalment=300.0, periods=8):
    give_loan(m, i, instalment=instalment, periods=periods, next_due=m.day + CYCLE)
    m.people.amount_due[i] = behind * instalment
    m.people.dpd[i] = 35
    m.people.fees[i] = 20.0
    m.prev_delinquent = m.people.delinquent()


# ---- plans ---------------------------------------------------------------------------------------

def test_a_plan_lowers_the_instalment(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.payment_holiday": False})
    i = free_row(m)
    late_loan(m, i)
    plans.restructure(m, np.array([i]), m.day)
    # 2 behind + 6 still to come = the balance of 8 instalments, now spread over 6 + 6 extension months
    assert m.people.instalment[i] == pytest.approx(2400.0 / 12)
    assert m.people.balance[i] == pytest.approx(2400.0)


def test_a_plan_loan_is_cured_only_after_its_qualifying_payments(model_factory):
    q = 3
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.payment_holiday": False,
                         "collection.plans.qualifying_payments": q})
    i = free_row(m)
    late_loan(m, i)
    cures0, done0 = m.lender.books.cures, m.tactics["plans"].counts["plans_completed"]
    plans.restructure(m, np.array([i]), m.day)
    assert m.people.on_plan[i] and m.people.dpd[i] == 0
    assert m.lender.books.cures == cures0  # set-up is not a cure
    advance(m, 1)
    assert m.lender.books.cures == cures0  # re-aged to 0 DPD is not a cure either
    for k in range(1, q):
        advance(m, CYCLE, pay=[i])
        assert m.people.plan_paid[i] == k and m.people.on_plan[i]
        assert m.lender.books.cures == cures0
    advance(m, CYCLE, pay=[i])
    assert not m.people.on_plan[i]
    assert m.lender.books.cures == cures0 + 1
    assert m.tactics["plans"].counts["plans_completed"] == done0 + 1


def test_a_loan_on_plan_is_its_own_bucket_in_the_roll_matrix(model_factory):
    from sim.metrics import ROLL_FROM, dpd_bucket
    b = dpd_bucket(np.array([0, 0, 5, 40]), np.array([False, True, True, False]))
    assert [ROLL_FROM[k] for k in b] == ["current", "on_plan", "1-29", "30-59"]


def test_a_missed_plan_is_broken_and_recorded_as_a_redefault(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.payment_holiday": False,
                         "collection.plans.break_dpd": 30})
    i = free_row(m)
    late_loan(m, i)
    start = m.day
    plans.restructure(m, np.array([i]), m.day)
    broken0 = m.lender.books.plans_broken
    advance(m, CYCLE + 29)  # first plan instalment due at start + 30, never paid: 29 DPD
    assert m.people.on_plan[i] and m.people.redefault_day[i] < 0
    advance(m, 1)
    assert not m.people.on_plan[i]
    assert m.lender.books.plans_broken == broken0 + 1
    assert m.people.redefault_day[i] == start + 2 * CYCLE
    assert m.people.first_plan_day[i] == start
    assert m.tactics["plans"].counts["plans_completed"] == 0


def test_a_payment_holiday_defers_the_first_instalment(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS})
    i = free_row(m)
    late_loan(m, i)
    m.people.employed[i] = False
    plans.restructure(m, np.array([i]), m.day)
    hol = m.params.collection.plans.holiday_months
    advance(m, CYCLE * (1 + hol) - 1)
    assert m.people.amount_due[i] == 0.0 and m.people.on_plan[i]  # nothing billed during the holiday
    advance(m, 1)
    assert m.people.amount_due[i] == pytest.approx(m.people.instalment[i])


def _false_positive_plans(rate, seed):
    m = sim.CreditModel(scenario="flexible_plans", borrowers=2000, days=200, rng=seed,
                        overrides={"simulation.burn_in": 0, "collection.plans.on_call": True,
                                   "collection.plans.false_hardship": rate})
    while m.running:
        m.step()
    return m.tactics["plans"].counts["plans_false_hardship"], m


@pytest.mark.parametrize("seed", [1, 2])
def test_false_hardship_gives_plans_to_people_not_in_hardship_only_when_above_zero(seed):
    none, _ = _false_positive_plans(0.0, seed)
    some, _ = _false_positive_plans(0.5, seed)
    assert none == 0
    assert some > 0


def test_the_false_positive_check_asks_only_those_who_could_pay_but_did_not(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.false_hardship": 1.0})
    a, b, c, d = rows(m, 4)
    for i in (a, b, c, d):
        give_loan(m, i)
    m.people.hardship_until[[a, b, c]] = m.day - 1
    m.people.hardship_until[d] = m.day + 5
    m.people.last_decision[[a, b, c, d]] = [UNWILLING, HOPED, PAID_ALL, UNWILLING]
    got = plans.false_hardship(m, np.array([a, b, c, d]), m.day)
    assert sorted(got.tolist()) == sorted([a, b])  # d is in hardship: not a false positive


def test_false_hardship_is_ignored_when_hardship_is_not_required(model_factory):
    m = model_factory(**{"collection.tactics": WITH_PLANS, "collection.plans.false_hardship": 1.0,
                         "collection.plans.require_hardship": False})
    i = free_row(m)
    give_loan(m, i)
    m.people.last_decision[i] = UNWILLING
    assert len(plans.false_hardship(m, np.array([i]), m.day)) == 0


# ---- settlement ----------------------------------------------------------------------------------

def _settle_model(model_factory, **over):
    return model_factory(**{"collection.tactics": WITH_SETTLEMENT, "collection.settlement.acceptance": 1.0,
                            "collection.settlement.discount": 0.25, **over})


def test_a_settlement_closes_the_loan_moves_the_price_and_books_the_discount(model_factory):
    m = _settle_model(model_factory)
    i = free_row(m)
    late_loan(m, i, behind=3)
    m.people.dpd[i] = 75
    m.people.cash[i], m.people.reserved[i] = 10_000.0, 100.0
    m.people.hardship_until[i] = -1
    bal, fees, share = m.people.balance[i], m.people.fees[i], m.people.principal_share[i]
    price = 0.75 * (bal + fees)
    b0 = {k: getattr(m.lender.books, k) for k in ("received", "principal_repaid", "interest_income",
                                                 "fee_income", "settlement_discount", "settlements")}
    cash0, paid0 = m.people.cash[i] + m.people.reserved[i], m.people.paid_total[i]
    loan_id = m.people.loan_id[i]
    tac = m.tactics["settlement"]
    got = settlement.offer(m, np.array([i]), m.day, tac)
    assert got.tolist() == [i]
    assert not m.people.has_loan[i] and m.people.balance[i] == 0.0
    assert m.people.cash[i] + m.people.reserved[i] == pytest.approx(cash0 - price)
    assert m.people.paid_total[i] - paid0 == pytest.approx(price)
    bk = m.lender.books
    assert bk.received - b0["received"] == pytest.approx(price)
    assert (bk.principal_repaid - b0["principal_repaid"]) + (bk.interest_income - b0["interest_income"]) \
        + (bk.fee_income - b0["fee_income"]) == pytest.approx(price)
    assert bk.settlement_discount - b0["settlement_discount"] == pytest.approx((bal - price) * share)
    assert bk.settlements == b0["settlements"] + 1
    assert tac.counts["settlements_accepted"] == 1 and tac.counts["settlement_offers"] == 1
    assert tac.counts["settlement_forgiven"] == pytest.approx(0.25 * (bal + fees))
    led = m.ledger.table()
    assert led["outcome"][led["loan_id"] == loan_id].tolist() == [SETTLED]


def test_a_settlement_is_never_offered_below_min_dpd_nor_to_who_cannot_pay(model_factory):
    m = _settle_model(model_factory, **{"collection.settlement.min_dpd": 60})
    a, b, c = rows(m, 3)
    for i in (a, b, c):
        late_loan(m, i)
        m.people.cash[i] = 10_000.0
    m.people.dpd[a], m.people.dpd[b], m.people.dpd[c] = 59, 60, 90
    m.people.cash[c] = 1.0
    m.people.reserved[c] = 0.0
    tac = m.tactics["settlement"]
    got = settlement.offer(m, np.array([a, b, c]), m.day, tac)
    assert got.tolist() == [b]
    assert tac.counts["settlement_offers"] == 2  # b and c, not a
    assert m.people.has_loan[a] and m.people.has_loan[c]


def test_settlements_in_a_run_only_close_loans_at_or_past_min_dpd():
    over = {"simulation.burn_in": 0, "collection.tactics": WITH_SETTLEMENT, "collection.settlement.min_dpd": 45}
    m = sim.CreditModel(scenario="baseline", borrowers=3000, days=250, rng=4, overrides=over)
    while m.running:
        m.step()
    led = m.ledger.table()
    settled = led["outcome"] == SETTLED
    assert settled.sum() > 0
    assert (led["max_dpd"][settled] >= 45).all()
    assert m.lender.books.settlements == int(settled.sum())


@pytest.mark.parametrize("seed", [5, 6])
def test_money_is_conserved_with_plans_settlements_and_false_hardship(seed):
    over = {"simulation.burn_in": 0, "collection.tactics": [*DEFAULT, "plans", "settlement"],
            "collection.plans.on_call": True, "collection.plans.false_hardship": 0.5,
            "collection.settlement.min_dpd": 30, "collection.settlement.acceptance": 0.8,
            "early_contact.channel": True}
    m = sim.CreditModel(scenario="baseline", borrowers=1200, days=200, rng=seed, overrides=over)
    co, banned = set(), set()
    for _ in range(200):
        m.step()
        co, banned = check(m, co, banned)
    assert m.lender.books.settlements > 0 and m.lender.books.plans_accepted > 0


# ---- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, key, says", [
    ('[collection]\ntactics = ["settlement"]\n[collection.settlement]\nmin_dpd = 120\n', "collection.settlement.min_dpd",
     "not yet charged off"),
    ('[collection.settlement]\ndiscount = 1.5\n', "collection.settlement.discount", "less than or equal to 1"),
    ('[collection.plans]\nqualifying_payments = 0\n', "collection.plans.qualifying_payments", "greater than or equal to 1"),
    ('[collection.plans]\nfalse_hardship = -0.1\n', "collection.plans.false_hardship", "greater than or equal to 0"),
])
def test_a_bad_plan_or_settlement_setting_is_one_line_exit_2(tmp_path, body, key, says):
    credsim = Path(sys.executable).with_name("credsim")
    f = tmp_path / "s.toml"
    f.write_text(body)
    res = subprocess.run([str(credsim), "run", str(f), "--borrowers", "100", "--days", "5"], capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{f}: {key}: ") and says in lines[0], res.stderr


def test_plans_and_settlements_are_reproducible_from_the_seed():
    over = {"simulation.burn_in": 0, "collection.tactics": [*DEFAULT, "plans", "settlement"],
            "collection.plans.on_call": True, "collection.plans.false_hardship": 0.5,
            "collection.settlement.min_dpd": 30, "collection.settlement.acceptance": 0.8}

    def run(seed):
        m = sim.CreditModel(scenario="baseline", borrowers=2000, days=200, rng=seed, overrides=over)
        while m.running:
            m.step()
        return m.summary(), m.ledger.table()

    (a, la), (b, lb), (c, _) = run(7), run(7), run(8)
    assert a["settlement_offers"] > 0 and a["plans_accepted"] > 0
    assert {k: v for k, v in a.items() if v == v} == {k: v for k, v in b.items() if v == v}
    assert all(np.array_equal(la[k], lb[k]) for k in la)
    assert a != c
