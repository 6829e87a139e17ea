"""credsim discover: PRIM and a decision tree find a planted box in a sweep folder and in an optimisation
folder, write the peeling trajectory, and refuse a folder that is not a results folder or an expression
naming no column (one line, exit 2). Also notebook 05 (the best strategy) in the quick setting."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import discover as disc
from sim import optimize as opt
from sim.cli import app
from sim.store import ResultStore, atomic_write_bytes, parquet_bytes
from sim.sweep import plan

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def write(folder: Path, body: str, name: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def planted_sweep(tmp_path: Path, samples: int = 400) -> Path:
    """A sweep folder of an LHS design over three parameters whose outcome is bad (default_rate > 0.02)
    exactly when harshness > 0.6 and skill > 0.5 (start_dpd does nothing). The folder is the sweep's
    own (plan, manifest and runs table from sim.sweep / sim.store); the summaries are planted."""
    spec = write(tmp_path, f"""
        name = "planted"
        replicates = 1
        borrowers = 50
        days = 10
        burn_in = 0
        [design]
        method = "lhs"
        samples = {samples}
        [design.parameters]
        "collection.tone.harshness" = {{ min = 0.0, max = 1.0 }}
        "collection.tone.skill" = {{ min = 0.0, max = 1.0 }}
        "collection.visits.start_dpd" = {{ min = 15, max = 90 }}
    """, "planted.toml")
    p = plan(spec)
    out = tmp_path / "sweep"
    store = ResultStore(out)
    store.begin(p, "serial")
    rng = np.random.default_rng(0)
    for job in p.jobs:
        v = job.design_values
        bad = v["collection.tone.harshness"] > 0.6 and v["collection.tone.skill"] > 0.5
        summary = {"default_rate": (0.04 if bad else 0.01) + rng.uniform(0, 0.005), "npv": rng.normal()}
        row = {"run_id": job.run_id, "scenario": job.scenario, "point": job.point, "replicate": job.replicate,
               "seed": job.seed, **v, **summary}
        atomic_write_bytes(store.path("summaries", job.run_id), parquet_bytes(pd.DataFrame([row])))
    return out


def test_prim_finds_the_planted_box_in_a_sweep(tmp_path):
    """Acceptance 4: the box restricts harshness and skill from below near 0.6 and 0.5, leaves start_dpd
    alone, and holds nearly all the bad runs and nearly nothing else; the tree finds the same rule."""
    out = planted_sweep(tmp_path)
    res = runner.invoke(app, ["discover", str(out), "--where", "default_rate > 0.02"])
    assert res.exit_code == 0, res.output
    box = json.loads((out / "discover" / "box.json").read_text())
    lim = box["limits"]
    assert set(lim) == {"collection.tone.harshness", "collection.tone.skill"}, lim
    assert lim["collection.tone.harshness"]["min"] == pytest.approx(0.6, abs=0.03)
    assert lim["collection.tone.skill"]["min"] == pytest.approx(0.5, abs=0.03)
    assert lim["collection.tone.harshness"]["max"] > 0.98 and lim["collection.tone.skill"]["max"] > 0.98
    assert box["coverage"] > 0.9 and box["density"] > 0.9
    assert box["of_interest"] == pytest.approx(400 * 0.4 * 0.5, rel=0.15)
    top = box["tree_rules"][0]
    assert "collection.tone.harshness >" in top["rule"] and "collection.tone.skill >" in top["rule"]
    assert top["coverage"] > 0.9 and top["density"] > 0.9
    for f in ("peeling.png", "peeling.svg", "trajectory.csv", "tree.txt"):
        assert (out / "discover" / f).is_file() and (out / "discover" / f).stat().st_size > 0
    traj = pd.read_csv(out / "discover" / "trajectory.csv")
    assert traj.coverage.iloc[0] == 1.0 and traj.density.is_monotonic_increasing is not None
    assert "coverage 0.9" in res.output or "coverage 1.00" in res.output


def test_an_outcome_unrelated_to_the_inputs_gives_no_dense_box(tmp_path):
    """The contrast: npv here is noise, so the best box is far less dense than the planted one."""
    d = disc.discover(planted_sweep(tmp_path, samples=200), "npv > 0.5")
    assert d.density < 0.7


def analytic(job) -> dict:
    x = job.params.collection.tone.harshness
    y = job.params.collection.tone.skill
    return {"ok": True, "summary": {"default_rate": x, "high_stress_share": (1 + y) * (1 - math.sqrt(x))}}


def test_discover_on_an_optimisation_folder(tmp_path):
    spec = write(tmp_path, """
        name = "synthetic"
        borrowers = 100
        days = 30
        burn_in = 0
        replicates = 2
        trials = 48
        population = 16
        sampler = "random"
        [levers]
        "collection.tone.harshness" = { min = 0.0, max = 1.0 }
        "collection.tone.skill" = { min = 0.0, max = 1.0 }
        [[objectives]]
        key = "default_rate"
        [[objectives]]
        key = "high_stress_share"
    """, "s.toml")
    out = tmp_path / "study"
    opt.optimize(opt.load(spec), out, lambda jobs: ((j, analytic(j)) for j in jobs), figures=False)
    d = disc.discover(out, "default_rate > 0.5")
    assert d.cases.kind == "optimization" and len(d.y) == 48
    assert set(d.limits) == {"collection.tone.harshness"}
    assert 0.4 < d.limits["collection.tone.harshness"]["min"] <= 0.55
    assert d.density == 1.0 and d.coverage > 0.9


@pytest.mark.parametrize("args, expected", [
    (["{tmp}", "--where", "npv < 0"], "a sweep results folder (manifest.json and summaries/)"),
    (["{tmp}/missing", "--where", "npv < 0"], "but it does not exist"),
    (["{sweep}", "--where", "1 > 0"], "an expression naming at least one column"),
    (["{sweep}", "--where", "happiness > 0"], "'happiness' is not one"),
    (["{sweep}", "--where", "npv <"], "an expression such as"),
])
def test_bad_discover_input_is_one_line_exit_2(tmp_path, args, expected):
    sweep = planted_sweep(tmp_path, samples=20)
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path / "empty", sweep=sweep) for a in args]
    res = runner.invoke(app, ["discover", *args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert not (sweep / "discover").exists()


@pytest.mark.notebooks
def test_notebook_05_runs_in_the_quick_setting(tmp_path):
    """Acceptance 5: experiments/05_best_strategy.py executes headless as a notebook (CREDSIM_QUICK=1)."""
    env = {**os.environ, "CREDSIM_QUICK": "1", "CREDSIM_RESULTS": str(tmp_path), "MPLBACKEND": "Agg",
           "JUPYTER_PLATFORM_DIRS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "nbsupport.py"), "05_best_strategy"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-6000:]}"
    study = tmp_path / "quick" / "05_best_strategy"
    assert (study / "05_best_strategy.ipynb").is_file()
    for fig in ("front", "levers", "peeling"):
        assert (study / "figures" / f"{fig}.png").stat().st_size > 1000, fig
    pareto = pd.read_parquet(study / "study" / "pareto.parquet")
    assert len(pareto) >= 1
    assert all((study / "study" / f).is_file() for f in pareto.scenario_file)


def test_a_rule_names_each_input_once_per_side():
    """The outcome is bad when x < 0.3, or when x < 0.6 and z > 0.5: the tree splits x at 0.6 and again
    at 0.3 on one path, and the rule keeps the tighter bound ("x <= 0.31 and z <= 0.48"), not both."""
    rng = np.random.default_rng(0)
    x, z = rng.uniform(size=600), rng.uniform(size=600)
    rules, tree = disc.tree_rules(pd.DataFrame({"x": x, "z": z}), (x < 0.3) | ((x < 0.6) & (z > 0.5)))
    assert tree.count("x <= ") >= 2  # the case this test is about: two splits on x along one path
    for r in rules:
        names = [(p.split()[0], p.split()[1]) for p in r["rule"].split(" and ")]
        assert len(names) == len(set(names)), r["rule"]
    narrow = next(r for r in rules if "z <=" in r["rule"])
    bound = float(next(p for p in narrow["rule"].split(" and ") if p.startswith("x <=")).split()[2])
    assert 0.25 < bound < 0.35 and narrow["density"] == 1.0, narrow
