"""The shape of the code: no import cycles in ``sim``, the model's shared state declared in one place,
and a project that stands alone (no reference to files outside the repository). Fast: no simulation
beyond a few days."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import numpy as np
import pytest

import sim
import sim.model

SIM = Path(sim.__file__).resolve().parent
ROOT = SIM.parent


# ---- import graph ---------------------------------------------------------------------------------
def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(package: Path = SIM) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports, anywhere in its source (module level and
    inside functions). ``from . import x`` counts as importing ``x`` when ``x`` is a module; a parent
    package that Python runs on the way (``sim`` for ``sim.model``) does not count."""
    root = package.parent
    files = {module_name(p, root): p for p in sorted(package.rglob("*.py"))}
    top = module_name(package / "__init__.py", root)

    def known(name: str) -> str | None:
        while name not in files and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in files else None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for name in names:
                if name == top or name.startswith(top + "."):
                    target = known(name)
                    if target and target != mod:
                        deps.add(target)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) through each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for group in groups:  # a shortest way back to the start, inside the group
        start = min(group)
        paths, seen = {start: [start]}, {start}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & group):
                    if w == start:
                        found = paths[v] + [start]
                        break
                    if w not in seen:
                        seen.add(w)
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        out.append(found)
    return out


def test_the_cycle_finder_finds_cycles_at_module_and_function_level(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n    return g\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import c\n")  # into the cycle, not part of it
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == {"pkg.c"}
    assert graph["pkg"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
    graph["pkg.c"] = set()  # break the cycle
    assert cycles(graph) == []


def test_sim_has_no_import_cycles():
    graph = import_graph()
    assert {"sim.cli", "sim.cli_common", "sim.mechanisms.loans", "sim.tactics.plans"} <= set(graph)
    assert "sim.cli_common" in graph["sim.cli_sweep"]  # the graph sees real edges
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


# ---- the model's shared state ------------------------------------------------------------------------
#: modules whose code reaches the model (``model.X``, ``m.X``, ``self.model.X``) during the day
REACHING = [*sorted((SIM / "mechanisms").glob("*.py")), *sorted((SIM / "tactics").glob("*.py"))] + [
    SIM / f for f in ("lender.py", "accounting.py", "regulation.py", "collectors.py", "metrics.py", "borrower.py")
]


def _is_model(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("model", "m")
    return (isinstance(node, ast.Attribute) and node.attr == "model"
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def model_attributes(paths) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(attribute -> modules that use it, attribute -> modules that assign it) on the model."""
    used: dict[str, set[str]] = {}
    assigned: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            name = None
            if isinstance(node, ast.Attribute) and _is_model(node.value):
                name = node.attr
                if isinstance(node.ctx, ast.Store):
                    assigned.setdefault(name, set()).add(path.name)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) >= 2
                  and _is_model(node.args[0]) and isinstance(node.args[1], ast.Constant)):
                name = node.args[1].value
                if node.func.id == "setattr":
                    assigned.setdefault(name, set()).add(path.name)
            if name is not None and name != "__dict__":
                used.setdefault(name, set()).add(path.name)
    return used, assigned


# ---- one definition per name ----------------------------------------------------------------------
def redefinitions(source: str) -> list[str]:
    """Top-level names a module binds twice by ``def``/``class`` (or by one of them and an import): the
    later one silently replaces the earlier for every caller in the module."""
    seen: dict[str, str] = {}
    twice = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = [(node.name, "def")]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [((a.asname or a.name).split(".")[0], "import") for a in node.names]
        else:
            continue
        for name, how in bound:
            if name in seen and "def" in (how, seen[name]):
                twice.append(name)
            seen[name] = how
    return twice


def test_the_redefinition_finder_finds_a_def_that_replaces_another():
    assert redefinitions("def f():\n    pass\nx = 1\ndef f(v):\n    return v\n") == ["f"]
    assert redefinitions("from m import g\nclass g:\n    pass\n") == ["g"]
    assert redefinitions("import os\nimport os\ndef h():\n    pass\n") == []


def test_no_module_of_sim_defines_a_name_twice():
    """A second top-level ``def _finite`` in sim/calibrate.py once replaced the validator of the same name,
    and a NaN target became a TypeError; no module may bind a function or class name twice."""
    found = {str(p.relative_to(ROOT)): twice for p in sorted(SIM.rglob("*.py"))
             if (twice := redefinitions(p.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_scan_sees_the_model_attributes_mechanisms_use():
    used, assigned = model_attributes(REACHING)
    # a few known uses, so an empty scan cannot pass
    assert "loans.py" in used["prev_delinquent"] and "loans.py" in assigned["prev_delinquent"]
    assert "population.py" in assigned["score_threshold"] and "acquisition.py" in used["score_threshold"]
    assert "pipeline.py" in used["talk"] and "lender.py" in used["tactics"]


def test_every_model_attribute_the_mechanisms_use_is_declared_in_one_place():
    declared = sim.model.SHARED
    used, assigned = model_attributes(REACHING)
    methods = {n for n in used if callable(getattr(sim.model.CreditModel, n, None))}
    undeclared = {n: sorted(f) for n, f in used.items() if n not in declared and n not in methods}
    assert not undeclared, f"model attributes used but not declared in sim.model.SHARED: {undeclared}"
    assert all(isinstance(v, str) and v.strip() and "\n" not in v for v in declared.values())
    assert not set(assigned) & methods


def test_the_declared_state_is_created_by_the_constructor_and_nowhere_else():
    m = sim.CreditModel(scenario="improvement_package", borrowers=300, days=40, rng=1,
                        overrides={"simulation.burn_in": 0})
    after_init = set(vars(m))
    missing = set(sim.model.SHARED) - after_init
    assert not missing, f"declared but not created by CreditModel.__init__: {sorted(missing)}"
    for _ in range(40):
        m.step()
    created_later = set(vars(m)) - after_init
    assert not created_later, f"attributes created on the model after construction: {sorted(created_later)}"
    assert isinstance(m.score_threshold, float) and np.isfinite(m.score_threshold)


# ---- the project stands alone -------------------------------------------------------------------------
#: references to material outside the repository (spelled in pieces so this file does not match itself)
OUTSIDE = ["MODEL" + ".md", "../" + "shared", "as " + "quoted", "shared" + "/", "/work" + "/"]


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_cites_material_outside_the_repository():
    files = tracked_files()
    assert any(p.name == "ODD.md" for p in files)
    hits = []
    for path in files:
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file (figures)
        for n, line in enumerate(text.splitlines(), 1):
            for needle in OUTSIDE:
                if needle.lower() in line.lower():
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {needle}")
    assert not hits, "cite the primary source instead: " + "; ".join(hits)
