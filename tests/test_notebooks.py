"""The experiment notebooks (experiments/NN_*.py, jupytext percent scripts) run headless top to bottom,
as notebooks in a kernel of this venv's Python, in the quick setting (CREDSIM_QUICK=1: tiny sizes), and
write their figures. Results go to a temporary folder (CREDSIM_RESULTS), so neither results/ nor docs/
is touched. About a minute and a half for all four on 2 cores.

Deselect with ``-m 'not notebooks'``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.notebooks

FIGURES = {
    "01_strategies": ["outcomes", "tradeoff", "trust", "dpd_composition", "vintages", "economics"],
    "02_recession": ["lag", "capacity", "holds_up"],
    "03_sensitivity": ["morris", "sobol", "convergence"],
    "04_calibration": ["targets", "convergence"],
}


def execute(name: str, results: Path) -> Path:
    """Execute one notebook in the quick setting with results under ``results``; return its study folder."""
    env = {**os.environ, "CREDSIM_QUICK": "1", "CREDSIM_RESULTS": str(results), "MPLBACKEND": "Agg",
           "JUPYTER_PLATFORM_DIRS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "nbsupport.py"), name], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return results / "quick" / name


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Each notebook executed once per module (the figure test and the same-seed test share the strategy
    notebook's first execution)."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = execute(name, tmp_path_factory.mktemp(name))
        return done[name]

    return get


@pytest.mark.parametrize("name", list(FIGURES))
def test_notebook_runs_and_writes_figures(name, executed):
    study = executed(name)
    nb = study / f"{name}.ipynb"
    assert nb.is_file() and nb.stat().st_size > 0
    for fig in FIGURES[name]:
        for ext in ("png", "svg"):
            f = study / "figures" / f"{fig}.{ext}"
            assert f.is_file() and f.stat().st_size > 1000, f"{name}: figure {f.name} missing or empty"
    if name == "03_sensitivity":
        md = (study / "sensitivity.md").read_text(encoding="utf-8")
        for out in ("default_rate", "mean_stress", "brand_trust", "npv"):
            assert f"### `{out}`" in md
        assert "S1 [95% CI]" in md and "## Morris screening" in md and "shocks.benefit_share" in md
        sobol = pd.read_csv(study / "sobol_convergence.csv")
        assert set(sobol.output) <= {"default_rate", "mean_stress", "brand_trust", "npv"} and sobol.N.nunique() >= 1
    if name == "04_calibration":
        assert (study / "fit.json").is_file() and (study / "calibrated.toml").is_file()


@pytest.mark.parametrize("table, spec, options", [
    ("outcomes_tidy.csv", "strategies.quick.toml", []),
    # the section under parameter uncertainty: its posterior draws (two in the quick setting) of the shipped
    # posterior, as `credsim sweep --draws` makes them
    ("posterior_tidy.csv", "01_posterior.quick.toml", ["--draws", "2"]),
])
def test_same_seed_same_numbers(executed, tmp_path, table, spec, options):
    """Each of the strategy notebook's tables is what its sweep spec (the quick setting's copy it ran) gives
    when run afresh in another process, `credsim sweep` in this one: the same seed, the same numbers,
    value for value (through the CSV the notebook writes)."""
    from typer.testing import CliRunner

    from sim import analysis
    from sim.cli import app

    study = executed("01_strategies")
    mine = pd.read_csv(study / table)
    assert len(mine) > 0 and mine["mean"].notna().any()
    res = CliRunner().invoke(app, ["sweep", str(study / spec), "--out", str(tmp_path / "again"), "--serial", *options])
    assert res.exit_code == 0, res.output
    table = analysis.compare(analysis.load(tmp_path / "again"), baseline="baseline",
                             outcomes=list(mine.outcome.unique()))
    table.to_csv(tmp_path / "again.csv", index=False)  # through a CSV, as the notebook's table was
    again = pd.read_csv(tmp_path / "again.csv")
    assert set(mine.columns) - set(again.columns) <= {"mean [95% CI]"}  # the notebook's formatted column
    pd.testing.assert_frame_equal(mine[list(again.columns)], again)
