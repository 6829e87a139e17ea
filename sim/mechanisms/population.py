"""Who is in the market: incomes, budgets, lasting traits, a homophilous network, and the starting book.

People differ in lasting ways, drawn once:

* **income**: usual monthly pay (log-normal); irregular earners (``informal_share``) see it vary much
  more from month to month; support while unemployed (benefits, family help) varies from person to
  person around ``shocks.benefit_share``;
* **budget**: subsistence and habitual spending, and for some (``other_debt_share``) instalments to
  other creditors, which about half of them (``other_priority``) pay before this lender;
* **traits**: present bias, financial literacy, contract understanding, a lasting personal effect on
  willingness to pay (``repayment.willingness_sd``: won't-pay types at the low end), a personal stress
  baseline and a personal prior trust in the brand; age and place;
* **ties**: each person knows ``network_degree`` others, a share ``homophily`` of them people like
  themselves (same place, similar age and income), the rest anyone; nobody is their own tie.

Underwriting sees a credit score: a noisy view of true credit quality (impatience, literacy, buffer,
other debts, irregular pay and the personal willingness effect).
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE, People
from . import loans


def _beta(rng, mean, n, concentration=8.0):
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, n)


def _z(x):
    return (x - x.mean()) / (x.std() + 1e-12) if len(x) else x


def create(model) -> People:
    p, rng = model.params, model.streams.population
    pop, sh = p.population, p.shocks
    n = pop.borrowers
    people = People(n)

    people.income[:] = pop.income_median * rng.lognormal(0.0, pop.income_sigma, n)
    informal = rng.random(n) < pop.informal_share
    people.volatility = np.where(informal, pop.informal_volatility, pop.income_volatility)
    people.benefit[:] = _beta(rng, sh.benefit_share, n, sh.benefit_concentration)
    has_other = rng.random(n) < pop.other_debt_share
    people.other_dsti = np.where(has_other, _beta(rng, pop.other_dsti_mean, n, pop.other_dsti_concentration), 0.0)
    people.other_first[:] = rng.random(n) < pop.other_priority
    # start unemployment at its steady state for normal times
    monthly_loss = sh.job_loss_rate / 12.0
    u0 = monthly_loss * sh.unemployment_months / (1.0 + monthly_loss * sh.unemployment_months)
    people.employed = rng.random(n) >= u0
    people.pay_offset[:] = rng.integers(0, CYCLE, n).astype(np.int32)
    people.cash[:] = pop.savings_months * people.income * rng.lognormal(0.0, 1.0, n)

    people.present_bias[:] = _beta(rng, pop.present_bias_mean, n)
    people.literacy[:] = _beta(rng, pop.literacy_mean, n)
    people.understanding[:] = np.clip(people.literacy - pop.understanding_gap + rng.normal(0.0, 0.1, n), 0.0, 1.0)
    people.will_re[:] = rng.normal(0.0, p.repayment.willingness_sd, n) if p.repayment.willingness_sd > 0 else np.zeros(n)
    people.address_ok = rng.random(n) >= pop.address_unverifiable
    people.age = 18.0 + rng.gamma(2.0, (pop.age_mean - 18.0) / 2.0, n)
    people.place = rng.integers(0, pop.places, n).astype(np.int32)
    set_spending_rates(model, people, np.arange(n))

    people.stress_base = _beta(rng, p.stress.baseline, n, p.stress.baseline_concentration)
    people.stress = people.stress_base.copy()
    people.trust_prior = _beta(rng, p.trust.prior, n, p.trust.prior_concentration)
    people.trust = people.trust_prior.copy()
    people.attention[:] = 0.5
    people.attention_floor = p.repayment.attention_floor

    # True credit quality, and the score underwriting sees: a noisy view of it.
    risk = (
        1.2 * people.present_bias
        - 0.8 * people.literacy
        - 0.3 * np.log1p(people.cash / people.income)
        + 1.5 * people.other_dsti
        + 0.3 * informal
        - 0.3 * people.will_re
    )
    people.quality = -_z(risk)
    people.score = people.quality + p.acquisition.score_noise * rng.normal(0.0, 1.0, n)
    model.score_threshold = score_threshold(people.score, p.acquisition.cutoff)

    people.neighbors = network(model, people)
    return people


def score_threshold(score: np.ndarray, cutoff: float) -> float:
    """The lowest credit score underwriting approves: the ``cutoff`` quantile of the market's scores."""
    return float(np.quantile(score, cutoff)) if len(score) else 0.0


