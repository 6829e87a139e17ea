"""Applications and underwriting.

People without a loan (never charged off, past a cool-down after their last loan) apply at a rate
that follows their trust in the brand: ``application_rate * (trust / reference_trust) ** e`` per year,
where the elasticity ``e = trust_elasticity + careful_elasticity * quality`` is larger for better
risks (``quality`` is a person's true credit quality in standard deviations, limited to +-2, and
``e`` is never below 0): careful people are the first to stay away when reputation falls, so
reputation shapes who applies as well as how many. Underwriting approves applicants whose credit
score is at or above the ``cutoff`` quantile of the market's scores (a low cut-off is a low bar).

Each person has an **application clock**: the hazard above accumulates while they could apply, and
they apply when it passes a threshold drawn for their n-th application (an exponential draw, keyed by
person and application number). So a slightly higher or lower trust moves an application slightly
earlier or later instead of to an unrelated day, and two strategies run with the same seed see the
same people apply in the same order (common random numbers). Clocks are advanced in ``CLOCK_GROUPS``
interleaved groups, one group a day by ``CLOCK_GROUPS`` days' hazard, so the daily cost is a seventh
of the market.
"""

from __future__ import annotations

import numpy as np

from .. import accounting
from . import education, loans

QUALITY_LIMIT = 2.0
CLOCK_GROUPS = 7  #: a person's application clock is advanced every this many days


def elasticity(model, idx) -> np.ndarray:
    acq = model.params.acquisition
    q = np.minimum(np.maximum(model.people.quality[idx], -QUALITY_LIMIT), QUALITY_LIMIT)  # np.clip, without its wrapper
    return np.maximum(acq.trust_elasticity + acq.careful_elasticity * q, 0.0)


def rate(model, idx, e=None) -> np.ndarray:
    """Applications per day of the people in ``idx`` at their current trust (``e``: their
    :func:`elasticity`, if already known)."""
    acq = model.params.acquisition
    ratio = np.maximum(model.people.trust[idx], 1e-9) / acq.reference_trust
    return acq.application_rate / 365.0 * np.exp((elasticity(model, idx) if e is None else e) * np.log(ratio))


def threshold(model, idx) -> np.ndarray:
    """The hazard at which each person's next application happens (exponential, mean one)."""
    u = model.streams.person.acquisition.uniform_keyed(idx, model.people.app_count[idx])
    return -np.log1p(-u)


def start_clocks(model) -> None:
    """Day 0: everyone's clock at zero with a threshold for their first application."""
    ppl = model.people
    everyone = np.arange(ppl.n)
    ppl.app_threshold[:] = threshold(model, everyone)


def step(model, t) -> None:
    """Step 8 of the day."""
    ppl, books = model.people, model.lender.books
    g = t % CLOCK_GROUPS  # group g is rows g, g + CLOCK_GROUPS, ...: strided views, no gather
    rows = slice(g, None, CLOCK_GROUPS)
    could = g + CLOCK_GROUPS * (~ppl.has_loan[rows] & ~ppl.banned[rows] & (ppl.cooldown_until[rows] <= t)).nonzero()[0]
    e = elasticity(model, could)
    now = rate(model, could, e)
    accounting.applications_at_prior(model, could, now, e, CLOCK_GROUPS)  # the counterfactual of lost business
    ppl.app_hazard[could] += CLOCK_GROUPS * now
    apply = could[ppl.app_hazard[could] >= ppl.app_threshold[could]]
    ppl.app_hazard[apply] = 0.0
    ppl.app_count[apply] += 1
    ppl.app_threshold[apply] = threshold(model, apply)
    books.applications += len(apply)
    model.applications_today = len(apply)
    approved = model.tactics.screen(apply[ppl.score[apply] >= model.score_threshold], t)  # bureau: records refused
    model.originations_today = len(approved)
    loans.originate(model, approved, t)
    education.at_origination(model, approved)
