"""Sweeps: many runs of many scenarios, planned from a spec file, executed anywhere, resumable.

A sweep spec (TOML) names scenarios and/or a design over parameters, and a number of replicates::

    name = "strategies"
    replicates = 10
    seed = 0                 # base seed; replicate r runs with sim.rng.replicate_seed(seed, r)
    borrowers = 5000         # optional: overrides every scenario's population.borrowers
    days = 365               # optional: overrides every scenario's simulation.days
    burn_in = 365            # optional: overrides every scenario's simulation.burn_in
    scenarios = "shipped"    # or a list of tables: {file = "...", name = "...", overrides = {...}}

    [design]                 # optional: every scenario is run at every design point
    method = "grid"          # grid | lhs | morris | sobol
    samples = 16             # lhs: points; morris: trajectories; sobol: base samples N
    [design.parameters]
    "collection.visits.start_dpd" = [30, 45, 60]              # grid: the values
    "collection.tone.harshness" = { min = 0.0, max = 1.0 }   # lhs/morris/sobol: the bounds

    [posterior]              # optional: run every scenario under N parameter sets of a posterior
    file = "calibration/posterior.parquet"   # relative to the spec (default: POSTERIOR_DEFAULT)
    draws = 5                # parameter sets, systematic resampling of the last generation by weight
    seed = 0                 # seed of the resampling (not of the runs)

Replicate r of every scenario, every design point and every posterior draw runs with the same seed,
so differences between strategies are paired (common random numbers). A run is identified by
``{scenario}__p{point}__r{replicate}`` (``{scenario}__p{point}__d{draw}__r{replicate}`` with a
posterior); its result depends only on its scenario, overrides and seed,
so it is the same whichever executor runs it and however many workers there are.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .params import Scenario, iter_parameters
from .rng import replicate_seed
from .scenario import (SCENARIO_DIR, ScenarioError, calibrated_keys, _describe, _origin, _sets, load_scenario, read_toml, read_tree,
                       shipped_scenarios, shorten, with_overrides)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioEntry(_Spec):
    file: str = Field(description="Scenario file, relative to the spec, or a shipped scenario's name.")
    name: str | None = Field(None, description="Label in the results (default: the scenario's name).")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Dotted parameter overrides.")


class Bounds(_Spec):
    min: float = Field(allow_inf_nan=False)
    max: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _order(self) -> "Bounds":
        if not self.max > self.min:
            raise ValueError(f"max greater than min, got min = {self.min:g}, max = {self.max:g}")
        return self


class Design(_Spec):
    method: Literal["grid", "lhs", "morris", "sobol"]
    samples: int = Field(16, ge=1, le=1_000_000)
    levels: int = Field(4, ge=2, le=100, description="Morris grid levels.")
    seed: int = Field(0, ge=0, description="Seed of the sampler (not of the runs).")
    parameters: dict[str, list[Any] | Bounds] = Field(default_factory=dict)
    include: list[str] = Field(default_factory=list, description="Parameter groups added to the design with their "
                               "plausible ranges (sim/assumptions.py): \"assumptions\" is every assumption active in "
                               "the spec's scenarios. Bounds under parameters take precedence.")
    override_scenarios: bool = Field(False, description="Let design values replace values the scenarios set themselves.")

    def size(self) -> int:
        """How many points the design has, computed without building them."""
        k = len(self.parameters)
        if self.method == "grid":
            return math.prod(len(v) if isinstance(v, list) else 1 for v in self.parameters.values())
        return self.samples * {"lhs": 1, "morris": k + 1, "sobol": k + 2}[self.method]

    def problems(self) -> list[tuple[str, str]]:
        """What is wrong with the parameters for the method, as (key under ``design``, what was expected)."""
        from .assumptions import GROUPS

        for i, name in enumerate(self.include):
            if name not in GROUPS:
                return [(f"include.{i}", f"a parameter group ({', '.join(GROUPS)}), got {shorten(name)!r}")]
            if self.method == "grid":
                return [(f"include.{i}", "groups of ranges for lhs, morris or sobol, not for a grid")]
        if not self.parameters and not self.include:
            return [("parameters", 'at least one parameter, e.g. "collection.visits.start_dpd" = [30, 45, 60]')]
        out = []
        for key, v in self.parameters.items():
            where = f"parameters.{key}"
            if self.method == "grid" and not isinstance(v, list):
                out.append((where, "a list of values for a grid, got a table (bounds are for lhs, morris, sobol)"))
            elif self.method != "grid" and not isinstance(v, Bounds):
                out.append((where, f"bounds {{min = ..., max = ...}} for {self.method}, got a list (lists are for grid)"))
            elif isinstance(v, list) and not v:
                out.append((where, "at least one value"))
            elif isinstance(v, Bounds) and (outside := _outside_range(key, v)):
                out.append((where, outside))
        return out


def _outside_range(key: str, b: Bounds) -> str | None:
    """What is wrong with bounds that reach outside the parameter's declared validity bounds
    (:func:`sim.assumptions.validity_bounds`), or None: every point the sampler may draw (endpoints
    included, as Morris levels are) must be valid."""
    from .assumptions import validity_bounds

    try:
        lo, hi = validity_bounds(key)
    except (KeyError, AttributeError):
        return None  # not a parameter: said where the design's keys are checked
    if lo <= b.min and b.max <= hi:
        return None
    return f"bounds inside the parameter's range [{lo:.6g}, {hi:.6g}], got min = {b.min:g}, max = {b.max:g}"


#: Where ``credsim calibrate ... --method abc`` of the shipped targets leaves its posterior in the
#: checkout: a ``[posterior]`` table without ``file`` reads it.
POSTERIOR_DEFAULT = "experiments/calibration/posterior.parquet"


class PosteriorSpec(_Spec):
    """``[posterior]``: run every scenario under ``draws`` parameter sets of an ABC posterior."""

    file: str | None = Field(None, description="posterior.parquet of `credsim calibrate --method abc`, relative to "
                                               f"the spec (default: {POSTERIOR_DEFAULT} in the checkout).")
    draws: int = Field(10, ge=1, le=10_000, description="Parameter sets drawn from the last generation by weight.")
    seed: int = Field(0, ge=0, description="Seed of the resampling (not of the runs).")
    override_scenarios: bool = Field(False, description="Let drawn values replace values the scenarios set themselves.")


class SweepSpec(_Spec):
    name: str = "sweep"
    description: str = ""
    replicates: int = Field(1, ge=1, le=100_000)
    seed: int = Field(0, ge=0)
    borrowers: int | None = Field(None, ge=10)
    days: int | None = Field(None, ge=1)
    burn_in: int | None = Field(None, ge=0)
    scenarios: Literal["shipped"] | list[ScenarioEntry] = Field(default_factory=lambda: [ScenarioEntry(file="baseline")])
    design: Design | None = None
    posterior: PosteriorSpec | None = None


@dataclass(frozen=True)
class Job:
    """One run of a sweep: everything a worker needs, nothing it must look up."""

    run_id: str
    scenario: str
    point: int
    replicate: int
    seed: int
    params: Scenario
    design_values: dict[str, Any] = field(default_factory=dict)
    draw: int | None = None  # the posterior draw (None: the sweep has no [posterior])
    draw_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    spec: SweepSpec
    spec_path: Path
    jobs: list[Job]
    scenario_trees: dict[str, dict]
    design_keys: list[str]
    posterior_keys: list[str] = field(default_factory=list)
    posterior: dict | None = None  # what was drawn (posterior_record): file, its hash, the draws' values

    @property
    def spec_hash(self) -> str:
        """Identifies what the sweep computes: the spec and every resolved scenario."""
        spec = self.spec.model_dump(mode="json")
        if spec.get("design") and not spec["design"]["override_scenarios"]:
            del spec["design"]["override_scenarios"]  # added later: the hashes of earlier sweeps stay valid
        if spec.get("posterior") is None:
            spec.pop("posterior", None)  # added later, likewise
        else:
            spec["posterior"].pop("file")  # where the file is does not matter; what was drawn from it does
        if spec.get("design") and not spec["design"]["include"]:
            del spec["design"]["include"]  # likewise
        doc = {"spec": spec, "scenarios": self.scenario_trees}
        if self.posterior is not None:  # the values drawn, so a changed posterior file is another sweep
            doc["posterior"] = self.posterior["draws"]
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()

    def runs_table(self):
        import pandas as pd

        rows = []
        for j in self.jobs:
            row = {"run_id": j.run_id, "scenario": j.scenario, "point": j.point, "replicate": j.replicate,
                   "seed": j.seed}
            if j.draw is not None:
                row["draw"] = j.draw
            row.update({k: j.design_values.get(k) for k in self.design_keys})
            row.update({k: j.draw_values.get(k) for k in self.posterior_keys})
            rows.append(row)
        return pd.DataFrame(rows)


def _leaf_types() -> dict[str, Any]:
    return {path: ann for path, _u, _d, _doc, ann in iter_parameters()}


def _fail(src: Path, err: Exception | str, key: str = "(spec)") -> ScenarioError:
    return ScenarioError(src, key, str(err))


# pydantic names the member of a union in an error's location, e.g. "list[any]" or
# "function-after[_order(), Bounds]"; people never wrote those, so they are dropped.
_UNION_TAG = re.compile(r"^(list|dict|literal|function-\w+)\[.*\]$|^[A-Z]\w*$")
_WRONG_MEMBER = {"list_type", "model_type", "model_attributes_type", "dict_type", "literal_error"}
_UNIONS = {
    ("scenarios",): '"shipped" or a list of tables {file = "...", name = "...", overrides = {...}}',
    ("design", "parameters", "*"): "a list of values (grid) or bounds {min = ..., max = ...} (lhs, morris, sobol)",
}
_TABLES = {(): SweepSpec, ("design",): Design, ("scenarios", "*"): ScenarioEntry,
           ("design", "parameters", "*"): Bounds, ("posterior",): PosteriorSpec}
_WHAT = {SweepSpec: "a sweep spec", Design: "[design]", ScenarioEntry: "a scenario entry", Bounds: "bounds",
         PosteriorSpec: "[posterior]"}


def _shape(loc: tuple) -> tuple:
    """A location with the free parts (list indices, parameter names) as '*'."""
    out = []
    for i, part in enumerate(loc):
        free = isinstance(part, int) or (i == 2 and loc[:2] == ("design", "parameters"))
        out.append("*" if free else part)
    return tuple(out)


def _spec_problem(errors: list[dict]) -> tuple[str, str]:
    """The one problem to report of pydantic's errors for a spec: (key, what was expected)."""
    cleaned = []
    for err in errors:
        loc = err["loc"]
        tagged = bool(loc) and isinstance(loc[-1], str) and bool(_UNION_TAG.match(loc[-1]))
        plain = tuple(x for x in loc if not (isinstance(x, str) and _UNION_TAG.match(x)))
        cleaned.append((plain, tagged and err["type"] in _WRONG_MEMBER, {**err, "loc": plain}))
    real = [c for c in cleaned if not c[1]]
    if not real:  # the value fits no member of a union: say what would
        plain, _, err = cleaned[0]
        got = err.get("input")
        kind = "a table" if isinstance(got, dict) else "a list" if isinstance(got, list) else repr(got)
        return ".".join(map(str, plain)), f"{_UNIONS.get(_shape(plain), 'another kind of value')}, got {kind}"
    plain, _, err = real[0]
    key = ".".join(map(str, plain))
    if err["type"] == "extra_forbidden":
        model = _TABLES.get(_shape(plain[:-1]))
        if model is not None:
            return key, f"unknown key ({_WHAT[model]} has: {', '.join(model.model_fields)})"
    if err["type"] in ("model_type", "model_attributes_type") and _shape(plain) in _TABLES:
        model = _TABLES[_shape(plain)]
        return key, f"a table with keys {', '.join(model.model_fields)}, got {err.get('input')!r}"
    if err["type"] == "missing":
        return key, "a value: this key is required"
    return _describe(err)


