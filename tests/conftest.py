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
# measured cost: the wall seconds the file took on its worker in a traced run of the whole suite
# (`make test`, 2 workers, 2026-12-07), which for a file that mostly waits (the browser) or runs child
# processes (the notebook kernels, its own pools) is not its CPU. A file not listed costs DEFAULT_COST; a
# file that costs more adds its measured figure here (the rule in README's test paragraph).
DEFAULT_COST = 20
COST = {
    "test_notebooks.py": 110,  # wall: four notebook executions in kernels of their own
    "test_app.py": 80,  # wall: the browser and the app's server
    "test_sweep.py": 66,
    "test_elasticity.py": 60,
    "test_abc.py": 60,
    "test_calibrate.py": 36,
    "test_optimize.py": 31,
    "test_directions.py": 30,
    "test_outputs.py": 23,  # four 40,000-borrower baseline runs for the trend tests
    "test_discover.py": 23,  # wall: notebook 05 in a kernel of its own
}


def pytest_collection_modifyitems(config, items):
    """Collect the costliest files first (a stable sort: tests keep their order within a file)."""
    items.sort(key=lambda item: -COST.get(item.path.name, DEFAULT_COST))
