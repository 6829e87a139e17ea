"""Applications and underwriting.

People without a loan (never charged off, past a cool-down after their last loan) apply at a rate
that follows their trust in the brand: ``application_rate * (trust / reference_trust) ** e`` per year,
where the elasticity ``e = trust_elasticity + careful_elasticity * quality`` is larger for better
risks (``quality`` is a person's true credit quality in standard deviations, limited to +-2, and
``e`` is never below 0): careful people are the first to stay away when reputation falls, so
reputation shapes who applies as well as how many. Underwriting approves applicants whose credit
score is at or above the ``cutoff`` quantile of the market's scores (a low cut-off is a low bar).
"""

from __future__ import annotations

import numpy as np

from ..rng import sample_rows
from . import loans

QUALITY_LIMIT = 2.0


def elasticity(model, idx) -> np.ndarray:
    acq = model.params.acquisition
    q = np.clip(model.people.quality[idx], -QUALITY_LIMIT, QUALITY_LIMIT)
    return np.maximum(acq.trust_elasticity + acq.careful_elasticity * q, 0.0)


def step(model, t) -> None:
    """Step 8 of the day."""
    ppl, acq, books = model.people, model.params.acquisition, model.lender.books
    rng = model.streams.acquisition
    # thinning: candidates at the highest rate anyone can have, kept in proportion to their own rate
    max_e = acq.trust_elasticity + acq.careful_elasticity * QUALITY_LIMIT
    ceiling = (1.0 / acq.reference_trust) ** max_e
    cand = sample_rows(rng, ppl.n, min(acq.application_rate / 365.0 * ceiling, 1.0))
    u = rng.random(len(cand))
    cand_ok = ~ppl.has_loan[cand] & ~ppl.banned[cand] & (ppl.cooldown_until[cand] <= t)
    rate_ratio = (ppl.trust[cand] / acq.reference_trust) ** elasticity(model, cand) / ceiling
    apply = cand[(u < rate_ratio) & cand_ok]
    books.applications += len(apply)
    model.applications_today = len(apply)
    approved = apply[ppl.score[apply] >= model.score_threshold]
    model.originations_today = len(approved)
    loans.originate(model, approved, t)
