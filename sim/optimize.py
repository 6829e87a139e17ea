"""Multi-objective optimisation of a strategy: Optuna's samplers over scenario levers, robust across futures.

``credsim optimize SPEC.toml --out DIR`` reads a spec::

    name = "best_strategy"
    base = "baseline"            # the scenario searched around: a shipped name or a file (relative to the spec)
    overrides = { "regulation.call_cap" = true }   # fixed settings on top of the base (e.g. a regulation on)
    borrowers = 3000             # optional: the run size (population.borrowers, simulation.days, .burn_in)
    days = 365
    burn_in = 365
    replicates = 3               # paired replicates per evaluation: seeds sim.rng.replicate_seed(seed, r)
    max_replicates = 12          # the most an adaptive --ci-target may add up to (default 4 x replicates)
    seed = 0                     # seeds the runs and the sampler
    trials = 48                  # strategies evaluated in all (--trials overrides)
    sampler = "nsga2"            # nsga2 | nsga3 | tpe | random
    population = 12              # trials per generation: asked together, evaluated together, told in order
    combine = "worst"            # how futures combine: "mean" (of the futures' means) or "worst"
    constraints = ["high_stress_share <= 0.02"]   # KEY <= NUMBER or KEY >= NUMBER over summary keys

    [levers]                     # what the search may change
    "collection.visits.start_dpd" = { min = 15, max = 90 }          # whole-number parameter: integers
    "collection.tone.harshness" = { min = 0.0, max = 1.0 }          # a number
    "education.enabled" = { choices = [false, true] }               # a flag, or any parameter's choices
    "collection.tactics.plans" = { choices = [false, true] }        # a tactic in collection.tactics or not

    [[objectives]]
    key = "default_rate"         # any summary key (sim/metrics.py, SUMMARY)
    direction = "minimize"       # or "maximize"

    [futures.calm]               # named overlays applied on top of every trial (none: the base alone)
    [futures.recession]
    scenario = "recession"       # the settings a scenario file makes itself (not those it extends)
    set = { "macro.recession.severity" = 1.0 }   # and/or dotted settings

- **Evaluation.** A trial's lever values make a scenario (the base, its overrides and the run size, then
  the levers); each future overlays it; each future runs the same ``replicates`` seeds (common random
  numbers: every trial and future faces the same people and shocks). The runs go to the sweep's
  executors (:func:`sim.execute.open_executor` with :func:`sim.execute.execute_summary`): this process,
  local worker processes or a Dask scheduler; a generation's runs go out together.
- **Statistics.** Per trial, future and key: the mean over replicates and its 95% interval
  (:func:`sim.analysis.mean_ci`; logit scale for rates). ``combine = "mean"``: per replicate the mean over
  the futures (paired, as they share seeds), then its mean and interval. ``combine = "worst"``: the worst
  future's mean and interval (highest for a key minimised or bounded above, lowest otherwise). Optuna sees
  the combined means; constraints are told to it (``Trial.set_constraint``: feasible when <= 0).
- **Adaptive replication.** ``--ci-target KEY=HALFWIDTH`` (or ``ci_target = { KEY = HALFWIDTH }``): a
  trial whose combined 95% interval of KEY is wider than ``2 x HALFWIDTH`` gets ``replicates`` more
  replicates (the next seeds), round after round, until it is narrow enough or has ``max_replicates``.
- **Reproducibility.** Trials are asked one generation at a time, evaluated, then told in trial order.
  Each ask uses a sampler seeded from ``seed`` and the trial's number, so a trial's levers depend only on
  the trials told before its generation: the same spec gives the same trials with any executor or number
  of workers.
- **Resume.** Optuna's journal (``DIR/journal.log``, JournalFileBackend) holds every trial. After a kill the
  same command continues: a generation asked only in part is asked to its end, trials asked but not told
  are evaluated (their levers are in the journal; their runs depend only on levers and seeds) and told, so
  the trials are those of an uninterrupted run. Raising ``--trials`` continues a finished study (a changed ci target applies to
  the trials evaluated from then on); any other change to the spec is refused (use another ``--out``).

Outputs: ``trials.parquet`` (one row per trial: levers, per key the combined mean and interval, per future
the mean, constraint values, feasibility, replicates, whether on the front), ``pareto.parquet`` (the
feasible non-dominated trials), ``pareto/TRIAL.toml`` (each one a scenario ``credsim run`` accepts, at the
run size, with its objectives in the header), figures ``front`` (objectives in pairs) and ``levers``
(parallel coordinates of the levers on the front), and ``optimize.json`` (spec, seeds, counts, versions).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .analysis import mean_ci
from .execute import RunFailed, gather
from .metrics import RATE_KEYS, SUMMARY_KEYS
from .params import Scenario, iter_parameters
from .rng import replicate_seed, seed_sequence
from .scenario import SCENARIO_DIR, ScenarioError, _describe, read_toml, shorten, with_overrides

JOURNAL = "journal.log"
STATE = "optimize.json"
TACTICS_PREFIX = "collection.tactics."
_RATES = set(RATE_KEYS)


# ---------------------------------------------------------------------------------------------
# expressions: constraints (KEY <= NUMBER) and discover's --where (comparisons joined by and/or)
# ---------------------------------------------------------------------------------------------
class ExpressionError(ValueError):
    """An expression that does not parse, or names something that is not a column."""


_CMP = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
        ast.Eq: np.equal, ast.NotEq: np.not_equal}
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}


def parse_expression(text: str) -> ast.Expression:
    """A safe expression: numbers, column names, + - * /, comparisons, and/or/not, parentheses."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ExpressionError(f"an expression such as \"npv < 0\" or \"default_rate > 0.02 and npv < 0\", "
                              f"got {shorten(text)!r}") from None
    allowed = (ast.Expression, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
               ast.BinOp, ast.Name, ast.Load, ast.Constant, *_CMP, *_ARITH)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))):
            raise ExpressionError(f"comparisons of columns and numbers joined by and/or, got {shorten(text)!r} "
                                  f"(it uses {type(node).__name__.lower()})")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            raise ExpressionError(f"numbers only as constants, got {shorten(text)!r}")
    return tree


