"""Loading and validating scenario files.

A scenario is a TOML file holding a partial copy of the parameter tree in :mod:`sim.params`.
``extends = "other.toml"`` (relative to the file) starts from another scenario and overrides only
what differs. Overrides given as dotted keys (``{"collection.visits.start_dpd": 45}``) are applied
last. Every problem is reported as one :class:`ScenarioError` naming the file, the key and what was
expected.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from .params import Scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario, override or sweep problem: ``FILE: key.path: what was expected``."""

    def __init__(self, source: str, key: str, expected: str):
        self.source, self.key, self.expected = str(source), key, expected
        super().__init__(f"{self.source}: {key}: {expected}")


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


def read_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The raw parameter tree of a file with its ``extends`` chain merged in."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(path, "file", "file not found")
    real = path.resolve()
    if real in _seen:
        chain = " -> ".join(p.name for p in (*_seen, real))
        raise ScenarioError(path, "extends", f"a scenario that does not extend itself (cycle: {chain})")
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(path, "toml", f"valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise ScenarioError(path, "file", "a UTF-8 text file") from None
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    if not isinstance(parent, str):
        raise ScenarioError(path, "extends", f"a file name as a string, got {parent!r}")
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise ScenarioError(path, "extends", f"an existing scenario file, '{parent}' not found")
    base = read_tree(parent_path, (*_seen, real))
    base.pop("name", None)
    base.pop("description", None)
    return _deep_merge(base, tree)


def apply_overrides(tree: dict, overrides: Mapping[str, Any], source: str = "--set") -> dict:
    tree = copy.deepcopy(tree)
    for key, value in overrides.items():
        parts = key.split(".")
        if not all(parts):
            raise ScenarioError(source, key, "a dotted parameter name such as collection.visits.start_dpd")
        node = tree
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ScenarioError(source, key, f"'{p}' is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return tree


def _describe(err: dict) -> tuple[str, str]:
    loc = ".".join(str(x) for x in err["loc"] if x not in ("function-after",))
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return loc, "unknown parameter (see docs/ODD.md for the parameter list)"
    got = err.get("input")
    if isinstance(got, (dict, list)) and kind not in ("model_type", "list_type"):
        got = None
    text = msg[0].lower() + msg[1:] if msg else kind
    text = text.replace("input should be", "expected").replace("value error, ", "")
    if got is not None and kind != "value_error":
        text += f", got {got!r}"
    return loc or "(top level)", text


def validate_tree(tree: dict, source: str) -> Scenario:
    try:
        return Scenario.model_validate(tree)
    except ValidationError as e:
        loc, text = _describe(e.errors()[0])
        raise ScenarioError(source, loc, text) from None


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load a scenario file (following ``extends``), apply dotted overrides, validate."""
    p = resolve_path(path)
    tree = read_tree(p)
    if "name" not in tree:
        tree["name"] = p.stem
    scenario = validate_tree(tree, str(p))
    if overrides:
        scenario = with_overrides(scenario, overrides)
    return scenario


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any], source: str = "--set") -> Scenario:
    """A copy of a loaded scenario with dotted overrides applied and validated."""
    tree = apply_overrides(scenario.model_dump(), overrides, source)
    return validate_tree(tree, source)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` from the command line; VALUE is read as TOML, else as a bare string."""
    if "=" not in text:
        raise ScenarioError("--set", text, "KEY=VALUE")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.toml"))
