"""Loans: origination on an annuity schedule, instalments falling due, days past due, late fees,
payments, charge-off and closing.

Accounting. A loan's ``balance`` is everything still owed under the schedule (principal plus
scheduled interest, ``instalment * term`` at origination). Each payment against it is split into
principal and interest by the loan's ``principal_share``; fees are a separate claim. At charge-off the
lender writes off the principal part of the balance (unearned interest is no loss) and the whole
claim (balance + fees) passes to recovery.

Days past due. On a due date the instalment joins ``amount_due`` (the arrears). DPD is the age of the
oldest instalment not yet paid in full: ``dpd = day - oldest_unpaid_due_date`` while arrears remain,
0 otherwise, where ``oldest_unpaid_due_date = next_due - 30 * ceil(amount_due / instalment)``.
"""

from __future__ import annotations

import numpy as np

from .. import regulation
from ..state import CASH, CHARGED_OFF, CYCLE, DPD_MILESTONES, POS, REPAID
from . import causes

EPS = 1e-6
MIN_RATE = 1e-9  #: monthly rates below this are lent interest-free (see annuity)


def annuity(principal, monthly_rate, months):
    """Instalment of an annuity loan: equal payments that repay principal and interest.

    A monthly rate below ``MIN_RATE`` is lent as interest-free: the closed form loses every digit
    there (``1 - (1 + r)^-n`` rounds to 0), and the interest it would add is below a millionth."""
    months = np.asarray(months, float)
    r = np.asarray(monthly_rate, float)
    priced = r >= MIN_RATE
    safe = np.where(priced, r, 1.0)
    with np.errstate(over="ignore"):
        factor = np.where(priced, safe / (1.0 - (1.0 + safe) ** (-months)), 1.0 / months)
    return principal * factor


def originate(model, idx, t, *, first_due=None, rng=None, new_business=True) -> None:
    """Open loans for the people in ``idx`` (who hold none) on day ``t``.

    ``new_business=False`` books the day-0 portfolio: no origination cost, no education (those
    loans were made before the strategy under study).
    """
    if len(idx) == 0:
        return
    ppl, p, books = model.people, model.params, model.lender.books
    if rng is None:  # new business: per-person draws keyed by the application's number
        draw, nth = model.streams.person.origination, ppl.app_count[idx]
        is_pos = draw.uniform_keyed(idx, nth, 0) < p.products.pos.share
        size = np.exp(0.3 * draw.normal_keyed(idx, nth, 1))
    else:
        is_pos = rng.random(len(idx)) < p.products.pos.share
        size = rng.lognormal(0.0, 0.3, len(idx))
    months = np.where(is_pos, p.products.pos.principal_months, p.products.cash.principal_months)
    term = np.where(is_pos, p.products.pos.term_months, p.products.cash.term_months)
    rate = regulation.cap_rate(model, np.where(is_pos, p.products.pos.annual_rate, p.products.cash.annual_rate)) / 12.0
    principal = months * ppl.income[idx] * size
    inst = annuity(principal, rate, term)

    ppl.has_loan[idx] = True
    ppl.loan_id[idx] = model.next_loan_id + np.arange(len(idx))
    model.next_loan_id += len(idx)
    ppl.product[idx] = np.where(is_pos, POS, CASH)
    ppl.orig_day[idx] = t
    ppl.principal[idx] = principal
    ppl.instalment[idx] = inst
    ppl.balance[idx] = inst * term
    ppl.principal_share[idx] = principal / (inst * term)
    model.lender.provisions.opened(idx)  # the allowance does not compare principal shares daily
    ppl.amount_due[idx] = 0.0
    ppl.fees[idx] = 0.0
    ppl.next_due[idx] = first_due_day(model, idx, t, rng) if first_due is None else first_due
    ppl.promise_day[idx] = -1
    ppl.dpd[idx] = 0
    reset_history(ppl, idx)
    ppl.on_plan[idx] = False
    ppl.plans_taken[idx] = 0
    ppl.episodes[idx] = 0
    ppl.last_visit[idx] = -(10**6)
    ppl.queued_since[idx] = -1
    ppl.received_total[idx] += principal
    ppl.attention[idx] = 1.0  # a new loan is on one's mind
    ppl.attention_day[idx] = t

    books.disbursed += float(principal.sum())
    if new_business:  # the caller educates new borrowers (acquisition.step: education.at_origination)
        books.originations += len(idx)
        books.origination_cost += p.lender.origination_cost * len(idx)
    else:
        books.initial_loans += len(idx)


