"""Loading and validating scenario files.

A scenario is a TOML file holding a partial copy of the parameter tree in :mod:`sim.params`.
``extends = "other.toml"`` (relative to the file) starts from another scenario and overrides only
what differs. Overrides given as dotted keys (``{"collection.visits.start_dpd": 45}``) are applied
last. Every problem is reported as one :class:`ScenarioError` naming the file, the key and what was
expected.
"""

from __future__ import annotations

import copy
import functools
import math
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from .params import Scenario
from .regions import CALIBRATED, toml_region_re

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

#: How deep arrays, tables and dotted keys may nest in an input file or ``--set`` (the parameter tree
#: is 4 deep; nothing meaningful comes near this). Deeper input is refused, not parsed into a crash.
MAX_DEPTH = 32
#: How many files an ``extends`` chain may hold.
MAX_EXTENDS = 32
#: Longest key or value quoted back in a message.
_QUOTE = 80


class ScenarioError(ValueError):
    """A scenario, override or sweep problem: ``FILE: key.path: what was expected``."""

    def __init__(self, source: str, key: str, expected: str):
        self.source, self.key, self.expected = str(source), str(key), expected
        self.more: list[ScenarioError] = []  # further problems in the same input (``credsim validate`` lists them)
        super().__init__(f"{self.source}: {shorten(self.key)}: {expected}")

    def __reduce__(self):  # picklable: a worker's error arrives intact in the process that reports it
        return (type(self), (self.source, self.key, self.expected))


def shorten(text: str, limit: int = _QUOTE) -> str:
    """``text``, or its start and end around an ellipsis if longer than ``limit``."""
    text = str(text)
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