def read_spec(path: str | Path, changes: dict[str, Any] | None = None) -> SweepSpec:
    """Read and validate a spec; ``changes`` replace its top-level keys first (e.g. ``{"replicates": 2}``)."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(path, "file", "an existing sweep spec file")
    raw = {**read_toml(path), **(changes or {})}
    try:
        spec = SweepSpec.model_validate(raw, strict=False)
    except ValidationError as e:
        loc, text = _spec_problem(e.errors())
        raise ScenarioError(path, loc, text) from None
    if spec.design is not None:
        for key, text in spec.design.problems()[:1]:
            raise ScenarioError(path, f"design.{key}", text)
    return spec


def design_points(design: Design | None) -> tuple[list[str], list[dict[str, Any]]]:
    """The design's parameter names and its points (one dict of values per point)."""
    if design is None:
        return [], [{}]
    keys = list(design.parameters)
    if design.method == "grid":
        combos = itertools.product(*(design.parameters[k] for k in keys))
        return keys, [dict(zip(keys, c)) for c in combos]
    lo = np.array([design.parameters[k].min for k in keys])
    hi = np.array([design.parameters[k].max for k in keys])
    if design.method == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(keys), seed=design.seed).random(design.samples)
        x = lo + unit * (hi - lo)
    else:
        problem = salib_problem(design)
        if design.method == "morris":
            from SALib.sample import morris

            x = morris.sample(problem, N=design.samples, num_levels=design.levels, seed=design.seed)
        else:
            from SALib.sample import sobol

            x = sobol.sample(problem, N=design.samples, calc_second_order=False, seed=design.seed)
    return keys, [dict(zip(keys, (float(v) for v in row))) for row in x]


