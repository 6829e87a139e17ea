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


# --------------------------------------------------------------------------- scheduling under xdist
#
# `make test` runs `pytest -n auto --dist loadfile --no-loadscope-reorder`: a file is one unit of work,
# handed to the next free worker in collection order (xdist's default reorder would put the files with
# the fewest tests, which are the costliest here, last). The suite finishes soonest when the longest units
# start first (longest processing time first), so files are collected in decreasing order of their
# measured cost: CPU seconds (user + system, child processes included) of `pytest tests/FILE` run alone,
# or for a file that mostly waits (the browser) or whose child processes escape that count (the notebook
# kernels), seconds of wall time on a quiet machine. A file not listed costs DEFAULT_COST; a file that
# costs more adds its measured figure here (the rule in README's test paragraph).
DEFAULT_COST = 20
COST = {
    "test_notebooks.py": 120,  # wall: five notebook executions in kernels of their own
    "test_calibrate.py": 93,
    "test_directions.py": 85,  # 127 with its former 730-day window
    "test_elasticity.py": 103,
    "test_sweep.py": 92,
    "test_abc.py": 66,
    "test_app.py": 70,  # wall: mostly waiting on the browser (45 s of CPU)
    "test_economics.py": 45,
    "test_outputs.py": 22,  # four 40,000-borrower baseline runs for the trend tests
    "test_main_job.py": 27,
    "test_optimize.py": 28,
    "test_results.py": 22,
    "test_discover.py": 22,  # wall: notebook 05 in a kernel of its own
}


def pytest_collection_modifyitems(config, items):
    """Collect the costliest files first (a stable sort: tests keep their order within a file)."""
    items.sort(key=lambda item: -COST.get(item.path.name, DEFAULT_COST))
