"""Calibration by the method of simulated moments: fit chosen parameters to target figures.

A targets file (TOML) names a base scenario, the run size, the targets and the parameters to fit::

    name = "baseline"              # optional (default: the file's stem); results/calibration/NAME
    scenario = "baseline"          # the base scenario: a file (relative to this one) or a shipped name
    borrowers = 10000              # optional: population.borrowers of every run
    days = 730                     # optional: simulation.days of every run
    replicates = 4                 # replicates per evaluation (the same seeds every evaluation)
    seed = 0                       # replicate r runs with sim.rng.replicate_seed(seed, r)
    validation_replicates = 8      # optional (default 2 x replicates): fresh seeds for the validation

    [[targets]]
    name = "ever_30dpd_rate"       # a summary key (sim.metrics.SUMMARY) or a derived moment (DERIVED)
    value = 0.0807
    sd = 0.005                     # or weight = ...: the term is ((model - value) / sd)^2, or weight x (...)^2
    relation = "="                 # "=" (default), "<=" or ">=": a one-sided (soft) target
    label = "Ever 30+ DPD within the first year"     # optional, for the tables
    source = "Home Credit Default Risk data set (Kaggle 2018)"
    holdout = false                # true: not fitted, only reported (validation of a fit on the others)

    [parameters]                   # dotted parameter names -> search range and start
    "shocks.job_loss_rate" = { min = 0.05, max = 0.4, start = 0.15 }   # min, max: default the documented range

    [optimizer]                    # optional
    method = "nelder-mead"         # nelder-mead | powell | differential-evolution
    max_evaluations = 40           # hard budget of objective evaluations
    tolerance = 0.005              # parameter tolerance, as a share of each parameter's range

    [abc]                          # optional: settings of --method abc (see sim/abc.py)

The objective is the weighted sum of squared distances between the targets and the mean over
replicates of the simulated moments. Every evaluation runs the same replicate seeds (common random
numbers), so two nearby parameter sets face the same people and draws, and the objective is far
smoother than independent replicates would make it. Replicates run on the sweep executor
(:mod:`sim.execute`: the worker processes of ``credsim sweep``, each calling :func:`sim.run`). The optimiser works in the unit box: each
parameter scaled to [0, 1] over its range.

After the fit, the fitted values (as written to ``calibrated.toml``) and the base scenario are each run
with ``validation_replicates`` fresh seeds (replicates ``replicates, replicates + 1, ...`` of the same
base seed, never used by the fit) to report each target's model value with a 95% confidence interval.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .analysis import mean_ci  # the project's one interval: Student t, logit scale for rates, NaN from one run
from .execute import RunFailed, gather  # noqa: F401 - RunFailed: what a failed run raises here too
from .metrics import RATE_KEYS, SUMMARY, SUMMARY_KEYS
from .params import Scenario, iter_parameters
from .regions import CALIBRATED, TOML_BEGIN, TOML_END, toml_region_re
from .state import CAUSES
from .rng import replicate_seed
from .scenario import SCENARIO_DIR, ScenarioError, _describe, load_scenario, read_toml, resolve_path, with_overrides

VALIDATION_REGION = "validation"


# ---------------------------------------------------------------------------------------------
# moments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Derived:
    """A moment computed from a run's summary; ``low``/``high``: the values it can take (None: open)."""

    definition: str
    compute: Callable[[dict], float]
    percent: bool = True
    low: float | None = 0.0
    high: float | None = None


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _ratio(a: float, b: float) -> float:
    """a / b, NaN when b is 0 or either is undefined (a shape the run cannot show is no evidence either way)."""
    a, b = float(a), float(b)
    return a / b if b and math.isfinite(a) and math.isfinite(b) else float("nan")


def _largest_cause(s: dict) -> float:
    shares = [float(s[f"cause_{c}"]) for c in CAUSES]
    return max(shares) if all(math.isfinite(v) for v in shares) else float("nan")


#: moments derived from the summary, by name (besides the summary keys themselves)
DERIVED: dict[str, Derived] = {
    "recovery_share": Derived(
        "recoveries / credit_loss: paid on charged-off debt per unit of principal written off, over the "
        "measurement window (0 when nothing was charged off)",
        lambda s: _div(s["recoveries"], s["credit_loss"]),
    ),
    "on_time_rate": Derived(
        "1 - late_payment_rate: share of instalments due on current loans paid before 1 DPD",
        lambda s: 1.0 - s["late_payment_rate"],
    ),
    "default_to_ever30": Derived(
        "default_rate / ever_30dpd_rate: charge-offs relative to loans ever 30+ DPD (0 when none reached 30 DPD)",
        lambda s: _div(s["default_rate"], s["ever_30dpd_rate"]),
        percent=False,
    ),
    # shapes of the delinquency ladder: ratios of neighbouring buckets (NaN when the lower one is empty)
    "roll_60_90_to_30_60": Derived(
        "roll_60_90 / roll_30_60: how much likelier a loan at 60-89 DPD is to roll on than one at 30-59 DPD "
        "(above 1: roll rates rise with depth)",
        lambda s: _ratio(s["roll_60_90"], s["roll_30_60"]),
        percent=False,
    ),
    "roll_90_120_to_60_90": Derived(
        "roll_90_120 / roll_60_90: the same one bucket deeper (the last roll is to charge-off)",
        lambda s: _ratio(s["roll_90_120"], s["roll_60_90"]),
        percent=False,
    ),
    "cure_30_59_to_1_29": Derived(
        "cure_30_59 / cure_1_29: how likely a loan at 30-59 DPD is to be current a month later, relative to one "
        "at 1-29 DPD (below 1: cure rates fall with depth)",
        lambda s: _ratio(s["cure_30_59"], s["cure_1_29"]),
        percent=False,
    ),
    "cure_60_89_to_30_59": Derived(
        "cure_60_89 / cure_30_59: the same one bucket deeper",
        lambda s: _ratio(s["cure_60_89"], s["cure_30_59"]),
        percent=False,
    ),
    "largest_cause_share": Derived(
        "the largest of the cause_* shares: the share of the loans first reaching 30+ DPD in the window that "
        "the most common cause accounts for (NaN when no loan reached 30+ DPD)",
        _largest_cause,
        high=1.0,
    ),
}