def salib_problem(design: Design) -> dict:
    keys = list(design.parameters)
    return {"num_vars": len(keys), "names": keys,
            "bounds": [[design.parameters[k].min, design.parameters[k].max] for k in keys]}


def _typed(values: dict[str, Any], types: dict[str, Any]) -> dict[str, Any]:
    """Round sampled values of integer parameters, and turn 0/1 into booleans for flags."""
    out = {}
    for k, v in values.items():
        t = types.get(k)
        if t is int and isinstance(v, float):
            v = int(round(v))
        elif t is bool and isinstance(v, (int, float)) and not isinstance(v, bool):
            v = bool(round(v))
        out[k] = v
    return out


def _entries(spec: SweepSpec, spec_path: Path) -> list[ScenarioEntry]:
    if spec.scenarios == "shipped":
        return [ScenarioEntry(file=str(p)) for p in shipped_scenarios()]
    return list(spec.scenarios)


#: The most runs a plan may have unless the command says ``--allow-large``: beyond it, the plan alone
#: (one validated parameter set per run) takes gigabytes, and the sweep days on a workstation.
MAX_RUNS = 100_000
#: The longest scenario label: run ids and file names are built from it (``LABEL__p0000__r000.parquet``,
#: and a temporary name around that), and must stay well within the file system's 255 bytes.
MAX_LABEL = 64
#: Parameters a design may vary: numbers, and flags (sampled as 0/1).
_DESIGN_TYPES = (int, float, bool)