def reset_history(ppl, idx) -> None:
    """A new loan has no history: the per-loan record the ledger keeps starts empty."""
    ppl.max_dpd[idx] = 0
    for k in DPD_MILESTONES:
        getattr(ppl, f"day_dpd{k}")[idx] = -1
    ppl.first_plan_day[idx] = -1
    ppl.redefault_day[idx] = -1
    ppl.promises[idx] = 0
    ppl.promises_broken[idx] = 0
    ppl.cause[idx] = -1


def record_dpd(ppl, late, dpd, t) -> None:
    """The loan's DPD history after today's DPD (``dpd``, of rows ``late``): worst DPD, the first day
    each milestone of ``DPD_MILESTONES`` was reached, and the first day 30+ DPD again after a plan."""
    # a milestone is first reached only at a new worst DPD (every milestone up to the worst is set)
    worse = dpd > ppl.max_dpd[late]
    new, new_dpd = late[worse], dpd[worse]
    ppl.max_dpd[new] = new_dpd
    for k in DPD_MILESTONES:
        day = getattr(ppl, f"day_dpd{k}")
        day[new[(new_dpd >= k) & (day[new] < 0)]] = t
    again = late[dpd >= 30]
    fp = ppl.first_plan_day[again]
    ppl.redefault_day[again[(fp >= 0) & (t > fp) & (ppl.redefault_day[again] < 0)]] = t


def first_due_day(model, idx, t, rng) -> np.ndarray:
    """The first due date: 20 to 49 days ahead, 0..``due_after_pay`` days after a pay day."""
    k = model.params.loans.due_after_pay + 1
    if rng is None:
        u = model.streams.person.origination.uniform_keyed(idx, model.people.app_count[idx], 2)
        lag = np.minimum((u * k).astype(np.int64), k - 1)
    else:
        lag = rng.integers(0, k, len(idx))
    return (t + 20 + (model.people.pay_offset[idx] + lag - t - 20) % CYCLE).astype(np.int32)


def bill(model, t) -> None:
    """Instalments fall due today: they join the arrears."""
    ppl = model.people
    idx = (ppl.next_due == t).nonzero()[0]
    due = ppl.amount_due[idx]  # gathered once (the rows are unique)
    model.lender.books.instalments_due += int(np.count_nonzero(due <= 0.0))
    add = np.minimum(ppl.instalment[idx], ppl.balance[idx] - due)
    billed = add > EPS
    idx, add = idx[billed], add[billed]
    ppl.amount_due[idx] = due[billed] + add
    ppl.next_due[idx] += CYCLE
    model.billed_today = idx


def pay(model, idx, amount) -> np.ndarray:
    """Borrowers in ``idx`` pay up to ``amount``: arrears first, then fees. Returns what was paid."""
    ppl, books = model.people, model.lender.books
    # each array gathered once, updated on the copy and written back once (the rows are unique)
    due, fees, reserved = ppl.amount_due[idx], ppl.fees[idx], ppl.reserved[idx]
    to_due = np.minimum(amount, due)
    to_fees = np.minimum(amount - to_due, fees)
    paid = to_due + to_fees
    # the money leaves the person: the set-aside money first, then cash
    from_reserved = np.minimum(paid, reserved)
    ppl.reserved[idx] = reserved - from_reserved
    ppl.cash[idx] -= paid - from_reserved
    ppl.paid_total[idx] += paid

    due -= to_due
    balance = ppl.balance[idx] - to_due
    fees -= to_fees
    for arr, left in ((ppl.amount_due, due), (ppl.balance, balance), (ppl.fees, fees)):
        left[left < EPS] = 0.0
        arr[idx] = left
    share = ppl.principal_share[idx]
    books.received += float(paid.sum())
    books.principal_repaid += float((to_due * share).sum())
    books.interest_income += float((to_due * (1.0 - share)).sum())
    books.fee_income += float(to_fees.sum())
    return paid


