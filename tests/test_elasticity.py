"""No cliffs: at the baseline, moving any single numeric parameter by +-20% (within its range) changes
``default_rate`` and ``roll_30_60`` by less than a factor of 2.

``experiments/elasticity.py`` walks every numeric parameter at a small size (one paired run each); at
that size a run has a few dozen charge-offs, so the walk is a screen. The test below confirms the
parameters the screen finds most sensitive (those whose ratio came within reach of 2) at 8,000
people x 730 days with two paired seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))  # worker processes inherit the path
import elasticity  # noqa: E402

#: the screen's most sensitive parameters (budgets, shocks, the decision rule, the charge-off point)
SENSITIVE = ("population.subsistence_share", "shocks.job_loss_rate", "population.impulse_rate",
             "shocks.unemployment_months", "loans.charge_off_dpd", "repayment.intercept")


def test_the_walk_covers_the_model_parameters():
    walked = {p for p, _ in elasticity.variants()}
    for must in SENSITIVE + ("shocks.benefit_share", "stress.arrears_strain", "trust.learning_rate"):
        assert must in walked
    assert len(walked) > 80
    for p, v in elasticity.variants():
        lo, hi = elasticity._bounds(p)
        assert lo <= v <= hi, (p, v)


@pytest.mark.slow
def test_the_most_sensitive_parameters_move_outcomes_by_less_than_a_factor_of_two():
    params = [(p, v) for p, v in elasticity.variants() if p in SENSITIVE]
    assert len(params) == 2 * len(SENSITIVE)
    res = elasticity.walk(params, 8000, 730, (1, 2))
    assert all(b > 0 for b in res[(None, None)])
    bad = [(round(w, 2), p, v) for w, p, v, _ in elasticity.ratios(res) if not w < 2.0]
    assert not bad, bad
