import numpy as np
import pytest

import sim


@pytest.fixture
def model_factory():
    """A small model of a shipped scenario, with optional dotted overrides.

    Mechanism tests watch the model from day 0, so there is no burn-in unless a test asks for one.
    """

    def make(scenario="baseline", borrowers=600, seed=3, **dotted):
        dotted = {"simulation.burn_in": 0, **dotted}
        return sim.CreditModel(scenario=scenario, borrowers=borrowers, days=400, rng=seed, overrides=dotted)

    return make