def network(model, people: People) -> np.ndarray:
    """``network_degree`` ties per person: homophilous ones to neighbours in an ordering by place, then
    by a noisy similarity of age (five-year bands) and income; the rest uniformly at random. No self-ties (duplicates
    are possible and count twice, as a closer tie)."""
    pop, rng = model.params.population, model.streams.network
    n, k = people.n, pop.network_degree
    if k == 0 or n < 2:
        return np.zeros((n, 0), np.int32)
    age_band = np.floor((people.age - 18.0) / 5.0)
    income = np.ascontiguousarray(people.income)  # a packed field (sim.state): log of a contiguous copy, as ever
    similarity = age_band + 0.3 * np.tanh(_z(np.log(income))) + rng.normal(0.0, 0.3, n)
    order = np.lexsort((similarity, people.place))
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    offset = rng.geometric(2.0 / (k + 2.0), (n, k)) * np.where(rng.random((n, k)) < 0.5, -1, 1)
    near = order[(pos[:, None] + offset) % n]
    anyone = rng.integers(0, n - 1, (n, k))
    me = np.arange(n)[:, None]
    anyone = anyone + (anyone >= me)  # skip oneself
    ties = np.where(rng.random((n, k)) < pop.homophily, near, anyone)
    ties = np.where(ties == me, (me + 1) % n, ties)  # an offset that wrapped all the way round
    return ties.astype(np.int32)


def set_spending_rates(model, people: People, idx: np.ndarray) -> None:
    """Daily subsistence, habit spending and debt service to other creditors; the present-biased spend
    more out of habit, and nobody spends out of habit while out of work. Settle spending before
    calling this."""
    pop = model.params.population
    daily_income = people.income[idx] / CYCLE
    people.daily_subsistence[idx] = pop.subsistence_share * daily_income
    left = np.maximum(1.0 - pop.subsistence_share - people.other_dsti[idx], 0.0)
    habit = pop.habit_share * left * daily_income * (0.7 + 0.3 * people.present_bias[idx] / pop.present_bias_mean)
    people.daily_habit[idx] = np.where(people.employed[idx], habit, 0.0)
    people.daily_other[idx] = people.other_dsti[idx] * daily_income


def initial_book(model) -> None:
    """Day 0: a share of approvable people already hold a seasoned, current loan.

    Each was originated some whole number of cycles before day 0 (uniform over its term) and has paid
    every instalment so far; its next instalment falls due within the coming cycle.
    """
    people, p = model.people, model.params
    rng = model.streams.population
    eligible = np.flatnonzero(people.score >= model.score_threshold)
    share = min(1.0, p.population.initial_loan_share / max(1e-9, 1.0 - p.acquisition.cutoff))
    take = eligible[rng.random(len(eligible)) < share]
    first_due = loans.first_due_day(model, take, -19, rng)  # within days 1..30
    loans.originate(model, take, 0, first_due=first_due, rng=rng, new_business=False)
    term = np.rint(people.balance[take] / people.instalment[take]).astype(np.int32)
    paid = np.floor(rng.random(len(take)) * term).astype(np.int32)  # instalments already paid
    people.orig_day[take] = first_due - CYCLE * (paid + 1)
    repaid = paid * people.instalment[take]
    people.balance[take] -= repaid
    # the book enters the accounts at its outstanding principal
    already = repaid * people.principal_share[take]
    people.received_total[take] -= already
    model.lender.books.disbursed -= float(already.sum())