def update(model, t, paid_idx) -> None:
    """After the day's payments: DPD, late fees, history, broken plans, cures and repaid loans."""
    ppl, p, books = model.people, model.params, model.lender.books
    late = ppl.delinquent()
    # who was behind yesterday and is current now: a cure
    prev = model.prev_delinquent
    cured = prev[(ppl.amount_due[prev] <= 0.0) & (ppl.dpd[prev] > 0)]
    books.cures += len(cured)
    ppl.dpd[cured] = 0

    regulation.forbear(model, t)  # mandatory forbearance: the covered loans' clock stops
    missed = np.ceil(ppl.amount_due[late] / ppl.instalment[late] - 1e-9).astype(np.int32)
    oldest_due = ppl.next_due[late] - CYCLE * missed
    old_dpd = ppl.dpd[late]
    dpd = np.maximum(t - oldest_due, 0).astype(np.int32)
    ppl.dpd[late] = dpd

    started = late[(old_dpd == 0) & (dpd > 0)]
    books.delinquency_episodes += len(started)
    books.ever_delinquent_loans += int((ppl.episodes[started] == 0).sum())
    ppl.episodes[started] += 1
    model.experience(started, stress=p.stress.missed_payment)

    fee_due = late[(dpd >= p.loans.fee_dpd) & ((dpd - p.loans.fee_dpd) % CYCLE == 0)]
    ppl.fees[fee_due] += regulation.cap_fees(model, t, fee_due, p.loans.late_fee_share * ppl.instalment[fee_due])

    hit30 = late[(dpd >= 30) & (ppl.day_dpd30[late] < 0)]
    record_dpd(ppl, late, dpd, t)
    causes.assign(model, hit30, t)

    broken = late[ppl.on_plan[late] & (dpd >= p.collection.plans.break_dpd)]
    ppl.on_plan[broken] = False
    books.plans_broken += len(broken)
    # qualifying payments on a plan; a completed plan is a cure (sim.tactics.plans.progress, reached
    # through the model: sim.tactics imports this module)
    model.tactics["plans"].progress(t)

    done = paid_idx[(ppl.balance[paid_idx] <= 0.0) & (ppl.fees[paid_idx] <= 0.0)]
    books.repaid_loans += len(done)
    close(model, done, t, REPAID)
    model.prev_delinquent = late[ppl.amount_due[late] > 0.0]


def charge_off(model, t) -> None:
    """Loans at the charge-off DPD are written off and passed to recovery."""
    ppl, p, books = model.people, model.params, model.lender.books
    late = model.prev_delinquent
    gone = late[ppl.dpd[late] >= p.loans.charge_off_dpd]
    if len(gone) == 0:
        return
    books.credit_loss += float((ppl.balance[gone] * ppl.principal_share[gone]).sum())
    books.charge_offs += len(gone)
    model.lender.provisions.use(model, gone)  # the allowance is used against the write-off
    ppl.co_balance[gone] += ppl.balance[gone] + ppl.fees[gone]
    ppl.banned[gone] = True
    model.experience(gone, stress=p.stress.charge_off, quality=p.trust.charge_off_quality, weight=p.trust.charge_off_weight)
    close(model, gone, t, CHARGED_OFF)
    model.prev_delinquent = late[ppl.amount_due[late] > 0.0]


def close(model, idx, t, outcome) -> None:
    """A loan ends (repaid or charged off): record it in the ledger and free the slot."""
    if len(idx) == 0:
        return
    ppl = model.people
    model.ledger.append(ppl, idx, t, outcome)
    ppl.has_loan[idx] = False
    ppl.balance[idx] = 0.0
    ppl.amount_due[idx] = 0.0
    ppl.fees[idx] = 0.0
    ppl.instalment[idx] = 0.0
    ppl.dpd[idx] = 0
    ppl.next_due[idx] = -1
    ppl.on_plan[idx] = False
    ppl.queued_since[idx] = -1
    # a pending promise stays: it is judged on its day like any other (tactic promises, 7.8)
    ppl.cash[idx] += ppl.reserved[idx]
    ppl.reserved[idx] = 0.0
    ppl.cooldown_until[idx] = t + model.params.acquisition.cooldown_days


def accrue_funding_cost(model, t) -> float:
    """The lender pays for the money it has lent out, day by day. Returns the principal outstanding."""
    ppl = model.people
    outstanding = float((ppl.balance * ppl.principal_share).sum())  # not np.dot: BLAS threads change the sum
    model.lender.books.funding_cost += outstanding * model.params.lender.cost_of_funds / 365.0
    return outstanding