def _check_label(spec_path: Path, i: int, label: str) -> None:
    key = f"scenarios.{i}.name"
    if not label or not label.replace("_", "").replace("-", "").isalnum() or not label.isascii():
        raise ScenarioError(spec_path, key, f"letters, digits, '_' or '-' (used in file names), got {shorten(label)!r}")
    if len(label) > MAX_LABEL:
        raise ScenarioError(spec_path, key, f"a name of at most {MAX_LABEL} characters (used in file names), "
                                            f"got {len(label)}")


def _with_groups(design: Design, spec_path: Path, entries: list[ScenarioEntry]) -> Design:
    """The design with its ``include`` groups expanded into bounds (sim/assumptions.py).

    A group's parameter joins if it is active in at least one of the scenarios and none of them sets
    it (in its file or its overrides): the design varies what the scenarios leave open. Bounds the
    spec gives under ``parameters`` win over the group's plausible range.
    """
    from .assumptions import group

    scenarios, raws = [], []
    for entry in entries:
        f = spec_path.parent / entry.file
        for cand in (f, Path(entry.file), SCENARIO_DIR / entry.file, SCENARIO_DIR / f"{entry.file}.toml"):
            if cand.is_file():
                scenarios.append(load_scenario(cand))
                raws.append((cand, read_tree(cand), entry.overrides))
                break  # a missing file is reported by plan() with its key
    params: dict[str, list[Any] | Bounds] = {}
    for name in design.include:
        for k, (lo, hi) in group(name, scenarios).items():
            if any(k in over or _set_by(f, raw, k) is not None for f, raw, over in raws) or not hi > lo:
                continue
            params[k] = Bounds(min=lo, max=hi)
    params.update(design.parameters)
    return design.model_copy(update={"parameters": params})