def expression_names(tree: ast.Expression) -> list[str]:
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))


def evaluate_expression(tree: ast.Expression, columns: Callable[[str], Any]) -> Any:
    """Evaluate a parsed expression, element-wise, ``columns(name)`` giving each name's values."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return columns(node.id)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return np.logical_not(v) if isinstance(node.op, ast.Not) else (-v if isinstance(node.op, ast.USub) else v)
        if isinstance(node, ast.BinOp):
            with np.errstate(divide="ignore", invalid="ignore"):
                return _ARITH[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.BoolOp):
            vals = [ev(v) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = np.logical_and(out, v) if isinstance(node.op, ast.And) else np.logical_or(out, v)
            return out
        if isinstance(node, ast.Compare):
            left, out = ev(node.left), True
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                out = np.logical_and(out, _CMP[type(op)](left, right))
                left = right
            return out
        raise ExpressionError(f"an expression node it can evaluate, got {type(node).__name__}")  # pragma: no cover

    return ev(tree)


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    key: str
    op: str  # "<=" or ">=" ("<" and ">" read as these: the model's outcomes are continuous)
    bound: float
    text: str

    def violation(self, value: float) -> float:
        """Optuna's constraint value: <= 0 when satisfied."""
        if not math.isfinite(value):
            return math.inf
        return value - self.bound if self.op == "<=" else self.bound - value

    @property
    def worst_high(self) -> bool:
        return self.op == "<="


def parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT.match(str(text))
    if not m:
        raise ExpressionError(f"a constraint KEY <= NUMBER or KEY >= NUMBER over a summary key, e.g. "
                              f"\"high_stress_share <= 0.02\", got {shorten(str(text))!r}")
    key, op, num = m.group(1), m.group(2), float(m.group(3))
    if key not in SUMMARY_KEYS:
        raise ExpressionError(f"a summary key on the left (e.g. high_stress_share, default_rate, npv), got {key!r}")
    return Constraint(key, "<=" if op in ("<=", "<") else ">=", num, str(text).strip())


# ---------------------------------------------------------------------------------------------
# the spec
# ---------------------------------------------------------------------------------------------
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeverSpec(_Spec):
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)
    choices: list[Any] | None = None
    log: bool = False

    @model_validator(mode="after")
    def _shape(self) -> "LeverSpec":
        ranged = self.min is not None or self.max is not None
        if ranged and self.choices is not None:
            raise ValueError("either bounds {min = ..., max = ...} or choices = [...], not both")
        if ranged and (self.min is None or self.max is None):
            raise ValueError("both min and max")
        if ranged and not self.max > self.min:
            raise ValueError(f"max greater than min, got min = {self.min:g}, max = {self.max:g}")
        if self.choices is not None and len(self.choices) < 2:
            raise ValueError("at least two choices")
        return self


class ObjectiveSpec(_Spec):
    key: str
    direction: Literal["minimize", "maximize"] = "minimize"


class FutureSpec(_Spec):
    scenario: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)