def moment_names() -> list[str]:
    return [*SUMMARY_KEYS, *DERIVED]


def moment_definition(name: str) -> str:
    return DERIVED[name].definition if name in DERIVED else SUMMARY.get(name, "")


def moment(name: str, summary: dict) -> float:
    """One moment of one run."""
    value = DERIVED[name].compute(summary) if name in DERIVED else summary[name]
    return float(value) if value is not None else float("nan")


def is_percent(name: str) -> bool:
    if name in DERIVED:
        return DERIVED[name].percent
    return name.endswith(("_rate", "_share")) or name.startswith("roll_")


# ---------------------------------------------------------------------------------------------
# the targets file
# ---------------------------------------------------------------------------------------------
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: moments that are shares of something, so only values in [0, 1] can be targets
RATE_MOMENTS = frozenset([*RATE_KEYS, "on_time_rate", "largest_cause_share"])


def _finite(v: float | None) -> float | None:
    """NaN and infinity pass range checks where a side is open; no figure means them."""
    if v is not None and not math.isfinite(v):
        raise ValueError(f"a finite number, got {v!r}")
    return v


class TargetSpec(_Spec):
    name: str = Field(description="A summary key or a derived moment.")
    value: float = Field(description="The target figure.")
    sd: float | None = Field(None, gt=0, description="Tolerance: the term is ((model - value) / sd)^2.")
    weight: float | None = Field(None, gt=0, description="Weight: the term is weight x (model - value)^2.")
    relation: Literal["=", "<=", ">="] = Field("=", description="'<=' / '>=': only a model value beyond it counts.")
    label: str = Field("", description="What the target is, for the tables (default: the moment's name).")
    source: str = Field("", description="Where the figure comes from.")
    holdout: bool = Field(False, description="Held back from the fit; reported as validation.")

    @field_validator("value", "sd", "weight")
    @classmethod
    def _finite_numbers(cls, v: float | None) -> float | None:
        return _finite(v)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in SUMMARY and v not in DERIVED:
            raise ValueError(
                f"a summary key (see docs/ODD.md) or a derived moment ({', '.join(DERIVED)}), got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _weighting(self) -> "TargetSpec":
        if (self.sd is None) == (self.weight is None):
            raise ValueError("exactly one of sd or weight")
        return self

    @field_validator("value")
    @classmethod
    def _in_range(cls, v: float, info: ValidationInfo) -> float:
        # a rate no run can produce is a slip (5.0 for 5%): the fit would only chase it to a bound
        name = info.data.get("name")
        if name in RATE_MOMENTS and not 0.0 <= v <= 1.0:
            raise ValueError(f"a value between 0 and 1 for the rate {name} (5% is 0.05), got {v!r}")
        if name in DERIVED:
            lo, hi = DERIVED[name].low, DERIVED[name].high
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise ValueError(f"a value in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}], "
                                 f"what {name} can take, got {v!r}")
        return v

    @property
    def w(self) -> float:
        return 1.0 / self.sd**2 if self.sd is not None else float(self.weight)

    @property
    def title(self) -> str:
        return self.label or self.name


class ParamSpec(_Spec):
    min: float | None = Field(None, description="Default: the parameter's documented lower bound.")
    max: float | None = Field(None, description="Default: the parameter's documented upper bound.")
    start: float | None = Field(None, description="Where the search starts (default: the base scenario's value).")

    @field_validator("min", "max", "start")
    @classmethod
    def _finite_numbers(cls, v: float | None) -> float | None:
        return _finite(v)

    @model_validator(mode="after")
    def _order(self) -> "ParamSpec":
        if self.min is not None and self.max is not None and not self.max > self.min:
            raise ValueError(f"min < max, got min = {self.min!r}, max = {self.max!r}")
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        if self.start is not None and not lo <= self.start <= hi:
            raise ValueError(f"start within [min, max], got {self.start!r}")
        return self


class OptimizerSpec(_Spec):
    method: Literal["nelder-mead", "powell", "differential-evolution"] = "nelder-mead"
    max_evaluations: int = Field(40, ge=1, le=100_000, description="Hard budget of objective evaluations.")
    maxiter: int | None = Field(None, ge=1, description="The SciPy method's own iteration cap.")
    tolerance: float = Field(0.005, gt=0, le=1, description="Parameter tolerance, a share of each range.")
    ftol: float = Field(1e-3, gt=0, description="Objective tolerance.")
    initial_step: float = Field(0.15, gt=0, le=1, description="Nelder-Mead: initial simplex size, a share of each range.")
    popsize: int = Field(5, ge=1, le=100, description="Differential evolution: population size per parameter.")
    seed: int = Field(0, ge=0, description="Differential evolution: seed of the optimiser (not of the runs).")


class CalibrationSpec(_Spec):
    name: str | None = None
    description: str = ""
    scenario: str = "baseline"
    borrowers: int | None = Field(None, ge=10, le=20_000_000)
    days: int | None = Field(None, ge=1)
    replicates: int = Field(4, ge=1, le=10_000)
    seed: int = Field(0, ge=0)
    validation_replicates: int | None = Field(None, ge=0, le=10_000)
    targets: list[TargetSpec] = Field(min_length=1)
    parameters: dict[str, ParamSpec] = Field(min_length=1)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    abc: dict[str, Any] = Field(default_factory=dict, description="Settings of --method abc, checked by sim.abc.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not (v and v.replace("_", "").replace("-", "").isalnum()):
            raise ValueError(f"letters, digits, '_' or '-', got {v!r}")
        return v


def _flatten_parameters(node: Any, prefix: str = "") -> Any:
    """``[parameters]`` may be written with quoted dotted keys or as nested tables: make it flat."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not ({"min", "max", "start"} & set(v)) and all(isinstance(x, dict) for x in v.values()):
            out.update(_flatten_parameters(v, key + "."))
        else:
            out[key] = v
    return out


def _describe_spec(err: dict) -> tuple[str, str]:
    loc, text = _describe(err)
    if err["type"] == "extra_forbidden":
        text = "unknown key in a targets file (see sim/calibrate.py for the format)"
    elif loc.startswith("parameters.") and err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        text = f"a table {{min = ..., max = ..., start = ...}}, got {err.get('input')!r}"
    return loc, text


def documented_range(key: str) -> tuple[float | None, float | None]:
    """The ``ge``/``le`` (or ``gt``/``lt``) bounds a parameter is declared with in sim/params.py (None: open)."""
    model: Any = Scenario
    *sections, leaf = key.split(".")
    for part in sections:
        model = model.model_fields[part].annotation
    lo = hi = None
    for m in model.model_fields[leaf].metadata:
        lo = getattr(m, "ge", getattr(m, "gt", lo))
        hi = getattr(m, "le", getattr(m, "lt", hi))
    return lo, hi


def _parameter_types() -> dict[str, Any]:
    """Every leaf parameter's dotted name and type."""
    return {path: ann for path, _u, _d, _doc, ann in iter_parameters()}


@dataclass
class Problem:
    """A validated targets file: everything a calibration needs."""

    spec: CalibrationSpec
    path: Path
    name: str
    base: Scenario  # the base scenario at the calibration size
    base_path: Path  # its file
    keys: list[str]
    lo: np.ndarray
    hi: np.ndarray
    start: np.ndarray
    base_values: dict[str, float]
    seeds: list[int]
    validation_seeds: list[int]

    @property
    def targets(self) -> list[TargetSpec]:
        return self.spec.targets

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, float) - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Parameter values of a point of the unit box (clipped to it), to 10 significant digits."""
        x = self.lo + np.clip(np.asarray(u, float), 0.0, 1.0) * (self.hi - self.lo)
        return np.array([float(f"{v:.10g}") for v in np.atleast_1d(x)])

    def overrides(self, x: Sequence[float]) -> dict[str, float]:
        return {k: float(v) for k, v in zip(self.keys, x)}


def _base_file(spec: CalibrationSpec, path: Path) -> Path:
    """The base scenario's file: relative to the targets file, else a path or a shipped name."""
    near = path.parent / spec.scenario
    if near.is_file():
        return near
    if (path.parent / f"{spec.scenario}.toml").is_file() and not Path(spec.scenario).suffix:
        return path.parent / f"{spec.scenario}.toml"
    return resolve_path(spec.scenario)


def load_targets(path: str | Path) -> Problem:
    """Read and validate a targets file; raise :class:`ScenarioError` (``FILE: key: expected``) on any problem."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(path, "file", "an existing targets file; not found")
    if not path.is_file():
        raise ScenarioError(path, "file", "a targets file, not a directory")
    raw = read_toml(path)
    if "parameters" not in raw:
        raise ScenarioError(path, "parameters", 'a [parameters] table naming the parameters to fit and their ranges, '
                                                'e.g. "shocks.job_loss_rate" = { min = 0.05, max = 0.4 }; this file has none')
    if "targets" not in raw:
        raise ScenarioError(path, "targets", "[[targets]] tables naming the figures to fit (name, value, sd or weight); "
                                             "this file has none")
    if "parameters" in raw:
        raw["parameters"] = _flatten_parameters(raw["parameters"])
    try:
        spec = CalibrationSpec.model_validate(raw, strict=True)
    except ValidationError as e:
        loc, text = _describe_spec(e.errors()[0])
        raise ScenarioError(path, loc, text) from None

    base_path = _base_file(spec, path)
    try:
        base = load_scenario(base_path)
    except ScenarioError as e:
        if e.key == "file" and e.source == str(base_path):
            raise ScenarioError(path, "scenario", f"an existing scenario file (relative to this file) or a shipped name, "
                                                  f"'{spec.scenario}' not found") from None
        raise
    size: dict[str, Any] = {}
    if spec.borrowers is not None:
        size["population.borrowers"] = spec.borrowers
    if spec.days is not None:
        size["simulation.days"] = spec.days
    if size:
        try:
            base = with_overrides(base, size, source=str(path))
        except ScenarioError as e:
            raise ScenarioError(path, "borrowers" if "borrowers" in e.key else "days", e.expected) from None

    types = _parameter_types()
    keys = list(spec.parameters)
    base_tree = base.model_dump()
    base_values: dict[str, float] = {}
    for k in keys:
        where = f"parameters.{k}"
        if k not in types:
            raise ScenarioError(path, where, "a parameter name (see docs/ODD.md for the parameter list)")
        if types[k] is not float:
            kind = getattr(types[k], "__name__", str(types[k]))
            raise ScenarioError(path, where, f"a real-valued parameter; this one is of type {kind}")
        node: Any = base_tree
        for part in k.split("."):
            node = node[part]
        base_values[k] = float(node)
        p = spec.parameters[k]
        if p.min is None or p.max is None:
            doc_lo, doc_hi = documented_range(k)
            for bound, v in (("min", doc_lo), ("max", doc_hi)):
                if getattr(p, bound) is None:
                    if v is None:
                        raise ScenarioError(path, f"{where}.{bound}", "a number: the parameter has no documented bound there")
                    setattr(p, bound, float(v))
            if not p.max > p.min:
                raise ScenarioError(path, where, f"min < max, got min = {p.min!r}, max = {p.max!r}")
        for bound in ("min", "max", "start"):
            v = getattr(p, bound)
            if v is None:
                continue
            try:
                with_overrides(base, {k: v}, source=str(path))
            except ScenarioError as e:
                raise ScenarioError(path, f"{where}.{bound}", e.expected) from None
        if p.start is None and not p.min <= base_values[k] <= p.max:
            raise ScenarioError(path, f"{where}.start", f"a start within [min, max] (the base value {base_values[k]!r} is outside)")

    lo = np.array([spec.parameters[k].min for k in keys])
    hi = np.array([spec.parameters[k].max for k in keys])
    start = np.array([spec.parameters[k].start if spec.parameters[k].start is not None else base_values[k] for k in keys])
    n_val = spec.validation_replicates if spec.validation_replicates is not None else 2 * spec.replicates
    seeds = [replicate_seed(spec.seed, r) for r in range(spec.replicates)]
    validation_seeds = [replicate_seed(spec.seed, spec.replicates + r) for r in range(n_val)]
    return Problem(spec, path, spec.name or path.stem, base, base_path, keys, lo, hi, start, base_values, seeds,
                   validation_seeds)


# ---------------------------------------------------------------------------------------------
# running replicates
# ---------------------------------------------------------------------------------------------
class Runner:
    """Runs batches of (scenario, overrides, seed) through the sweep executor (:mod:`sim.execute`): on
    local worker processes, or in this process with one worker; returns the summaries in job order.

    The executor (its worker processes) stays open from the first batch until the runner is closed.
    """

    def __init__(self, workers: int | None = None, executor: str | None = None, scheduler: str | None = None):
        from .execute import default_workers

        self.workers = max(1, workers or default_workers())
        self.executor = executor or ("serial" if self.workers == 1 else "local")
        self.scheduler = scheduler
        self._stack: ExitStack | None = None
        self._execute: Callable | None = None

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack, self._execute = None, None

    def open(self) -> "Runner":
        """Open the executor now (a Dask scheduler that cannot be reached fails here: ExecutorError)."""
        from .execute import execute_summary, open_executor

        if self._execute is None:
            self._stack = ExitStack()
            self._execute = self._stack.enter_context(
                open_executor(self.executor, self.workers, self.scheduler, fn=execute_summary))
        return self

    def map(self, jobs: list[tuple[Scenario, dict[str, float], int]]) -> list[dict]:
        from .model import build_scenario
        from .sweep import Job

        if not jobs:
            return []
        runs = [Job(f"calibration__r{i:06d}", sc.name, 0, i, seed, build_scenario(sc, overrides=overrides or None),
                    dict(overrides or {})) for i, (sc, overrides, seed) in enumerate(jobs)]
        self.open()
        done = gather(self._execute, runs, lambda job, out: f"run of {job.scenario} with {job.design_values} and seed "
                                                            f"{job.seed} failed: {out['error']}\n{out.get('traceback', '')}")
        return [out["summary"] for out in done]


# ---------------------------------------------------------------------------------------------
# the objective
# ---------------------------------------------------------------------------------------------
def residual(target: TargetSpec, model: float) -> float:
    """Model minus target; 0 on the allowed side of a one-sided target."""
    d = model - target.value
    if target.relation == "<=":
        return max(d, 0.0)
    if target.relation == ">=":
        return min(d, 0.0)
    return d


def objective(targets: Sequence[TargetSpec], means: dict[str, float]) -> float:
    """Weighted sum of squared distances; infinite if a moment is undefined."""
    total = 0.0
    for t in targets:
        if t.holdout:  # reported, not fitted
            continue
        m = means[t.name]
        if not math.isfinite(m):
            return float("inf")
        total += t.w * residual(t, m) ** 2
    return total


def replicate_moments(targets: Sequence[TargetSpec], summaries: list[dict]) -> dict[str, list[float]]:
    names = list(dict.fromkeys(t.name for t in targets))
    return {n: [moment(n, s) for s in summaries] for n in names}


def _mean(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else float("nan")


@dataclass
class Evaluation:
    n: int
    values: dict[str, float]
    moments: dict[str, float]
    replicates: dict[str, list[float]]
    objective: float
    seconds: float

    def as_dict(self) -> dict:
        return {"evaluation": self.n, "parameters": self.values, "moments": self.moments,
                "replicate_moments": self.replicates, "objective": _json_num(self.objective),
                "seconds": round(self.seconds, 3)}


class BudgetExhausted(Exception):
    """The evaluation budget is spent."""


class Objective:
    """The objective on the unit box, with a cache, an evaluation budget and a history."""

    def __init__(self, problem: Problem, runner: Runner, log: Callable[[str], None] | None = None):
        self.problem, self.runner, self.log = problem, runner, log
        self.history: list[Evaluation] = []
        self._cache: dict[tuple, float] = {}
        self.budget = problem.spec.optimizer.max_evaluations

    def _key(self, u: np.ndarray) -> tuple:
        return tuple(self.problem.from_unit(u))  # the parameter values actually run

    def __call__(self, u: np.ndarray) -> float:
        return self.batch([u])[0]

    def batch(self, us: Sequence[np.ndarray]) -> list[float]:
        """Evaluate several points at once (all their replicates in parallel); cached points cost nothing."""
        p = self.problem
        keys = [self._key(u) for u in us]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        left = self.budget - len(self.history)
        if left <= 0 and todo:
            raise BudgetExhausted
        short = len(todo) > left
        todo = todo[:left]
        if todo:
            t0 = time.monotonic()
            xs = [np.array(k) for k in todo]
            jobs = [(p.base, p.overrides(x), s) for x in xs for s in p.seeds]
            summaries = self.runner.map(jobs)
            dt = (time.monotonic() - t0) / len(todo)
            R = len(p.seeds)
            for i, (k, x) in enumerate(zip(todo, xs)):
                reps = replicate_moments(p.targets, summaries[i * R:(i + 1) * R])
                means = {n: _mean(v) for n, v in reps.items()}
                f = objective(p.targets, means)
                ev = Evaluation(len(self.history) + 1, p.overrides(x), means, reps, f, dt)
                self.history.append(ev)
                self._cache[k] = f
                if self.log:
                    vals = ", ".join(f"{n}={v:.5g}" for n, v in ev.values.items())
                    self.log(f"evaluation {ev.n:>3}/{self.budget}: {vals} -> objective {f:.5g}  ({dt:.1f} s)")
        if short:
            raise BudgetExhausted
        return [self._cache[k] for k in keys]

    def best(self) -> Evaluation:
        return min(self.history, key=lambda e: (e.objective, e.n))


# ---------------------------------------------------------------------------------------------
# optimisation
# ---------------------------------------------------------------------------------------------
@dataclass
class Fit:
    problem: Problem
    best: Evaluation
    fitted: dict[str, float]  # the values written to calibrated.toml (rounded)
    history: list[Evaluation]
    method: str
    message: str
    seconds: float
    started: str


def _round(v: float) -> float:
    return float(f"{v:.6g}")


def _run_optimizer(problem: Problem, f: Objective) -> str:
    from scipy import optimize

    opt = problem.spec.optimizer
    k = len(problem.keys)
    u0 = np.clip(problem.to_unit(problem.start), 0.0, 1.0)
    bounds = [(0.0, 1.0)] * k
    try:
        if opt.method == "nelder-mead":
            simplex = [u0]
            for i in range(k):
                v = u0.copy()
                v[i] = v[i] + opt.initial_step if v[i] + opt.initial_step <= 1.0 else v[i] - opt.initial_step
                simplex.append(v)
            res = optimize.minimize(
                f, u0, method="Nelder-Mead", bounds=bounds,
                options={"initial_simplex": np.array(simplex), "xatol": opt.tolerance, "fatol": opt.ftol,
                         "maxfev": 10 * opt.max_evaluations, "maxiter": opt.maxiter or 100 * k},
            )
        elif opt.method == "powell":
            res = optimize.minimize(
                f, u0, method="Powell", bounds=bounds,
                options={"xtol": opt.tolerance, "ftol": opt.ftol, "maxfev": 10 * opt.max_evaluations,
                         "maxiter": opt.maxiter or 100 * k},
            )
        else:
            def mapper(func, population):
                return f.batch([np.asarray(u) for u in population])

            res = optimize.differential_evolution(
                f, bounds, x0=u0, popsize=opt.popsize, maxiter=opt.maxiter or 1000, tol=opt.ftol,
                seed=opt.seed, polish=False, updating="deferred", workers=mapper, init="sobol",
            )
        text = str(res.message).rstrip(".")
        return f"converged ({text})" if res.success else f"stopped ({text})"
    except BudgetExhausted:
        return "evaluation budget reached"


def calibrate(problem: Problem, runner: Runner, log: Callable[[str], None] | None = None) -> Fit:
    """Minimise the objective; the fit is the best evaluated point, rounded to 6 significant digits."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    f = Objective(problem, runner, log)
    message = _run_optimizer(problem, f)
    if message == "evaluation budget reached" or len(f.history) >= f.budget:
        message = f"evaluation budget reached ({f.budget} evaluations)"
    best = f.best()
    fitted = {k: _round(v) for k, v in best.values.items()}
    return Fit(problem, best, fitted, f.history, problem.spec.optimizer.method, message, time.monotonic() - t0, started)


# ---------------------------------------------------------------------------------------------
# validation with fresh replicates
# ---------------------------------------------------------------------------------------------
@dataclass
class Validation:
    seeds: list[int]
    fitted: dict[str, list[float]]  # moment -> per-seed values, fitted parameters
    base: dict[str, list[float]]  # moment -> per-seed values, base scenario


def validate(problem: Problem, fitted: dict[str, float], runner: Runner) -> Validation:
    """Run the fitted values and the base scenario with the fresh validation seeds."""
    seeds = problem.validation_seeds
    jobs = [(problem.base, dict(fitted), s) for s in seeds] + [(problem.base, {}, s) for s in seeds]
    out = runner.map(jobs) if jobs else []
    n = len(seeds)
    return Validation(seeds, replicate_moments(problem.targets, out[:n]), replicate_moments(problem.targets, out[n:]))


# ---------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------
def _json_num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def _toml_value(v: Any) -> str:
    from .regions import toml_value

    return toml_value(v)


def extends_reference(base_path: Path, out: Path) -> str:
    """How ``calibrated.toml`` in ``out`` names its base: a shipped scenario by name, else a relative path."""
    real = base_path.resolve()
    if real.parent == SCENARIO_DIR.resolve():
        return real.name
    try:
        return Path(os.path.relpath(real, out.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return real.as_posix()


def calibrated_toml(fit: Fit, out: Path) -> str:
    p = fit.problem
    sc = p.base
    header = [
        f"# Written by `credsim calibrate {p.path.as_posix()}` on {fit.started}.",
        f"# Fitted at {sc.population.borrowers:,} people x {sc.simulation.days} days, {len(p.seeds)} replicates "
        f"per evaluation; objective {fit.best.objective:.4g} after {len(fit.history)} evaluations ({fit.method}).",
        "# See fit.json and validation.md beside this file.",
    ]
    return scenario_text(header, p, out, f"calibrated to {p.path.name}", fit.fitted)


def scenario_text(header: list[str], p, out: Path, how: str, values: dict[str, float]) -> str:
    """``calibrated.toml``: the comment ``header``, then a scenario extending the problem's base with the
    fitted ``values`` (dotted names), described as the base's description plus ``(how)``."""
    sc = p.base
    lines = [
        *header,
        f"extends = {_toml_value(extends_reference(p.base_path, out))}",
        f"name = {_toml_value(sc.name + '_calibrated')}",
        f"description = {_toml_value(f'{sc.description} ({how})'.strip())}",
    ]
    tables: dict[str, list[tuple[str, float]]] = {}
    for k, v in values.items():
        section, _, leaf = k.rpartition(".")
        tables.setdefault(section, []).append((leaf, v))
    for section, items in tables.items():
        lines.append("")
        if section:
            lines.append(f"[{section}]")
        for leaf, v in items:
            lines.append(f"{leaf} = {_toml_value(float(v))}")
    return "\n".join(lines) + "\n"


def _fmt(v: float, percent: bool) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:.2f}%" if percent else f"{v:.4g}"


def _target_text(t: TargetSpec) -> str:
    pct = is_percent(t.name)
    rel = {"=": "", "<=": "≤ ", ">=": "≥ "}[t.relation]
    tol = f" (sd {_fmt(t.sd, pct)})" if t.sd is not None else f" (weight {t.weight:g})"
    return f"{rel}{_fmt(t.value, pct)}{tol}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ci_text(values: list[float], pct: bool) -> str:
    _n, m, lo, hi = mean_ci(values, rate=pct)
    if not math.isfinite(lo):
        return _fmt(m, pct)
    return f"{_fmt(m, pct)} [{_fmt(lo, pct)}, {_fmt(hi, pct)}]"


def validation_table(fit: Fit, val: Validation) -> str:
    """Markdown: the fitted parameters, then per target its value, source and the model's (base and fitted)."""
    p = fit.problem
    sc = p.base
    n = len(val.seeds)
    out = [
        f"Calibration `{p.name}` (`{p.path.as_posix()}`), generated by `credsim calibrate` on {fit.started[:10]}: "
        f"{len(p.keys)} parameter(s) of `{sc.name}` fitted by the method of simulated moments ({fit.method}, "
        f"{len(fit.history)} evaluations of {len(p.seeds)} replicates at {sc.population.borrowers:,} people × "
        f"{sc.simulation.days} days, common random numbers; {fit.message}). Objective at the fit: "
        f"{fit.best.objective:.4g} ({_base_objective_text(fit)}).",
        "",
        "| Parameter | Base value | Fitted value | Search range | Start |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, k in enumerate(p.keys):
        out.append(f"| `{k}` | {p.base_values[k]:.6g} | {fit.fitted[k]:.6g} | [{p.lo[i]:g}, {p.hi[i]:g}] | "
                   f"{p.start[i]:.6g} |")
    out += [
        "",
        f"Model values: mean and 95% confidence interval of the mean over {n} fresh replicate(s) (seeds "
        f"`replicate_seed({p.spec.seed}, r)`, r = {len(p.seeds)}..{len(p.seeds) + n - 1}, none used by the fit), "
        "paired: the base scenario and the calibrated one run with the same seeds.",
        "",
        "| Target | Role | Target value | Source | Base scenario | Calibrated | Model quantity |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in sorted(p.targets, key=lambda t: t.holdout):  # the fitted targets first, then the held-back ones
        pct = is_percent(t.name)
        role = "held back (not fitted)" if t.holdout else "fitted"
        out.append(
            f"| {_cell(t.title)} | {role} | {_cell(_target_text(t))} | {_cell(t.source)} | "
            f"{_ci_text(val.base[t.name], pct)} | {_ci_text(val.fitted[t.name], pct)} | `{t.name}` |"
        )
    if n:
        out += ["", f"Objective on the fresh replicates (fitted targets only): {validation_objective(p, val.base):.4g} "
                    f"for the base scenario, {validation_objective(p, val.fitted):.4g} calibrated."]
    return "\n".join(out)


def validation_objective(problem: Problem, values: dict[str, list[float]]) -> float:
    """The objective computed from the validation runs' means."""
    return objective(problem.targets, {name: _mean(vs) for name, vs in values.items()})


def _base_objective_text(fit: Fit) -> str:
    """The objective at the start point, if it was evaluated (it always is first)."""
    first = fit.history[0] if fit.history else None
    if first is None:
        return "not evaluated"
    return f"{first.objective:.4g} at the start point"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    out = {"credsim": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "scipy", "mesa", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    return out


def fit_document(fit: Fit, val: Validation | None) -> dict:
    p = fit.problem
    doc: dict[str, Any] = {
        "name": p.name,
        "targets_file": str(p.path),
        "targets_sha256": hashlib.sha256(p.path.read_bytes()).hexdigest(),
        "spec": p.spec.model_dump(mode="json"),
        "base_scenario": {"name": p.base.name, "file": str(p.base_path),
                          "borrowers": p.base.population.borrowers, "days": p.base.simulation.days},
        "parameters": {k: {"base": p.base_values[k], "start": float(p.start[i]), "min": float(p.lo[i]),
                           "max": float(p.hi[i]), "fitted": fit.fitted[k]} for i, k in enumerate(p.keys)},
        "objective": _json_num(fit.best.objective),
        "best_evaluation": fit.best.n,
        "evaluations": len(fit.history),
        "method": fit.method,
        "message": fit.message,
        "targets": [
            {**t.model_dump(mode="json"), "definition": moment_definition(t.name),
             "fit_mean": _json_num(fit.best.moments[t.name]),
             "fit_residual": _json_num(residual(t, fit.best.moments[t.name]))} for t in p.targets
        ],
        "seeds": p.seeds,
        "history": [e.as_dict() for e in fit.history],
        "started": fit.started,
        "seconds": round(fit.seconds, 2),
        "versions": _versions(),
        "command": " ".join(sys.argv),
    }
    if val is not None:
        def summarise(values: dict[str, list[float]]) -> dict:
            res = {}
            for name, vs in values.items():
                _n, m, lo, hi = mean_ci(vs, rate=name in RATE_MOMENTS)
                res[name] = {"mean": _json_num(m), "ci95": [_json_num(lo), _json_num(hi)], "values": vs}
            return res

        doc["validation"] = {"seeds": val.seeds, "fitted": summarise(val.fitted), "base": summarise(val.base),
                             "objective": {"fitted": _json_num(validation_objective(p, val.fitted)),
                                           "base": _json_num(validation_objective(p, val.base))}}
    return doc


def _num(v) -> float:
    return float(v) if v is not None else math.nan


def read_fit_json(path: Path) -> Any:
    """The JSON document of a saved fit (either method); :class:`ScenarioError` if missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(path, "file", "an existing fit.json (written by credsim calibrate)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError(path, "json", f"a fit.json written by credsim calibrate ({e})") from None


def load_fit(path: str | Path) -> tuple[Fit, Validation]:
    """A fit and its validation back from their saved output (``fit.json``, :func:`fit_document`).

    The targets file it names is read again and must be the one the fit was made from (its SHA-256
    recorded in the fit); otherwise :class:`ScenarioError`. ``validation_table(*load_fit(p))`` is the
    table ``credsim calibrate`` wrote beside it.
    """
    path = Path(path)
    doc = read_fit_json(path)
    if not isinstance(doc, dict) or "validation" not in doc or "history" not in doc:
        raise ScenarioError(path, "validation", "a fit.json with its validation (written by credsim calibrate)")
    targets = Path(doc["targets_file"])
    if not targets.is_file():
        raise ScenarioError(path, "targets_file", f"the targets file the fit was made from, '{targets}' not found")
    if hashlib.sha256(targets.read_bytes()).hexdigest() != doc.get("targets_sha256"):
        raise ScenarioError(path, "targets_sha256", f"a fit of {targets} as it is now; the file has changed since "
                                                    f"the fit: run `credsim calibrate {targets}` again")
    problem = load_targets(targets)
    history = [Evaluation(e["evaluation"], e["parameters"], {k: _num(v) for k, v in e["moments"].items()},
                          {k: [_num(x) for x in vs] for k, vs in e["replicate_moments"].items()},
                          _num(e["objective"]) if e["objective"] is not None else math.inf, e["seconds"])
               for e in doc["history"]]
    best = history[doc["best_evaluation"] - 1]
    fitted = {k: v["fitted"] for k, v in doc["parameters"].items()}
    fit = Fit(problem, best, fitted, history, doc["method"], doc["message"], doc["seconds"], doc["started"])
    v = doc["validation"]
    val = Validation(v["seeds"], {k: [_num(x) for x in d["values"]] for k, d in v["fitted"].items()},
                     {k: [_num(x) for x in d["values"]] for k, d in v["base"].items()})
    return fit, val


def write_outputs(fit: Fit, val: Validation, out: Path) -> list[Path]:
    """Write calibrated.toml, fit.json and validation.md into ``out``; check the scenario loads."""
    from .store import atomic_json

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "calibrated.toml", out / "fit.json", out / "validation.md"]
    paths[0].write_text(calibrated_toml(fit, out), encoding="utf-8")
    load_scenario(paths[0])  # must be a valid scenario (raises ScenarioError if not)
    atomic_json(fit_document(fit, val), paths[1])  # strict JSON: an undefined moment is null (load_fit: NaN)
    paths[2].write_text(validation_table(fit, val) + "\n", encoding="utf-8")
    return paths


def check_docs(odd: Path) -> None:
    """Raise :class:`ScenarioError` unless ``odd`` has the validation markers."""
    from .regions import DocsError, read_region

    try:
        read_region(odd.read_text(encoding="utf-8"), VALIDATION_REGION)
    except FileNotFoundError:
        raise ScenarioError("--docs", str(odd), "an existing docs file") from None
    except DocsError:
        raise ScenarioError("--docs", str(odd), f"a file with the '{VALIDATION_REGION}' generated-region markers") from None


def write_docs(table: str, odd: Path) -> bool:
    """Put the validation table into ``odd``'s validation region; True if the file changed."""
    from .regions import replace_region

    text = odd.read_text(encoding="utf-8")
    new = replace_region(text, VALIDATION_REGION, table)
    if new != text:
        odd.write_text(new, encoding="utf-8")
        return True
    return False


# ---------------------------------------------------------------------------------------------
# installing a fit: the fitted model becomes the baseline
# ---------------------------------------------------------------------------------------------
#: where an installed fit's record lives (committed): fit.json, validation.md, posterior.parquet (ABC: the
#: final generation), the diagnostics figures
FIT_DIR = Path(__file__).resolve().parent.parent / "experiments" / "calibration"
#: the scenario every shipped strategy extends: it carries the installed fit in its ``calibrated`` region
BASELINE_PATH = SCENARIO_DIR / "baseline.toml"


def fitted_values(doc: dict) -> dict[str, float]:
    """The values a saved fit puts into the baseline: ABC's ``calibrated`` estimate, MSM's ``fitted``."""
    key = "calibrated" if doc.get("method") == "abc-smc" else "fitted"
    return {k: float(v[key]) for k, v in doc["parameters"].items()}


def baseline_region(doc: dict, record: str) -> str:
    """The ``calibrated`` region of scenarios/baseline.toml for the saved fit ``doc`` (provenance, then tables)."""
    how = (f"ABC-SMC {doc['estimate']}" if doc.get("method") == "abc-smc" else f"simulated moments ({doc['method']})")
    lines = [
        TOML_BEGIN.format(CALIBRATED),
        f"# The fitted model, written by `credsim calibrate {Path(doc['targets_file']).as_posix()} ... --install`: "
        "never edit by hand.",
        f"# {how}; run of {doc['started']}; targets sha256 {doc['targets_sha256']}.",
        f"# Record: {record}/fit.json (python -m sim.docs --check fails if this region and that record disagree).",
    ]
    tables: dict[str, list[tuple[str, float]]] = {}
    for k, v in fitted_values(doc).items():
        section, _, leaf = k.rpartition(".")
        tables.setdefault(section, []).append((leaf, v))
    for section, items in tables.items():
        lines += [f"[{section}]", *(f"{leaf} = {_toml_value(float(v))}" for leaf, v in items), ""]
    lines[-1] = TOML_END.format(CALIBRATED)
    return "\n".join(lines) + "\n"


def portable_record(doc: dict) -> dict:
    """A saved fit with the paths of this machine made relative to the repository (the committed record)."""
    root = FIT_DIR.parents[1].resolve()

    def rel(path: str) -> str:
        r = Path(path).resolve()
        return r.relative_to(root).as_posix() if r.is_relative_to(root) else Path(path).name

    doc = json.loads(json.dumps(doc))
    doc["targets_file"] = rel(doc["targets_file"])
    if "base_scenario" in doc:
        doc["base_scenario"]["file"] = rel(doc["base_scenario"]["file"])
    argv = str(doc.get("command", "")).split(" ")
    doc["command"] = " ".join(["credsim", *argv[1:]]) if argv and argv[0] else ""
    return doc


def _record_name(fit_dir: Path) -> str:
    root = FIT_DIR.parents[1]
    r = fit_dir.resolve()
    return r.relative_to(root).as_posix() if r.is_relative_to(root) else r.as_posix()


def install(out: Path, baseline: Path = BASELINE_PATH, fit_dir: Path = FIT_DIR) -> list[Path]:
    """Make the saved fit in ``out`` the model every strategy runs on.

    Copies its record into ``fit_dir`` (fit.json, validation.md, the figures, and for ABC the final
    generation of posterior.parquet) and writes the fitted values, with their provenance, into the
    ``calibrated`` region at the end of ``baseline`` (the region is added if missing). The scenario must
    still load; a section of the fit that the baseline already has as its own table is refused.
    """
    import shutil

    import pandas as pd

    doc = portable_record(json.loads((out / "fit.json").read_text(encoding="utf-8")))
    text = baseline.read_text(encoding="utf-8")
    outside = toml_region_re().sub("", text)
    for k in fitted_values(doc):
        section = k.rpartition(".")[0]
        if f"[{section}]" in outside.splitlines():
            raise ScenarioError(baseline, section, f"no [{section}] table of its own: the installed fit writes it "
                                                   f"(move its other keys into the fit or another section)")
    fit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ["validation.md", *doc.get("figures", {})]:
        if (out / name).is_file() and (out / name).resolve() != (fit_dir / name).resolve():
            shutil.copyfile(out / name, fit_dir / name)
            written.append(fit_dir / name)
    (fit_dir / "fit.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    written.insert(0, fit_dir / "fit.json")
    if (out / "posterior.parquet").is_file():
        post = pd.read_parquet(out / "posterior.parquet")
        post = post[post.generation == post.generation.max()].reset_index(drop=True)
        post.to_parquet(fit_dir / "posterior.parquet", index=False)
        written.append(fit_dir / "posterior.parquet")
    region = baseline_region(doc, _record_name(fit_dir))
    new = toml_region_re().sub(lambda _m: region, text, count=1) if toml_region_re().search(text) else \
        text.rstrip("\n") + "\n\n" + region
    baseline.write_text(new, encoding="utf-8")
    try:
        load_scenario(baseline)
    except ScenarioError:
        baseline.write_text(text, encoding="utf-8")
        raise
    return [*written, baseline]


def installed_mismatch(baseline: Path = BASELINE_PATH, fit_dir: Path = FIT_DIR) -> list[str]:
    """Where the baseline's ``calibrated`` region and the committed fit record disagree (empty: they agree,
    or there is no record). Reads files only."""
    record = fit_dir / "fit.json"
    if not record.is_file():
        return []
    doc = json.loads(record.read_text(encoding="utf-8"))
    m = toml_region_re().search(baseline.read_text(encoding="utf-8"))
    if m is None:
        return [f"{baseline} has no '{CALIBRATED}' region but {record} is a fit"]
    want = baseline_region(doc, _record_name(fit_dir))
    if m.group(0).rstrip("\n") == want.rstrip("\n"):
        sc = load_scenario(baseline).model_dump()
        bad = []
        for k, v in fitted_values(doc).items():
            node: Any = sc
            for part in k.split("."):
                node = node[part]
            if float(node) != v:
                bad.append(f"{k} is {node!r} in {baseline.name}, {v!r} in {record}")
        return bad
    return [f"the '{CALIBRATED}' region of {baseline} is not the one {record} gives (edited by hand, or another "
            f"fit): install the fit again with `credsim calibrate ... --install`"]
