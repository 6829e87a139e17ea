"""Risk-based prioritisation: a behavioural score decides who gets scarce calls and visits first.

Lenders rank their delinquent accounts by a behavioural score, an estimate of the chance that the
loan rolls to a worse bucket, and spend scarce collector time where it changes most. Here the score
is a logistic scorecard of what the lender sees of each loan (never the borrower's hidden state)::

    roll risk = logistic(intercept + dpd_weight x DPD / 30 + broken_promise_weight x promises broken
                         + episode_weight x earlier delinquency episodes of the loan
                         + missed_call_weight x unanswered calls in a row + score_weight x application score)

When the tactic is listed, every contact with a daily capacity (calls, visits) goes in descending
order of ``roll risk`` (``order = "roll_risk"``) or of roll risk times the amount at stake, the
principal still outstanding plus fees (``order = "amount_at_risk"``), instead of the channel's own
order (most overdue first, longest waiting first). The weights are an assumption; the defaults rank
deeper delinquency, broken promises and unanswered calls as riskier, and a better application score
as safer.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..paramtypes import P, Section
from . import Tactic


class RiskBasedParams(Section):
    order: Literal["roll_risk", "amount_at_risk"] = P("roll_risk", "roll_risk|amount_at_risk", "What the scarce contacts go to first: the highest chance to roll, or the most money expected to be lost.")
    intercept: float = P(-2.0, "logit", "Scorecard intercept (assumption).", ge=-20, le=20)
    dpd_weight: float = P(1.5, "logit per 30 DPD", "Deeper delinquency is riskier (assumption).", ge=-10, le=10)
    broken_promise_weight: float = P(0.8, "logit per promise", "Each broken promise to pay on the loan (assumption).", ge=-10, le=10)
    episode_weight: float = P(0.5, "logit per episode", "Each earlier delinquency episode of the loan (assumption).", ge=-10, le=10)
    missed_call_weight: float = P(0.3, "logit per call", "Each unanswered call in a row (assumption).", ge=-10, le=10)
    score_weight: float = P(-0.5, "logit per sd", "The application score (standardised; higher is safer; assumption).", ge=-10, le=10)


class RiskBased(Tactic):
    name = "risk_based"
    doc = "Risk-based prioritisation of calls and visits by a behavioural score."
    Params = RiskBasedParams
    rank = 5

    def roll_risk(self, idx: np.ndarray) -> np.ndarray:
        """The behavioural score of the loans of ``idx``: an estimated chance to roll (0..1)."""
        m, p = self.model, self.p
        ppl = m.people
        z = (p.intercept + p.dpd_weight * ppl.dpd[idx] / 30.0 + p.broken_promise_weight * ppl.promises_broken[idx]
             + p.episode_weight * np.maximum(ppl.episodes[idx] - 1, 0) + p.missed_call_weight * m.contact_history.missed_calls[idx]
             + p.score_weight * ppl.score[idx])
        return 1.0 / (1.0 + np.exp(-z))

    def priority(self, idx, t) -> np.ndarray:
        risk = self.roll_risk(idx)
        if self.p.order == "amount_at_risk":
            ppl = self.model.people
            risk = risk * (ppl.balance[idx] * ppl.principal_share[idx] + ppl.fees[idx])
        return -risk  # the pipeline contacts the lowest key first


TACTIC = RiskBased