class OptimizeSpec(_Spec):
    name: str = "optimize"
    description: str = ""
    base: str = "baseline"
    overrides: dict[str, Any] = Field(default_factory=dict)
    borrowers: int | None = Field(None, ge=10)
    days: int | None = Field(None, ge=1)
    burn_in: int | None = Field(None, ge=0)
    replicates: int = Field(3, ge=2, le=1000)
    max_replicates: int | None = Field(None, ge=2, le=10_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    trials: int = Field(48, ge=1, le=100_000)
    sampler: Literal["nsga2", "nsga3", "tpe", "random"] = "nsga2"
    population: int = Field(12, ge=2, le=10_000)
    combine: Literal["mean", "worst"] = "mean"
    constraints: list[str] = Field(default_factory=list)
    levers: dict[str, LeverSpec] = Field(default_factory=dict)
    objectives: list[ObjectiveSpec] = Field(default_factory=list)
    futures: dict[str, FutureSpec] = Field(default_factory=dict)
    ci_target: dict[str, float] = Field(default_factory=dict)


#: what may differ between a study and its resumption
RESUMABLE = ("trials", "description", "ci_target")  # a new ci target applies to the trials evaluated from then on


@dataclass
class Lever:
    key: str
    kind: Literal["float", "int", "choice", "tactic"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] = field(default_factory=list)

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "float":
            return FloatDistribution(self.low, self.high, log=self.log)
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return CategoricalDistribution([self.encode(c) for c in self.choices])

    @staticmethod
    def encode(choice: Any) -> Any:
        """Optuna takes None, bools, numbers and strings as categories; a list is its JSON text."""
        return json.dumps(choice) if isinstance(choice, (list, dict)) else choice

    def decode(self, value: Any) -> Any:
        if self.kind in ("choice", "tactic"):
            for c in self.choices:
                if self.encode(c) == value:
                    return c
            raise KeyError(value)
        return int(value) if self.kind == "int" else float(value)

    @property
    def numeric(self) -> bool:
        return self.kind in ("float", "int")


def _tactics_with(base: list[str], values: dict[str, bool]) -> list[str]:
    out = [t for t in base if values.get(t, True)]
    out += [t for t, on in values.items() if on and t not in out]
    return out


@dataclass
class Problem:
    """A validated optimisation spec: everything a study needs."""

    spec: OptimizeSpec
    path: Path
    base: Scenario  # the base with its overrides and the run size
    base_path: Path
    levers: list[Lever]
    objectives: list[ObjectiveSpec]
    constraints: list[Constraint]
    futures: dict[str, dict[str, Any]]  # name -> dotted overlay
    ci_target: dict[str, float]

    @property
    def keys(self) -> list[str]:
        """Every summary key the study reports: objectives, then constraints' keys, then ci targets'."""
        ks = [o.key for o in self.objectives] + [c.key for c in self.constraints] + list(self.ci_target)
        return list(dict.fromkeys(ks))

    @property
    def max_replicates(self) -> int:
        return self.spec.max_replicates or 4 * self.spec.replicates

    def seeds(self, n: int) -> list[int]:
        return [replicate_seed(self.spec.seed, r) for r in range(n)]

    def overrides(self, values: dict[str, Any]) -> dict[str, Any]:
        """The dotted settings of a trial's lever values (tactic levers folded into collection.tactics)."""
        out = {k: v for k, v in values.items() if not k.startswith(TACTICS_PREFIX)}
        tactics = {k[len(TACTICS_PREFIX):]: bool(v) for k, v in values.items() if k.startswith(TACTICS_PREFIX)}
        if tactics:
            out["collection.tactics"] = _tactics_with(list(self.base.collection.tactics), tactics)
        return out

    def scenario(self, values: dict[str, Any], future: str | None = None) -> Scenario:
        over = self.overrides(values)
        if future is not None:
            over = {**over, **self.futures[future]}
        return with_overrides(self.base, over, source=str(self.path)) if over else self.base

    def fingerprint(self) -> str:
        spec = {k: v for k, v in self.spec.model_dump(mode="json").items() if k not in RESUMABLE}
        doc = {"spec": spec, "base": self.base.model_dump(mode="json"), "futures": self.futures}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()

    def worst_is_high(self, key: str) -> bool:
        """Which side of a key is worse: a minimised objective or a key bounded above is worse high."""
        for o in self.objectives:
            if o.key == key:
                return o.direction == "minimize"
        for c in self.constraints:
            if c.key == key:
                return c.worst_high
        return True


def _parameter_types() -> dict[str, Any]:
    return {path: ann for path, _u, _d, _doc, ann in iter_parameters()}


def _documented_range(key: str) -> tuple[float | None, float | None]:
    from .calibrate import documented_range

    return documented_range(key)


def _resolve(name: str, spec_path: Path) -> Path | None:
    for f in (spec_path.parent / name, spec_path.parent / f"{name}.toml", Path(name), SCENARIO_DIR / name,
              SCENARIO_DIR / f"{name}.toml"):
        if f.is_file():
            return f
    return None


def _flatten(node: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in node.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _spec_error(path: Path, err: dict) -> ScenarioError:
    loc = ".".join(str(x) for x in err["loc"])
    if err["type"] == "extra_forbidden":
        parent = err["loc"][:-1]
        model = {(): OptimizeSpec}.get(tuple(parent))
        if model is None and parent and parent[0] == "levers":
            model = LeverSpec
        elif model is None and parent and parent[0] == "objectives":
            model = ObjectiveSpec
        elif model is None and parent and parent[0] == "futures":
            model = FutureSpec
        fields = ", ".join(model.model_fields) if model else ""
        return ScenarioError(path, loc, f"unknown key (it may hold: {fields})")
    if err["type"] == "missing":
        return ScenarioError(path, loc, "a value: this key is required")
    loc2, text = _describe(err)
    return ScenarioError(path, loc2 or loc, text)


def load(path: str | Path, changes: dict[str, Any] | None = None) -> Problem:
    """Read and check an optimisation spec; :class:`ScenarioError` (one line) on the first problem.

    ``changes`` replace top-level keys (``trials``, ``ci_target``) as if the file said so."""
    from .params import tactic_registry
    from .scenario import load_scenario

    path = Path(path)
    if not path.is_file():
        raise ScenarioError(path, "file", "an existing optimisation spec file (TOML)")
    raw = {**read_toml(path), **(changes or {})}
    try:
        spec = OptimizeSpec.model_validate(raw, strict=False)
    except ValidationError as e:
        raise _spec_error(path, e.errors()[0]) from None

    base_path = _resolve(spec.base, path)
    if base_path is None:
        raise ScenarioError(path, "base", f"an existing scenario file or shipped name, '{spec.base}' not found")
    base = load_scenario(base_path)
    size = {k: v for k, v in (("population.borrowers", spec.borrowers), ("simulation.days", spec.days),
                              ("simulation.burn_in", spec.burn_in)) if v is not None}
    try:
        base = with_overrides(base, {**spec.overrides, **size}, source=str(path), strict=True)
    except ScenarioError as e:
        where = {"population.borrowers": "borrowers", "simulation.days": "days", "simulation.burn_in": "burn_in"}
        key = where[e.key] if e.key in where and e.key not in spec.overrides else f"overrides.{e.key}"
        raise ScenarioError(path, key, e.expected) from None

    if not spec.levers:
        raise ScenarioError(path, "levers", 'at least one lever, e.g. "collection.visits.start_dpd" = '
                                            '{ min = 15, max = 90 }')
    types = _parameter_types()
    tactics = tactic_registry()
    levers = []
    for key, ls in spec.levers.items():
        where = f"levers.{key}"
        if key.startswith(TACTICS_PREFIX):
            name = key[len(TACTICS_PREFIX):]
            if name not in tactics:
                raise ScenarioError(path, where, f"a tactic to add or leave out (one of: {', '.join(tactics)}), "
                                                 f"got {name!r}")
            choices = ls.choices if ls.choices is not None else [False, True]
            if ls.min is not None or any(not isinstance(c, bool) for c in choices):
                raise ScenarioError(path, where, "choices = [false, true] (the tactic left out or run)")
            lever = Lever(key, "tactic", choices=list(choices))
        elif key not in types:
            raise ScenarioError(path, where, "a parameter name (see docs/ODD.md or `credsim params`), or "
                                             "collection.tactics.NAME for a tactic")
        elif key in ("name", "description", "changes") or key.startswith("changes"):
            raise ScenarioError(path, where, "a model parameter (not the scenario's name or changes)")
        else:
            t = types[key]
            if ls.choices is not None:
                lever = Lever(key, "choice", choices=list(ls.choices))
            elif ls.min is None:
                if t is bool:
                    lever = Lever(key, "choice", choices=[False, True])
                else:
                    raise ScenarioError(path, where, "bounds { min = ..., max = ... } or choices = [...]")
            elif t not in (int, float):
                raise ScenarioError(path, where, f"choices = [...] for a parameter that is not a number "
                                                 f"('{key}' is {getattr(t, '__name__', t)})")
            else:
                lo, hi = _documented_range(key)
                if (lo is not None and ls.min < lo) or (hi is not None and ls.max > hi):
                    rng = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
                    raise ScenarioError(path, where, f"a range inside the parameter's {rng}, got min = {ls.min:g}, "
                                                     f"max = {ls.max:g}")
                if t is int and not (float(ls.min).is_integer() and float(ls.max).is_integer()):
                    raise ScenarioError(path, where, f"whole-number bounds ('{key}' is a whole number), got "
                                                     f"min = {ls.min:g}, max = {ls.max:g}")
                if ls.log and ls.min <= 0:
                    raise ScenarioError(path, where, "min > 0 for a log scale")
                lever = Lever(key, "int" if t is int else "float", float(ls.min), float(ls.max), ls.log)
        levers.append(lever)

    problem = Problem(spec, path, base, base_path, levers, [], [], {}, {})
    # every lever's ends and choices must make a valid scenario (cross-section rules included)
    for i, lv in enumerate(levers):
        where = f"levers.{lv.key}"
        trial_values = ([lv.low, lv.high] if lv.numeric else lv.choices)
        for j, v in enumerate(trial_values):
            if lv.kind == "int":
                v = int(v)
            try:
                problem.scenario({lv.key: v})
            except ScenarioError as e:
                at = f"{where}.choices.{j}" if not lv.numeric else f"{where}.{'min' if j == 0 else 'max'}"
                raise ScenarioError(path, at, f"{e.key}: {e.expected}") from None

    if not spec.objectives:
        raise ScenarioError(path, "objectives", 'at least one objective, e.g. [[objectives]] key = "default_rate"')
    seen = set()
    for i, o in enumerate(spec.objectives):
        if o.key not in SUMMARY_KEYS:
            raise ScenarioError(path, f"objectives.{i}.key", f"a summary key (see sim/metrics.py; e.g. default_rate, "
                                                             f"high_stress_share, brand_trust, npv), got {o.key!r}")
        if o.key in seen:
            raise ScenarioError(path, f"objectives.{i}.key", f"an objective not listed twice ({o.key!r})")
        seen.add(o.key)
    problem.objectives = list(spec.objectives)
    for i, text in enumerate(spec.constraints):
        try:
            problem.constraints.append(parse_constraint(text))
        except ExpressionError as e:
            raise ScenarioError(path, f"constraints.{i}", str(e)) from None

    for name, fs in (spec.futures or {"base": FutureSpec()}).items():
        where = f"futures.{name}"
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise ScenarioError(path, where, "a future named with letters, digits or '_'")
        overlay: dict[str, Any] = {}
        if fs.scenario is not None:
            f = _resolve(fs.scenario, path)
            if f is None:
                raise ScenarioError(path, f"{where}.scenario", f"an existing scenario file or shipped name, "
                                                               f"'{fs.scenario}' not found")
            own = {k: v for k, v in read_toml(f).items() if k not in ("extends", "name", "description", "changes")}
            overlay.update(_flatten(own))
        overlay.update(fs.set)
        try:
            with_overrides(base, overlay, source=str(path), strict=True)
        except ScenarioError as e:
            raise ScenarioError(path, f"{where}.set.{e.key}" if e.key in fs.set else f"{where}.scenario",
                                e.expected) from None
        problem.futures[name] = overlay

    for key, half in spec.ci_target.items():
        check_ci_target(path, "ci_target", key, half)
    problem.ci_target = dict(spec.ci_target)
    if spec.max_replicates is not None and spec.max_replicates < spec.replicates:
        raise ScenarioError(path, "max_replicates", f"at least replicates ({spec.replicates}), "
                                                    f"got {spec.max_replicates}")
    return problem


def check_ci_target(source, where: str, key: str, half: float) -> None:
    if key not in SUMMARY_KEYS:
        raise ScenarioError(source, f"{where}.{key}" if where else key, "a summary key (see sim/metrics.py)")
    if not (isinstance(half, (int, float)) and math.isfinite(half) and half > 0):
        raise ScenarioError(source, f"{where}.{key}" if where else key, f"a half-width > 0, got {half!r}")


def parse_ci_target(text: str) -> tuple[str, float]:
    """``KEY=HALFWIDTH`` from the command line; :class:`ScenarioError` naming ``--ci-target`` if not."""
    key, sep, num = str(text).partition("=")
    key = key.strip()
    try:
        half = float(num)
    except ValueError:
        half = math.nan
    if not sep or not key:
        raise ScenarioError("--ci-target", text or "(empty)", "KEY=HALFWIDTH, e.g. default_rate=0.001")
    check_ci_target("--ci-target", "", key, half)
    return key, half


# ---------------------------------------------------------------------------------------------
# evaluating trials through the executor
# ---------------------------------------------------------------------------------------------
class Interrupted(RuntimeError):
    """The study stopped before its end (``stop_after``, as a kill would); rerun to resume."""


@dataclass
class TrialResult:
    """One trial's runs: per future and replicate, the summary values of the problem's keys."""

    values: dict[str, dict[str, list[float]]]  # future -> key -> per replicate

    @property
    def replicates(self) -> int:
        return len(next(iter(next(iter(self.values.values())).values())))


def _summary_values(problem: Problem, summary: dict) -> dict[str, float]:
    out = {}
    for k in problem.keys:
        v = summary.get(k)
        out[k] = float(v) if v is not None else math.nan
    return out


def run_trials(problem: Problem, execute: Callable, points: list[tuple[int, dict[str, Any]]],
               reps: dict[int, range]) -> dict[int, dict[str, dict[int, dict[str, float]]]]:
    """Run replicates ``reps[number]`` of every future of each trial ``(number, lever values)`` together.

    Returns trial number -> future -> replicate -> {key: value}.
    """
    from .sweep import Job

    seeds = problem.seeds(max((r.stop for r in reps.values()), default=0))
    jobs, where = [], []
    for number, values in points:
        scenarios = {f: problem.scenario(values, f) for f in problem.futures}
        for f, sc in scenarios.items():
            for r in reps[number]:
                jobs.append(Job(f"t{number:05d}__{f}__r{r:03d}", f, number, r, seeds[r], sc))
                where.append((number, f, r))
    out: dict[int, dict[str, dict[int, dict[str, float]]]] = {n: {f: {} for f in problem.futures} for n, _ in points}
    done = gather(execute, jobs, lambda job, res: f"a model run failed ({job.run_id}: {res['error']})")
    for (n, f, r), res in zip(where, done):
        out[n][f][r] = _summary_values(problem, res["summary"])
    return out


def trial_stats(problem: Problem, runs: dict[str, dict[int, dict[str, float]]]) -> dict[str, dict[str, list]]:
    """Per key: per future and ``combined``, ``[n, mean, ci_low, ci_high]`` (NaN where undefined)."""
    out: dict[str, dict[str, list]] = {}
    futures = list(problem.futures)
    reps = sorted(runs[futures[0]])
    for k in problem.keys:
        rate = k in _RATES
        per = {f: np.array([runs[f][r][k] for r in reps], float) for f in futures}
        stats = {f: list(mean_ci(v, rate=rate)) for f, v in per.items()}
        if problem.spec.combine == "mean" or len(futures) == 1:
            with np.errstate(invalid="ignore"):
                combined = np.mean(np.vstack([per[f] for f in futures]), axis=0)
            stats["combined"] = list(mean_ci(combined, rate=rate))
        else:
            high = problem.worst_is_high(k)
            means = [stats[f][1] for f in futures]
            finite = [m for m in means if math.isfinite(m)]
            if len(finite) < len(means):
                stats["combined"] = [0, math.nan, math.nan, math.nan]
            else:
                worst = futures[int(np.argmax(means) if high else np.argmin(means))]
                stats["combined"] = list(stats[worst])
                stats["worst_future"] = worst  # type: ignore[assignment]
        out[k] = stats
    return out


def needs_more(problem: Problem, stats: dict) -> bool:
    for k, half in problem.ci_target.items():
        _, _, lo, hi = stats[k]["combined"]
        if not (math.isfinite(lo) and math.isfinite(hi)) or (hi - lo) / 2 > half:
            return True
    return False


def evaluate(problem: Problem, execute: Callable, points: list[tuple[int, dict[str, Any]]],
             log: Callable[[str], None] | None = None) -> dict[int, tuple[dict, int]]:
    """Evaluate trials: the base replicates, then more for those whose interval is wider than a ci target.

    Returns number -> (stats, replicates run)."""
    n0, top = problem.spec.replicates, problem.max_replicates
    reps = {n: range(0, n0) for n, _ in points}
    runs = run_trials(problem, execute, points, reps)
    count = {n: n0 for n, _ in points}
    stats = {n: trial_stats(problem, runs[n]) for n, _ in points}
    if problem.ci_target:
        while True:
            more = [(n, v) for n, v in points if count[n] < top and needs_more(problem, stats[n])]
            if not more:
                break
            step = {n: range(count[n], min(top, count[n] + n0)) for n, _ in more}
            extra = run_trials(problem, execute, more, step)
            for n, _ in more:
                for f in problem.futures:
                    runs[n][f].update(extra[n][f])
                count[n] = step[n].stop
                stats[n] = trial_stats(problem, runs[n])
        if log:
            added = [n for n, _ in points if count[n] > n0]
            short = [n for n, _ in points if needs_more(problem, stats[n])]
            target = ", ".join(f"{k}={h:g}" for k, h in problem.ci_target.items())
            if added or short:
                log(f"ci target {target}: {len(added)} of {len(points)} trial(s) needed more replicates "
                    f"(up to {max(count.values())}); {len(short)} still wider at the maximum of {top}"
                    + (f" (trials {', '.join(map(str, short[:8]))})" if short else ""))
    return {n: (stats[n], count[n]) for n, _ in points}


# ---------------------------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------------------------
def _quiet_optuna() -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def trial_seed(problem: Problem, number: int) -> int:
    return int(seed_sequence(problem.spec.seed, "optimize", number).generate_state(1, np.uint32)[0])


def make_sampler(problem: Problem, number: int):
    """The sampler that asks trial ``number``: seeded from the spec's seed and the number alone."""
    import optuna

    s, pop = trial_seed(problem, number), problem.spec.population
    kind = problem.spec.sampler
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=pop, seed=s)
    if kind == "nsga3":
        return optuna.samplers.NSGAIIISampler(population_size=pop, seed=s)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=s, n_startup_trials=pop, multivariate=True)
    return optuna.samplers.RandomSampler(seed=s)


