"""Who is in the market: incomes, buffers, traits, ties, and the starting book of loans."""

from __future__ import annotations

import numpy as np

from ..rng import seed_sequence
from ..state import CYCLE, People
from . import loans


def _beta(rng, mean, n, concentration=8.0):
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, n)


def create(model) -> People:
    p, rng = model.params, model.streams.population
    pop, sh = p.population, p.shocks
    n = pop.borrowers
    people = People(n)

    people.income = pop.income_median * rng.lognormal(0.0, pop.income_sigma, n)
    # start unemployment at its steady state for normal times
    monthly_loss = sh.job_loss_rate / 12.0
    u0 = monthly_loss * sh.unemployment_months / (1.0 + monthly_loss * sh.unemployment_months)
    people.employed = rng.random(n) >= u0
    people.pay_offset = rng.integers(0, CYCLE, n).astype(np.int32)
    people.cash = pop.savings_months * people.income * rng.lognormal(0.0, 1.0, n)

    people.present_bias = _beta(rng, pop.present_bias_mean, n)
    people.literacy = _beta(rng, pop.literacy_mean, n)
    people.understanding = np.clip(
        people.literacy - pop.understanding_gap + rng.normal(0.0, 0.1, n), 0.0, 1.0
    )
    people.address_ok = rng.random(n) >= pop.address_unverifiable
    set_spending_rates(model, people, np.arange(n))

    people.stress = np.clip(p.stress.baseline + rng.normal(0.0, 0.05, n), 0.0, 1.0)
    people.trust = _beta(rng, p.trust.initial_mean, n, concentration=12.0)
    people.attention[:] = 0.5
    people.attention_floor = p.repayment.attention_floor

    # Credit score: a noisy view of what truly drives repayment (impatience, literacy, buffer).
    risk = 1.2 * people.present_bias - 0.8 * people.literacy - 0.3 * np.log1p(people.cash / people.income)
    risk = (risk - risk.mean()) / (risk.std() + 1e-12)
    people.score = -risk + p.acquisition.score_noise * rng.normal(0.0, 1.0, n)
    model.score_threshold = float(np.quantile(people.score, p.acquisition.cutoff)) if n else 0.0

    k = pop.network_degree
    people.neighbors = model.streams.network.integers(0, n, (n, k)).astype(np.int32)

    # Age (years): a placeholder, young market (mean 30) until a calibrated distribution replaces it.
    # Drawn last, from its own generator, so every other draw (here and in the day-0 book, which
    # continues the population stream) is what it was before age existed.
    age_rng = np.random.Generator(np.random.PCG64(seed_sequence(model.seed, "population", "age")))
    people.age = 18.0 + age_rng.gamma(2.0, 6.0, n)
    return people


def set_spending_rates(model, people: People, idx: np.ndarray) -> None:
    """Daily subsistence and habit spending; the present-biased spend more out of habit, and
    nobody spends out of habit while out of work. Settle spending before calling this."""
    pop = model.params.population
    daily_income = people.income[idx] / CYCLE
    people.daily_subsistence[idx] = pop.subsistence_share * daily_income
    habit = pop.habit_share * daily_income * (0.7 + 0.3 * people.present_bias[idx] / pop.present_bias_mean)
    people.daily_habit[idx] = np.where(people.employed[idx], habit, 0.0)


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
