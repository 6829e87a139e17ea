"""credsim: an agent-based simulation of consumer-credit delinquency and debt collection.

The public API is imported lazily, so that quick commands (``credsim --version``, ``validate``)
do not pay for importing Mesa.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "CreditModel": "sim.model",
    "Result": "sim.runner",
    "run": "sim.runner",
    "Scenario": "sim.params",
    "ScenarioError": "sim.scenario",
    "load_scenario": "sim.scenario",
    "UndefinedMetricWarning": "sim.metrics",
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
