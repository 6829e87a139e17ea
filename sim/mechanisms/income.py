"""Income and shocks: pay days, job loss and re-employment, family emergencies.

Pay varies from month to month around a person's usual pay (a mean-one log-normal factor whose
spread is the person's ``volatility``: irregular earners vary much more). Out of work, a person lives
on their own level of support (``People.benefit``, a share of usual pay: benefits and family help).

Nothing here depends on the lender's strategy, and each draw comes from the ``income`` or ``shocks``
stream in an order fixed by the population alone: with the same seed, every strategy faces the same
pay and the same shocks (common random numbers).
"""

from __future__ import annotations

import numpy as np

from ..rng import sample_rows
from ..state import CYCLE
from . import population, spending

HARDSHIP_AFTER_SHOCK = 60  #: days a shock keeps counting as hardship (plan eligibility)
FOREVER = 2**30


def step(model, t) -> None:
    """Step 2 of the day."""
    pay_day(model, t)
    job_loss(model, t)
    reemployment(model, t)
    emergencies(model, t)


def pay_day(model, t) -> None:
    ppl = model.people
    idx = model.pay_groups[t % CYCLE]
    if len(idx) == 0:
        return
    vol = ppl.volatility[idx]
    noise = np.exp(vol * model.streams.income.standard_normal(len(idx)) - 0.5 * vol * vol)  # mean one
    spending.settle(model, idx, t)
    pay = ppl.income[idx] * np.where(ppl.employed[idx], noise, ppl.benefit[idx])
    ppl.cash[idx] += pay
    ppl.income_received[idx] += pay


def job_loss(model, t) -> None:
    ppl, sh, st = model.people, model.params.shocks, model.params.stress
    hit = sample_rows(model.streams.shocks, ppl.n, sh.job_loss_rate / 365.0 * model.macro.job_loss)
    lost = hit[ppl.employed[hit]]
    if len(lost) == 0:  # nothing below acts on an empty selection (a common day in a small market)
        return
    spending.settle(model, lost, t)
    ppl.employed[lost] = False
    population.set_spending_rates(model, ppl, lost)
    ppl.hardship_until[lost] = FOREVER
    ppl.last_job_loss[lost] = t
    ppl.shock_count[lost] += 1
    model.experience(lost, stress=st.job_loss)


def reemployment(model, t) -> None:
    ppl, sh = model.people, model.params.shocks
    out = (~ppl.employed).nonzero()[0]
    hazard = model.macro.reemployment / (sh.unemployment_months * CYCLE)
    back = out[model.streams.shocks.random(len(out)) < hazard]
    if len(back) == 0:
        return
    spending.settle(model, back, t)
    ppl.employed[back] = True
    population.set_spending_rates(model, ppl, back)
    ppl.hardship_until[back] = t + HARDSHIP_AFTER_SHOCK


def emergencies(model, t) -> None:
    ppl, sh, st = model.people, model.params.shocks, model.params.stress
    rng = model.streams.shocks
    hit = sample_rows(rng, ppl.n, sh.emergency_rate / 365.0 * model.macro.emergency)
    cost = rng.exponential(1.0, len(hit)) * sh.emergency_cost_months * ppl.income[hit]
    if len(hit) == 0:
        return
    spending.settle(model, hit, t)
    spending.spend(ppl, hit, cost, use_reserved=True)
    ppl.hardship_until[hit] = np.maximum(ppl.hardship_until[hit], t + HARDSHIP_AFTER_SHOCK)
    ppl.last_emergency[hit] = t
    ppl.shock_count[hit] += 1
    model.experience(hit, stress=st.emergency)
