"""Applications and underwriting.

People without a loan (never charged off, past a cool-down after their last loan) apply at a rate
that follows their trust in the brand: ``application_rate * (trust / reference_trust) **
trust_elasticity`` per year. Underwriting approves applicants whose credit score is at or above the
``cutoff`` quantile of the market's scores (a low cut-off is a low bar).
"""

from __future__ import annotations

import numpy as np

from ..rng import sample_rows
from . import loans


def step(model, t) -> None:
    """Step 8 of the day."""
    ppl, acq, books = model.people, model.params.acquisition, model.lender.books
    rng = model.streams.acquisition
    ceiling = (1.0 / acq.reference_trust) ** acq.trust_elasticity
    cand = sample_rows(rng, ppl.n, acq.application_rate / 365.0 * ceiling)
    u = rng.random(len(cand))
    rate_ratio = (ppl.trust[cand] / acq.reference_trust) ** acq.trust_elasticity / ceiling
    apply = cand[(u < rate_ratio) & ~ppl.has_loan[cand] & ~ppl.banned[cand] & (ppl.cooldown_until[cand] <= t)]
    books.applications += len(apply)
    model.applications_today = len(apply)
    approved = apply[ppl.score[apply] >= model.score_threshold]
    model.originations_today = len(approved)
    loans.originate(model, approved, t)