def open_study(problem: Problem, out: Path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    _quiet_optuna()
    out.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    directions = [o.direction for o in problem.objectives]
    return optuna.create_study(study_name=problem.spec.name, storage=storage, directions=directions,
                               sampler=make_sampler(problem, 0), load_if_exists=True)


def check_out(out: Path, problem: Problem) -> None:
    """Before anything is written: ``out`` is new or empty, or this study's own folder (same spec but
    trials); never another study's, a sweep's or any other folder with files in it."""
    state = out / STATE
    if out.is_dir() and not (out / JOURNAL).exists() and not state.exists() and any(out.iterdir()):
        raise ScenarioError("--out", str(out), "a new or empty folder, or this study's own; it holds files that "
                                               "are not an optimisation study's; use another --out")
    if (out / JOURNAL).exists() or state.exists():
        try:
            old = json.loads(state.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            old = None
        if old != problem.fingerprint():
            raise ScenarioError("--out", str(out), f"a new folder or this study's own: the study in it was made from "
                                                   "another spec (only trials may change); use another --out")


def _write_state(out: Path, problem: Problem, extra: dict | None = None) -> None:
    from .store import atomic_json, git_commit, versions

    doc = {"name": problem.spec.name, "spec_file": str(problem.path), "fingerprint": problem.fingerprint(),
           "spec": problem.spec.model_dump(mode="json"), "futures": problem.futures,
           "base": problem.base.model_dump(mode="json"), "base_file": str(problem.base_path),
           "seeds": problem.seeds(problem.max_replicates), "git_commit": git_commit(), "versions": versions()}
    try:
        import optuna

        doc["versions"] = {**doc["versions"], "optuna": optuna.__version__}
    except ImportError:  # pragma: no cover
        pass
    doc.update(extra or {})
    atomic_json(doc, out / STATE)


@dataclass
class Study:
    problem: Problem
    out: Path
    trials: pd.DataFrame
    pareto: pd.DataFrame
    told: int  # trials told in this session
    resumed_from: int  # trials complete when this session started
    runs: int  # model runs in this session
    seconds: float
    files: list[Path] = field(default_factory=list)


def _lever_values(problem: Problem, params: dict[str, Any]) -> dict[str, Any]:
    return {lv.key: lv.decode(params[lv.key]) for lv in problem.levers}


def optimize(problem: Problem, out: str | Path, execute: Callable, *, trials: int | None = None,
             log: Callable[[str], None] | None = None, on_trial: Callable[[int, int], None] | None = None,
             on_start: Callable[[int, int], None] | None = None, stop_after: int | None = None,
             figures: bool = True) -> Study:
    """Run (or resume) the study into ``out``; ``execute(jobs)`` yields ``(job, result)`` as runs finish.

    ``on_start(done, total)`` once, before any trial runs (``done``: the trials a resumed study had told
    already, so a progress report's time left counts only this session's pace); ``on_trial(done, total)``
    after each trial told; ``stop_after``: raise :class:`Interrupted` after that
    many trials told in this session (what a kill does, for tests)."""
    import optuna
    from optuna.trial import TrialState

    out = Path(out)
    check_out(out, problem)
    total = trials or problem.spec.trials
    pop = problem.spec.population
    out.mkdir(parents=True, exist_ok=True)
    _write_state(out, problem)  # before the journal: a folder with a journal always says what made it
    study = open_study(problem, out)
    dists = {lv.key: lv.distribution() for lv in problem.levers}
    start = time.monotonic()
    resumed = sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    if resumed and log:
        log(f"resuming: {resumed} of {total} trials already told" if resumed < total else
            f"the study already has {resumed} trials told (asked for {total}): nothing to run; its tables and "
            "figures are rewritten from them")
    if on_start:
        on_start(resumed, total)
    told = runs = 0
    while True:
        frozen = study.get_trials(deepcopy=False)
        n = len(frozen)
        running = [t for t in frozen if t.state == TrialState.RUNNING]
        if n < total and (n % pop or not running):
            end = min(total, (n // pop + 1) * pop)
            for number in range(n, end):  # one generation, each ask with its own seeded sampler
                study.sampler = make_sampler(problem, number)
                study.ask(fixed_distributions=dists)
            continue
        if not running:
            break
        batch = sorted(running, key=lambda t: t.number)
        points = [(t.number, _lever_values(problem, t.params)) for t in batch]
        results = evaluate(problem, execute, points, log)
        runs += sum(r * len(problem.futures) for _, r in results.values())
        for t in batch:
            stats, reps = results[t.number]
            values = [stats[o.key]["combined"][1] for o in problem.objectives]
            bad = [o.key for o, v in zip(problem.objectives, values) if not math.isfinite(v)]
            if bad:
                raise RunFailed(f"objective {bad[0]} is undefined (NaN) in trial {t.number}: the run size leaves it "
                                "undefined (see credsim run's warning); choose another key or a longer window")
            trial = optuna.Trial(study, t._trial_id)
            trial.set_user_attr("stats", json.loads(json.dumps(stats, default=float).replace("NaN", "null")))
            trial.set_user_attr("replicates", reps)
            for i, c in enumerate(problem.constraints):
                trial.set_constraint(f"c{i}", c.violation(stats[c.key]["combined"][1]))
            study.tell(t.number, values)
            told += 1
            if on_trial:
                on_trial(t.number + 1, total)
            if stop_after is not None and told >= stop_after:
                raise Interrupted(f"stopped after {told} trials told in this session")
        if log:
            done = t.number + 1
            gen = (done - 1) // pop + 1
            frame = trials_table(problem, study)
            log(f"generation {gen}/{math.ceil(total / pop)}: {done}/{total} trials, {int(frame.feasible.sum())} "
                f"feasible, {int(frame.pareto.sum())} on the front ({time.monotonic() - start:.0f} s)")
    table = trials_table(problem, study)
    pareto = table[table.pareto].reset_index(drop=True)
    result = Study(problem, out, table, pareto, told, resumed, runs, time.monotonic() - start)
    result.files = write_outputs(result, figures=figures)
    _write_state(out, problem, {"trials": int(len(table)), "pareto": int(len(pareto)),
                                "finished": datetime_now()})
    return result


def datetime_now() -> str:
    from .store import now

    return now()


# ---------------------------------------------------------------------------------------------
# tables and the front
# ---------------------------------------------------------------------------------------------
def non_dominated(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Rows of ``values`` (n x m) that no other row dominates, ``signs`` +1 to minimise, -1 to maximise."""
    v = values * signs
    n = len(v)
    keep = np.ones(n, bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        if dominated.any():
            keep[i] = False
    return keep


def _json_text(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def trials_table(problem: Problem, study) -> pd.DataFrame:
    """One row per told trial: levers, per key the combined mean and interval and each future's mean."""
    from optuna.trial import TrialState

    rows = []
    pop = problem.spec.population
    for t in study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]):
        row: dict[str, Any] = {"trial": t.number, "generation": t.number // pop}
        for k, v in _lever_values(problem, t.params).items():
            row[k] = _json_text(v)
        stats = t.user_attrs.get("stats", {})
        for k in problem.keys:
            s = stats.get(k, {})
            n, m, lo, hi = [math.nan if x is None else x for x in s.get("combined", [0, None, None, None])]
            row[k], row[f"{k}_ci_low"], row[f"{k}_ci_high"] = m, lo, hi
            for f in problem.futures:
                fv = s.get(f, [0, None, None, None])
                row[f"{k}__{f}"] = math.nan if fv[1] is None else fv[1]
            if "worst_future" in s:
                row[f"{k}_worst_future"] = s["worst_future"]
        for i, c in enumerate(problem.constraints):
            row[f"constraint_{i}"] = t.constraints.get(f"c{i}", math.nan) if hasattr(t, "constraints") else math.nan
        row["replicates"] = int(t.user_attrs.get("replicates", problem.spec.replicates))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["trial", "generation", "feasible", "pareto"])
    cons = [f"constraint_{i}" for i in range(len(problem.constraints))]
    frame["feasible"] = (frame[cons] <= 0).all(axis=1) if cons else True
    obj = [o.key for o in problem.objectives]
    signs = np.array([1.0 if o.direction == "minimize" else -1.0 for o in problem.objectives])
    front = np.zeros(len(frame), bool)
    feas = frame["feasible"].to_numpy()
    if feas.any():
        front[np.flatnonzero(feas)] = non_dominated(frame.loc[feas, obj].to_numpy(float), signs)
    frame["pareto"] = front
    return frame


def _toml_value(v: Any) -> str:
    from .regions import toml_value

    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return repr(v)
    return toml_value(v)


def scenario_file(problem: Problem, row: pd.Series, out: Path) -> str:
    """A Pareto strategy as a scenario file: the base, its overrides, the run size and the levers."""
    from .calibrate import extends_reference

    values = {lv.key: (json.loads(row[lv.key]) if lv.kind == "choice" and isinstance(row[lv.key], str)
                       and row[lv.key][:1] in "[{" else row[lv.key]) for lv in problem.levers}
    values = {k: (int(v) if lv.kind == "int" else float(v) if lv.kind == "float" else
                  bool(v) if isinstance(v, (bool, np.bool_)) else v)
              for (k, v), lv in zip(values.items(), problem.levers)}
    size = {"population.borrowers": problem.base.population.borrowers, "simulation.days": problem.base.simulation.days,
            "simulation.burn_in": problem.base.simulation.burn_in}
    settings = {**size, **problem.spec.overrides, **problem.overrides(values)}
    n = int(row["trial"])
    seeds = problem.seeds(int(row["replicates"]))
    lines = [f"# Pareto strategy of `credsim optimize {problem.path.name}` (study '{problem.spec.name}'), trial {n}.",
             f"# Evaluated at this size on {len(seeds)} paired replicates, seeds {', '.join(map(str, seeds))}",
             f"# (credsim run THIS_FILE --seed S), in the futures {', '.join(problem.futures)} "
             f"(combined: {problem.spec.combine}):"]
    for k in problem.keys:
        fut = "; ".join(f"{f} {row[f'{k}__{f}']:.6g}" for f in problem.futures)
        lines.append(f"#   {k} = {row[k]:.6g} [95% CI {row[f'{k}_ci_low']:.6g}, {row[f'{k}_ci_high']:.6g}]  ({fut})")
    for f, overlay in problem.futures.items():
        if overlay:
            sets = " ".join(f"--set {k}={_toml_value(v).replace(' ', '')}" for k, v in overlay.items())
            lines.append(f"#   future {f}: {sets}")
    lines += [f"extends = {_toml_value(extends_reference(problem.base_path, out))}",
              f"name = {_toml_value(f'{problem.spec.name}_t{n:04d}')}",
              f"description = {_toml_value(f'Pareto strategy {n} of the study {problem.spec.name}')}"]
    tables: dict[str, list[tuple[str, Any]]] = {}
    for k, v in settings.items():
        section, _, leaf = k.rpartition(".")
        tables.setdefault(section, []).append((leaf, v))
    for section, items in sorted(tables.items()):
        lines.append("")
        if section:
            lines.append(f"[{section}]")
        for leaf, v in items:
            lines.append(f"{leaf} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def write_outputs(st: Study, figures: bool = True) -> list[Path]:
    from .store import atomic_parquet, atomic_write_bytes

    out, problem = st.out, st.problem
    files = []
    pdir = out / "pareto"
    pdir.mkdir(parents=True, exist_ok=True)
    for old in pdir.glob("trial_*.toml"):
        old.unlink()
    names = []
    for _, row in st.pareto.iterrows():
        f = pdir / f"trial_{int(row['trial']):04d}.toml"
        atomic_write_bytes(f, scenario_file(problem, row, pdir).encode("utf-8"))
        names.append(str(f.relative_to(out)))
        files.append(f)
    pareto = st.pareto.assign(scenario_file=names) if len(st.pareto) else st.pareto.assign(scenario_file=[])
    st.pareto = pareto
    atomic_parquet(st.trials, out / "trials.parquet")
    atomic_parquet(pareto, out / "pareto.parquet")
    files += [out / "trials.parquet", out / "pareto.parquet"]
    if figures and len(st.trials):
        files += plot_front(st, out / "figures") + plot_levers(st, out / "figures")
    return files


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def _label(key: str) -> str:
    from .analysis import axis_label

    return axis_label(key)


def _scale(key: str) -> float:
    from .analysis import unit

    return unit(key).scale


def plot_front(st: Study, figdir: Path) -> list[Path]:
    """The objectives in pairs: every trial (grey: infeasible), the front with its 95% intervals."""
    from .plots import _plt, _save

    plt = _plt()
    problem, t = st.problem, st.trials
    obj = [o.key for o in problem.objectives]
    pairs = [(a, b) for i, a in enumerate(obj) for b in obj[i + 1:]] or [(obj[0], obj[0])]
    ncol = min(3, len(pairs))
    nrow = math.ceil(len(pairs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 4.0 * nrow), squeeze=False)
    front = t[t.pareto]
    for ax, (a, b) in zip(axes.flat, pairs):
        sa, sb = _scale(a), _scale(b)
        inf = t[~t.feasible.astype(bool)]
        ok = t[t.feasible.astype(bool) & ~t.pareto]
        ax.scatter(inf[a] * sa, inf[b] * sb, s=12, c="#cccccc", label="infeasible", zorder=1)
        ax.scatter(ok[a] * sa, ok[b] * sb, s=14, c="#8fa8c8", label="feasible", zorder=2)
        ax.errorbar(front[a] * sa, front[b] * sb,
                    xerr=[(front[a] - front[f"{a}_ci_low"]) * sa, (front[f"{a}_ci_high"] - front[a]) * sa],
                    yerr=[(front[b] - front[f"{b}_ci_low"]) * sb, (front[f"{b}_ci_high"] - front[b]) * sb],
                    fmt="o", ms=5, color="#c0392b", ecolor="#e6a59d", elinewidth=1, label="Pareto front (95% CI)",
                    zorder=3)
        ax.set_xlabel(_label(a))
        ax.set_ylabel(_label(b))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="best")
    dirs = ", ".join(f"{o.key} ({'min' if o.direction == 'minimize' else 'max'})" for o in problem.objectives)
    fig.suptitle(f"{problem.spec.name}: {len(t)} trials, {len(front)} on the front\n{dirs}\nfutures "
                 f"{', '.join(problem.futures)} (combined: {problem.spec.combine})", fontsize=9)
    fig.tight_layout()
    out = _save(fig, figdir, "front")
    plt.close(fig)
    return out


def plot_levers(st: Study, figdir: Path) -> list[Path]:
    """Parallel coordinates of the levers on the front (0..1 over each lever's range), coloured by the
    first objective; the other trials faint behind."""
    from .plots import _plt, _save

    plt = _plt()
    problem, t = st.problem, st.trials
    levers = problem.levers

    def unit(col: pd.Series, lv: Lever) -> np.ndarray:
        if lv.numeric:
            return (col.to_numpy(float) - lv.low) / (lv.high - lv.low)
        codes = [_json_text(c) for c in lv.choices]
        return np.array([codes.index(v) for v in col], float) / max(1, len(codes) - 1)

    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(levers) + 2), 4.6))
    x = np.arange(len(levers))
    for _, row in t[~t.pareto].iterrows():
        ax.plot(x, [unit(pd.Series([row[lv.key]]), lv)[0] for lv in levers], color="#cccccc", lw=0.6, zorder=1)
    front = t[t.pareto]
    key = problem.objectives[0].key
    cmap = plt.get_cmap("viridis")
    vals = front[key].to_numpy(float) if len(front) else np.array([])
    lo, hi = (np.nanmin(vals), np.nanmax(vals)) if len(vals) else (0.0, 1.0)
    for _, row in front.iterrows():
        c = cmap(0.5 if hi == lo else (row[key] - lo) / (hi - lo))
        ax.plot(x, [unit(pd.Series([row[lv.key]]), lv)[0] for lv in levers], color=c, lw=1.6, marker="o", ms=4,
                zorder=2)
    def tick(lv: Lever) -> str:
        name = lv.key.replace("collection.", "").replace(".", ".\n", 1)
        ends = f"{lv.low:g}..{lv.high:g}" if lv.numeric else " / ".join(str(c) for c in lv.choices)
        return f"{name}\n[{ends}]"

    ax.set_xticks(x)
    ax.set_xticklabels([tick(lv) for lv in levers], fontsize=8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("lever value (0 = low end, 1 = high end)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo * _scale(key), hi * _scale(key)))
    fig.colorbar(sm, ax=ax, label=_label(key))
    ax.set_title(f"{problem.spec.name}: levers of the {len(front)} strategies on the front\n(grey: the other trials)",
                 fontsize=10)
    fig.tight_layout()
    out = _save(fig, figdir, "levers")
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------
# adaptive replication for sweeps (wraps sim.sweep / sim.execute from outside)
# ---------------------------------------------------------------------------------------------
def recorded_replicates(store) -> int:
    """The replicates a results folder's manifest records (0 for a new folder)."""
    try:
        m = store.manifest() or {}
    except (OSError, ValueError):
        return 0
    return int((m.get("spec") or {}).get("replicates") or 0)


def adaptive_sweep(spec_path: str | Path, out: str | Path, targets: dict[str, float], max_replicates: int, *,
                   executor: str = "local", workers: int | None = None, scheduler: str | None = None,
                   log: Callable[[str], None] | None = None, changes: dict | None = None,
                   allow_large: bool = False, **kwargs) -> dict:
    """Run a sweep, then add replicates (``--extend``) while any scenario and design point's 95% interval
    of a target key is wider than ``2 x HALFWIDTH``, up to ``max_replicates``. ``changes`` are the
    spec changes the command line makes (posterior draws). Returns what it did, with the last
    sweep's outcome (``"outcome"``)."""
    from . import analysis
    from .execute import run_sweep
    from .store import ResultStore
    from .sweep import plan as make_plan

    base = dict(changes or {})
    p = make_plan(spec_path, allow_large=allow_large, changes=base or None)
    r0 = p.spec.replicates
    store = ResultStore(out)
    reps = min(max_replicates, max(r0, recorded_replicates(store)))  # a rerun resumes at what it reached
    history = []
    while True:
        p = make_plan(spec_path, allow_large=allow_large, changes={**base, "replicates": reps})
        outcome = run_sweep(p, store, executor=executor, workers=workers, scheduler=scheduler, extend=reps > r0,
                            **kwargs)
        res = analysis.load(out)
        table = analysis.describe(res, list(targets))
        wide = table[[(row.ci_high - row.ci_low) / 2 > targets[row.outcome] or not math.isfinite(row.ci_high - row.ci_low)
                      for row in table.itertuples()]]
        history.append({"replicates": reps, "wide": int(len(wide))})
        if outcome.failed or wide.empty or reps >= max_replicates:  # a failed run: stop, the caller reports it
            break
        reps = min(max_replicates, reps + r0)
    what = ", ".join(f"{k}={h:g}" for k, h in targets.items())
    if log:
        if reps > r0:
            log(f"ci target {what}: added replicates {r0} -> {reps}" +
                (f"; {history[-1]['wide']} interval(s) still wider at the maximum" if history[-1]["wide"] else
                 "; every interval is now narrower than asked"))
        else:
            log(f"ci target {what}: met with the spec's {r0} replicates" if not history[-1]["wide"] else
                f"ci target {what}: {history[-1]['wide']} interval(s) wider, but {r0} is the maximum")
    return {"replicates": reps, "history": history, "outcome": outcome}
