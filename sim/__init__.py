"""credsim: an agent-based simulation of consumer-credit delinquency and debt collection."""

from .model import CreditModel
from .params import Scenario
from .run import Result, run
from .scenario import ScenarioError, load_scenario

__version__ = "0.1.0"
__all__ = ["CreditModel", "Result", "Scenario", "ScenarioError", "load_scenario", "run", "__version__"]