def depth(node: Any) -> int:
    """How deep tables and arrays nest in ``node`` (a value: 0), without recursion."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, d)
            continue
        deepest = max(deepest, d + 1)
        if d + 1 > MAX_DEPTH:
            return d + 1
        stack.extend((c, d + 1) for c in children)
    return deepest


def _too_deep(source: str | Path, key: str = "toml") -> ScenarioError:
    return ScenarioError(source, key, f"arrays, tables and dotted keys nested at most {MAX_DEPTH} levels deep; "
                                      "this nests deeper")


def loads_toml(text: str, source: str | Path) -> dict:
    """Parse TOML text, refusing nesting deeper than ``MAX_DEPTH`` (Python's parser would crash on it)."""
    try:
        tree = tomllib.loads(text)
    except RecursionError:
        raise _too_deep(source) from None
    if depth(tree) > MAX_DEPTH:
        raise _too_deep(source)
    return tree


def _deep_merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_path(name: str | Path) -> Path:
    """A path as given, or the name of a shipped scenario (``baseline`` or ``baseline.toml``)."""
    p = Path(name)
    if p.exists():
        return p
    for cand in (SCENARIO_DIR / p.name, SCENARIO_DIR / f"{p.name}.toml"):
        if cand.exists() and not p.parent.parts:
            return cand
    return p


def read_toml(path: Path) -> dict:
    """A TOML file's contents; any problem reading or parsing it is one :class:`ScenarioError`."""
    try:
        return loads_toml(Path(path).read_text(encoding="utf-8-sig"), path)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(path, "toml", f"valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(path, "file", f"a UTF-8 text file (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise ScenarioError(path, "file", f"a readable file ({e.strerror or e})") from None


def read_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The raw parameter tree of a file with its ``extends`` chain merged in."""
    path = Path(path)
    if not path.exists():
        expected = "an existing scenario file"
        if not _seen and not path.parent.parts:
            names = ", ".join(p.stem for p in shipped_scenarios())
            expected += f" or a shipped scenario name ({names})"
        raise ScenarioError(path, "file", f"{expected}; not found")
    if not path.is_file():
        raise ScenarioError(path, "file", "a scenario file, not a directory")
    real = path.resolve()
    if real in _seen:
        chain = " -> ".join(p.name for p in (*_seen, real))
        raise ScenarioError(path, "extends", f"a scenario that does not extend itself (cycle: {chain})")
    tree = read_toml(path)
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    if not isinstance(parent, str):
        raise ScenarioError(path, "extends", f"a file name as a string, got {parent!r}")
    parent_path = path.parent / parent
    if parent and not parent_path.is_file():
        for shipped in (SCENARIO_DIR / parent, SCENARIO_DIR / f"{parent}.toml"):  # "baseline" or "baseline.toml"
            if shipped.is_file() and not Path(parent).parent.parts:
                parent_path = shipped  # a shipped scenario, extended from anywhere, as `credsim run NAME` names it
                break
    if not parent or not parent_path.is_file():
        names = ", ".join(p.stem for p in shipped_scenarios())
        raise ScenarioError(path, "extends", f"an existing scenario file (relative to this one), or a shipped scenario "
                                             f"({names}), '{parent}' not found")
    if len(_seen) + 1 >= MAX_EXTENDS and parent_path.resolve() not in (*_seen, real):
        start = _seen[0].name if _seen else path.name
        raise ScenarioError(path, "extends", f"an extends chain of at most {MAX_EXTENDS} files; the chain from "
                                             f"{start} is longer")
    base = read_tree(parent_path, (*_seen, real))
    base.pop("name", None)
    base.pop("description", None)
    return _deep_merge(base, tree)


def apply_overrides(tree: dict, overrides: Mapping[str, Any], source: str = "--set", known: bool = False) -> dict:
    """``tree`` with dotted overrides set. ``known``: ``tree`` is complete, so a key it lacks is unknown."""
    tree = copy.deepcopy(tree)
    for key, value in overrides.items():
        parts = str(key).split(".")
        if len(parts) > MAX_DEPTH:
            raise ScenarioError(source, key, f"a dotted parameter name of at most {MAX_DEPTH} parts, got {len(parts)}")
        if not all(p.strip() for p in parts):
            raise ScenarioError(source, key or "(empty)", "a dotted parameter name such as collection.visits.start_dpd")
        node = tree
        for i, p in enumerate(parts):
            if known and p not in node:
                where = "" if i == len(parts) - 1 else f"'{'.'.join(parts[: i + 1])}' is unknown; "
                raise ScenarioError(source, key, f"unknown parameter ({where}see docs/ODD.md for the parameter list)")
            if i == len(parts) - 1:
                break
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                where = ".".join(parts[: i + 1])
                raise ScenarioError(source, key, f"a parameter, but '{where}' is a value, not a section")
            node = nxt
        last = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last] = _deep_merge(node[last], value)  # an inline table sets only what it names
        else:
            node[last] = value
    return tree


def _describe(err: dict) -> tuple[str, str]:
    loc = ".".join(str(x) for x in err["loc"] if x not in ("function-after",))
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        if loc.startswith("collection.") and loc.endswith(".enabled"):
            return loc, ('no longer a parameter: list the tactics the lender runs in collection.tactics, e.g. '
                         'tactics = ["reminders", "promises", "recovery"] for no visits')
        return loc, "unknown parameter (see docs/ODD.md for the parameter list)"
    got = err.get("input")
    if kind == "missing":
        return loc, "a value (required)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc or "(top level)", f"a table of parameters, got {got!r}"
    text = msg[0].lower() + msg[1:] if msg else kind
    text = text.replace("input should be", "expected").replace("value error, ", "")
    if kind == "value_error" and not loc and re.match(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+: ", text):
        return tuple(text.split(": ", 1))  # a rule across sections names its key first
    if ", got " in text:  # a validator's own text already says what it got
        return loc or "(top level)", text
    if isinstance(got, dict):
        text += ", got a table"
    elif isinstance(got, list):
        text += ", got a list"
    else:
        text += f", got {got!r}"
    return loc or "(top level)", text


def _check_finite(node: Any, source: str, path: tuple = ()) -> None:
    """NaN and infinity pass pydantic's range checks where a side is open; no parameter means them."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, source, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, source, (*path, i))
    elif isinstance(node, float) and not math.isfinite(node):
        raise ScenarioError(source, ".".join(map(str, path)) or "(top level)", f"a finite number, got {node!r}")


def validate_tree(tree: dict, source: str, strict: bool = False) -> Scenario:
    """Validate a full or partial tree. ``strict``: no coercion ("yes" is not a bool, 100.0 not an int)."""
    _check_finite(tree, source)
    try:
        scenario = Scenario.model_validate(tree, strict=strict)
    except ValidationError as e:
        found = [_describe(err) for err in e.errors()]
        first = ScenarioError(source, *found[0])
        first.more = [ScenarioError(source, loc, text) for loc, text in found[1:]]
        raise first from None
    if scenario.changes:
        timeline(scenario, source, strict)  # every change valid on top of the ones before it
    return scenario


#: Parameters a change during the run may not set (``[[changes]]``): they are used once, at set-up
#: (who is in the market, their lasting traits, the run's length), or measure the run rather than
#: steer it (the npv's discount rate).
FIXED = ("name", "description", "changes", "simulation", "population", "shocks.benefit_share",
         "shocks.benefit_concentration", "repayment.willingness_sd", "stress.baseline",
         "stress.baseline_concentration", "trust.prior", "trust.prior_concentration", "acquisition.score_noise",
         "lender.discount_rate")


def _fixed(path: str) -> bool:
    return any(path == f or path.startswith(f + ".") for f in FIXED)


def timeline(scenario: Scenario, source: str = "changes", strict: bool = False) -> list[tuple[int, Scenario]]:
    """The scenario's ``changes`` as (day of the window, the validated scenario in force from that day).

    Each change applies its dotted keys on top of the scenario as it stood before it (the file's own
    settings, then the earlier changes). Days are those of the measurement window, 0 ..
    ``simulation.days``, each later than the one before. A problem is one :class:`ScenarioError`
    naming ``changes.K.day`` or ``changes.K.set.KEY``."""
    from .params import iter_parameters

    if not scenario.changes:
        return []
    current = scenario.model_copy(update={"changes": []})
    before = {path: value for path, _, value, _, _ in iter_parameters(current)}
    out, last = [], None
    for k, change in enumerate(scenario.changes):
        days = scenario.simulation.days
        if change.day > days:
            raise ScenarioError(source, f"changes.{k}.day", f"a day of the measurement window, 0..simulation.days "
                                                            f"({days}), got {change.day}")
        if last is not None and change.day <= last:
            raise ScenarioError(source, f"changes.{k}.day", f"a day later than changes.{k - 1}.day ({last}), "
                                                            f"got {change.day}")
        if not change.set:
            raise ScenarioError(source, f"changes.{k}.set", "at least one dotted parameter and its new value")
        try:
            current = with_overrides(current, change.set, source, strict=strict)
        except ScenarioError as e:
            raise ScenarioError(source, f"changes.{k}.set.{e.key}", e.expected) from None
        now = {path: value for path, _, value, _, _ in iter_parameters(current)}
        moved = [path for path in now if now[path] != before[path] and _fixed(path)]
        if moved:
            raise ScenarioError(source, f"changes.{k}.set.{moved[0]}", "a parameter that may change during the run; "
                                "this one is fixed once the run has started (see docs/ODD.md, Policies that change)")
        before, last = now, change.day
        out.append((change.day, current))
    return out


def _sets(tree: Any, parts: list[str]) -> bool:
    """Whether a raw file tree sets the key path ``parts`` (a list is set whole)."""
    for part in parts:
        if isinstance(tree, list):
            return True
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def _origin(path: Path, parts: list[str]) -> Path:
    """The file of an ``extends`` chain that sets the key path ``parts`` (nearest first), else ``path``."""
    here, seen = path, set()
    while here.resolve() not in seen:
        seen.add(here.resolve())
        try:
            raw = tomllib.loads(here.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            break
        if _sets(raw, parts):
            return here
        parent = raw.get("extends")
        if not isinstance(parent, str):
            break
        here = here.parent / parent
    return path


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load a scenario file (following ``extends``), apply dotted overrides, validate."""
    p = resolve_path(path)
    tree = read_tree(p)
    if "name" not in tree:
        tree["name"] = p.stem
    try:
        scenario = validate_tree(tree, str(p), strict=True)  # TOML has real types: no coercion
    except ScenarioError as e:
        # each problem named in the file of the extends chain that sets the key
        found = [ScenarioError(_origin(p, err.key.split(".")), err.key, err.expected) for err in (e, *e.more)]
        found[0].more = found[1:]
        raise found[0] from None
    if overrides:
        scenario = with_overrides(scenario, overrides)
    return scenario


def with_overrides(
    scenario: Scenario, overrides: Mapping[str, Any], source: str = "--set", strict: bool = False
) -> Scenario:
    """A copy of a loaded scenario with dotted overrides applied and validated.

    ``strict`` refuses coercion (for values typed by a person, e.g. ``--set``); sweeps passing NumPy
    numbers keep the default.
    """
    tree = apply_overrides(scenario.model_dump(), overrides, source, known=True)
    return validate_tree(tree, source, strict=strict)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` from the command line; VALUE is read as TOML, else as a bare string.

    Only a plain word is taken as a bare string: a VALUE with quotes, brackets or braces meant to be
    TOML, so if it does not parse (``name="unterminated``) that is an error, not a string.
    """
    if "=" not in text:
        raise ScenarioError("--set", text or "(empty)", "KEY=VALUE, e.g. collection.visits.start_dpd=45")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ScenarioError("--set", text, "KEY=VALUE with a parameter name before '='")
    raw = raw.strip()
    if "\n" in raw or "\r" in raw:
        raise ScenarioError("--set", key, "a value on one line")
    try:
        value = loads_toml(f"v = {raw}", "--set")["v"]
    except ScenarioError as e:
        raise ScenarioError("--set", key, e.expected) from None
    except tomllib.TOMLDecodeError as e:
        if any(c in raw for c in "\"'[]{}"):
            raise ScenarioError("--set", key, f"a value in TOML syntax ({e}), got {shorten(raw)!r}") from None
        value = raw
    return key, value


def calibrated_keys(path: str | Path | None = None) -> frozenset[str]:
    """Dotted parameters set in the generated ``calibrated`` region of a scenario file (default: the
    shipped baseline), which ``credsim calibrate ... --install`` writes: the fitted model's estimate.
    Reads the file only (once per version of it); ``python -m sim.docs --check`` keeps the region equal
    to the committed fit."""
    path = Path(path) if path is not None else SCENARIO_DIR / "baseline.toml"
    return _calibrated_keys(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _calibrated_keys(path: str, _mtime_ns: int) -> frozenset[str]:
    m = toml_region_re(CALIBRATED).search(Path(path).read_text(encoding="utf-8"))
    if m is None:
        return frozenset()

    def leaves(node: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in node.items():
            out |= leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
        return out

    return frozenset(leaves(loads_toml(m.group(1), path)))


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.toml"))