def plan(spec_path: str | Path, allow_large: bool = False, changes: dict[str, Any] | None = None) -> Plan:
    """Read and validate a spec and every run it implies. Raises :class:`ScenarioError` on any problem.

    A plan of more than ``MAX_RUNS`` runs is refused (before it is built) unless ``allow_large``.
    ``changes`` replace top-level keys of the spec (``borrowers``, ``days``, ``replicates``, ...) as if
    the file said so: the plan, its hash and its manifest are those of the changed spec.
    """
    spec_path = Path(spec_path)
    spec = read_spec(spec_path, changes)
    types = _leaf_types()
    entries = _entries(spec, spec_path)
    if not entries:
        raise ScenarioError(spec_path, "scenarios", 'at least one scenario {file = "..."} '
                                                    "(leave scenarios out to run baseline only)")
    if spec.design is not None and spec.design.include:
        spec.design = _with_groups(spec.design, spec_path, entries)
    if spec.design is not None:
        for k in spec.design.parameters:
            where = f"design.parameters.{k}"
            if k not in types:
                raise ScenarioError(spec_path, where, "a parameter name (see docs/ODD.md)")
            if types[k] not in _DESIGN_TYPES:
                kind = "text" if types[k] is str else "a list"
                raise ScenarioError(spec_path, where, f"a numeric parameter or a flag; '{k}' is {kind}"
                                    + (" (name each scenario entry instead)" if k in ("name", "description") else ""))
    n_points = spec.design.size() if spec.design is not None else 1
    post_keys, draws, post_record = posterior_draws(spec, spec_path, types, list(spec.design.parameters)
                                                    if spec.design is not None else [])
    total = len(entries) * n_points * len(draws) * spec.replicates
    if total > MAX_RUNS and not allow_large:
        drawn = f"{len(draws):,} posterior draw(s) x " if post_record is not None else ""
        raise ScenarioError(spec_path, "design" if spec.design is not None else "replicates",
                            f"a plan of at most {MAX_RUNS:,} runs, got {len(entries):,} scenario(s) x {n_points:,} "
                            f"point(s) x {drawn}{spec.replicates:,} replicate(s) = {total:,}; pass --allow-large to run it")
    keys, points = design_points(spec.design)
    if spec.design is not None and spec.design.method != "grid":
        points = [_typed(p, types) for p in points]  # sampled numbers: round integers, 0/1 flags

    base_overrides: dict[str, Any] = {}
    if spec.borrowers is not None:
        base_overrides["population.borrowers"] = spec.borrowers
    if spec.days is not None:
        base_overrides["simulation.days"] = spec.days
    if spec.burn_in is not None:
        base_overrides["simulation.burn_in"] = spec.burn_in

    seeds = [replicate_seed(spec.seed, r) for r in range(spec.replicates)]
    jobs: list[Job] = []
    trees: dict[str, dict] = {}
    for i, entry in enumerate(entries):
        f = spec_path.parent / entry.file
        if not f.is_file():
            f = Path(entry.file) if Path(entry.file).is_file() else SCENARIO_DIR / entry.file
            if not f.is_file() and (SCENARIO_DIR / f"{entry.file}.toml").is_file():
                f = SCENARIO_DIR / f"{entry.file}.toml"
        if not f.is_file():
            raise ScenarioError(spec_path, f"scenarios.{i}.file", f"an existing scenario file or shipped name, '{entry.file}' not found")
        base = load_scenario(f)  # raises with the scenario file's own name and key
        label = entry.name or base.name
        _check_label(spec_path, i, label)
        if label in trees:
            raise ScenarioError(spec_path, f"scenarios.{i}.name", f"a name not used twice ('{label}'); give each entry a name")
        if spec.design is not None and not spec.design.override_scenarios:
            raw = read_tree(f)
            for k in keys:
                setter = _setter(f, raw, entry, base_overrides, k)
                if setter is None:
                    continue
                raise ScenarioError(spec_path, f"design.parameters.{k}",
                                    f"a parameter the scenarios leave open; scenario '{label}' sets it in {setter}, "
                                    "and the design would replace that value (set override_scenarios = true in "
                                    "[design] to mean it)")
        if post_keys and not spec.posterior.override_scenarios:
            posterior_conflicts(spec_path, post_keys, label, f, entry, base_overrides)
        src = f"{spec_path}: scenarios.{i}"
        try:
            # TOML values have real types: no coercion ("yes" is not a flag, 30.5 not a day count)
            sc = with_overrides(base, {**base_overrides, **entry.overrides}, source=str(spec_path), strict=True)
        except ScenarioError as e:
            key = _SPEC_SIZES[e.key] if e.key in _SPEC_SIZES and e.key not in entry.overrides else \
                f"scenarios.{i}.overrides.{e.key}"
            raise ScenarioError(spec_path, key, e.expected) from None
        trees[label] = sc.model_dump(mode="json")
        for pi, values in enumerate(points):
            try:
                psc = with_overrides(sc, values, source=src, strict=True) if values else sc
            except ScenarioError as e:
                raise ScenarioError(spec_path, f"design.parameters.{e.key}", e.expected) from None
            for d, dvalues in enumerate(draws):
                if dvalues is None:
                    for r, seed in enumerate(seeds):
                        jobs.append(Job(f"{label}__p{pi:04d}__r{r:03d}", label, pi, r, seed, psc, values))
                    continue
                try:
                    dsc = with_overrides(psc, dvalues, source=src, strict=True)
                except ScenarioError as e:
                    raise ScenarioError(post_record["file"], e.key, f"{e.expected} (draw {d}, particle "
                                        f"{post_record['draws'][d]['particle']})") from None
                for r, seed in enumerate(seeds):
                    jobs.append(Job(f"{label}__p{pi:04d}__d{d:03d}__r{r:03d}", label, pi, r, seed, dsc, values,
                                    d, dvalues))
    return Plan(spec, spec_path, jobs, trees, keys, post_keys, post_record)


