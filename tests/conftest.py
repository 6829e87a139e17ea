import numpy as np
import pytest

import sim


@pytest.fixture
def model_factory():
    """A small model of a shipped scenario, with optional dotted overrides."""

    def make(scenario="baseline", borrowers=600, seed=3, **dotted):
        return sim.CreditModel(scenario=scenario, borrowers=borrowers, days=400, rng=seed, overrides=dotted)

    return make