# --------------------------------------------------------------------------- posterior draws
#
# ``[posterior]`` runs every scenario (at every design point) under ``draws`` parameter sets of an ABC
# posterior (sim/abc.py's posterior.parquet), each draw applied over the scenario like a design point.
# Replicate r runs with the same seed in every scenario and every draw, so scenario differences are
# paired within (draw, replicate), and draws are compared on common random numbers too.

#: Columns of posterior.parquet that are not parameters (sim/abc.py); ``moment.*`` are not either.
POSTERIOR_META = ("generation", "particle", "weight", "distance")


def posterior_file(spec: SweepSpec, spec_path: Path) -> Path:
    """The posterior file a spec names: ``file`` relative to the spec, else ``POSTERIOR_DEFAULT``."""
    if spec.posterior is None or spec.posterior.file is None:
        return SCENARIO_DIR.parent / POSTERIOR_DEFAULT
    f = Path(spec.posterior.file).expanduser()
    return f if f.is_absolute() else spec_path.parent / f


def read_posterior(path: Path, spec_path: Path) -> tuple[list[str], pd.DataFrame]:
    """The parameter names and the last generation's particles of a posterior.parquet (ScenarioError if
    it is not one): the weights normalised, every value finite."""
    import pandas as pd

    if not path.is_file():
        where = ("; give [posterior] file = ... or --posterior FILE until the shipped calibration is committed"
                 if path == SCENARIO_DIR.parent / POSTERIOR_DEFAULT else "")
        raise ScenarioError(spec_path, "posterior.file", f"an existing posterior.parquet (written by `credsim calibrate "
                                                         f"TARGETS --method abc`), '{path}' not found{where}")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - not Parquet, truncated, unreadable: one line
        raise ScenarioError(path, "file", f"a Parquet file of weighted particles ({' '.join(str(e).split())[:160]})") from None
    for col in ("generation", "weight"):
        if col not in df.columns:
            raise ScenarioError(path, col, "a column of a posterior.parquet (generation, particle, parameters, weight, "
                                           "distance: credsim calibrate --method abc writes one)")
    keys = [c for c in df.columns if c not in POSTERIOR_META and not str(c).startswith("moment.")]
    if not keys:
        raise ScenarioError(path, "columns", "at least one parameter column besides generation, particle, weight, "
                                             "distance and moment.*")
    if df.empty:
        raise ScenarioError(path, "rows", "at least one particle")
    last = df[df["generation"] == df["generation"].max()].reset_index(drop=True)
    w = pd.to_numeric(last["weight"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ScenarioError(path, "weight", "finite weights, none negative, not all 0")
    for k in keys:
        v = pd.to_numeric(last[k], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(v).all():
            raise ScenarioError(path, k, "a finite number for every particle of the last generation")
    last["weight"] = w / w.sum()
    return keys, last


def systematic_draws(weights: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` particles by systematic resampling: the particles whose cumulative weight first
    reaches ``(u + k) / n`` for k < n, with ``u`` uniform on [0, 1) from ``seed``'s "posterior" stream.

    Unbiased (particle i is drawn ``n * w_i`` times in expectation, and always floor or ceil of it), so
    the draws are equally weighted; with less spread than drawing each at random.
    """
    from .rng import seed_sequence

    u = np.random.default_rng(seed_sequence(seed, "posterior")).random()
    cum = np.cumsum(np.asarray(weights, dtype=float))
    cum /= cum[-1]
    idx = np.searchsorted(cum, (u + np.arange(n)) / n, side="right")
    return np.minimum(idx, len(cum) - 1)


def posterior_draws(spec: SweepSpec, spec_path: Path, types: dict[str, Any],
                    design_keys: list[str]) -> tuple[list[str], list[dict[str, Any] | None], dict | None]:
    """``(parameter names, one dict of values per draw, the record for the manifest)``; ``([], [None],
    None)`` without ``[posterior]``."""
    if spec.posterior is None:
        return [], [None], None
    path = posterior_file(spec, spec_path)
    keys, last = read_posterior(path, spec_path)
    for k in keys:
        if k not in types:
            raise ScenarioError(path, k, "a parameter name (see docs/ODD.md) as the column of a posterior")
        if types[k] not in _DESIGN_TYPES:
            raise ScenarioError(path, k, "a numeric parameter or a flag")
        if k in design_keys:
            raise ScenarioError(spec_path, f"design.parameters.{k}",
                                f"a parameter the posterior leaves open; {path.name} draws it too")
    idx = systematic_draws(last["weight"].to_numpy(), spec.posterior.draws, spec.posterior.seed)
    draws, rows = [], []
    for d, i in enumerate(idx):
        values = _typed({k: float(last.at[i, k]) for k in keys}, types)
        draws.append(values)
        particle = int(last.at[i, "particle"]) if "particle" in last.columns else int(i)
        rows.append({"draw": d, "particle": particle, "weight": float(last.at[i, "weight"]), "values": values})
    record = {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "generation": int(last["generation"].iloc[0]), "particles": len(last), "parameters": keys,
              "method": "systematic resampling by weight", "seed": spec.posterior.seed, "draws": rows}
    return keys, draws, record


def _set_by(f: Path, raw: dict, key: str) -> Path | None:
    """The file of scenario ``f`` (itself or one it extends) that sets ``key``, or None. The calibrated
    estimate in baseline.toml's generated region does not count: every scenario inherits it, and a design
    or a posterior draw over a fitted parameter is meant to vary it."""
    parts = key.split(".")
    if not _sets(raw, parts):
        return None
    origin = _origin(f, parts)
    if key in calibrated_keys() and origin.resolve() == (SCENARIO_DIR / "baseline.toml").resolve():
        return None
    return origin


_SPEC_SIZES = {"population.borrowers": "borrowers", "simulation.days": "days", "simulation.burn_in": "burn_in"}


def _setter(f: Path, raw: dict, entry: ScenarioEntry, base_overrides: dict[str, Any], key: str) -> str | None:
    """Where a scenario entry sets ``key`` itself (its overrides, the spec's sizes, or its file), said for
    an error message; None if it leaves the parameter open."""
    if key in entry.overrides:
        return f"its overrides ({key} = {entry.overrides[key]!r})"
    if key in base_overrides:
        return f"the spec's {_SPEC_SIZES[key]} = {base_overrides[key]!r}"
    origin = _set_by(f, raw, key)
    return f"its file {origin.name}" if origin is not None else None


def posterior_conflicts(spec_path: Path, keys: list[str], label: str, f: Path, entry: ScenarioEntry,
                        base_overrides: dict[str, Any]) -> None:
    """Refuse a posterior parameter that a scenario sets itself (its file, its overrides, or the spec's
    borrowers/days/burn_in): the draw would replace the scenario's value; ``override_scenarios = true``
    in [posterior] means it."""
    raw = read_tree(f)
    for k in keys:
        setter = _setter(f, raw, entry, base_overrides, k)
        if setter is None:
            continue
        raise ScenarioError(spec_path, "posterior", f"posterior parameters the scenarios leave open; scenario '{label}' "
                                                    f"sets {k} in {setter}, and each draw would replace that value "
                                                    "(set override_scenarios = true in [posterior] to mean it)")


def posterior_changes(spec_path: str | Path, file: str | Path | None = None, draws: int | None = None) -> dict:
    """The ``changes`` (for :func:`plan`) of ``credsim sweep --posterior FILE --draws N``: the spec's
    ``[posterior]`` table with ``file`` and ``draws`` replaced or added. ``{}`` when neither is given."""
    if file is None and draws is None:
        return {}
    if draws is not None and draws < 1:
        raise ScenarioError("--draws", str(draws), "a whole number of posterior draws, at least 1")
    spec_path = Path(spec_path)
    table = read_toml(spec_path).get("posterior") if spec_path.is_file() else None
    if file is None and not isinstance(table, dict):
        raise ScenarioError("--draws", str(draws), "a posterior to draw from: --posterior FILE, or a [posterior] "
                                                   "table in the spec")
    new = dict(table) if isinstance(table, dict) else {}
    if file is not None:
        if not Path(file).is_file():
            raise ScenarioError("--posterior", str(file), "an existing posterior.parquet (written by `credsim "
                                                          "calibrate TARGETS --method abc`)")
        new["file"] = str(Path(file).resolve())
    if draws is not None:
        new["draws"] = draws
    return {"posterior": new}
