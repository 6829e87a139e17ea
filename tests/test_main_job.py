"""The README's main job, `make compare` (experiments/compare_strategies.py), at a tiny size: every
shipped strategy runs, and the table, per-run rows, daily series and figure are written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from sim.scenario import shipped_scenarios

ROOT = Path(__file__).resolve().parent.parent


def test_the_main_job_compares_every_shipped_strategy(tmp_path):
    out = tmp_path / "compare"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "compare_strategies.py"), "--borrowers", "400",
                           "--days", "60", "--replicates", "2", "--workers", "2", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ,
                                                                                     "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {p.stem for p in shipped_scenarios()}
    summary = pd.read_csv(out / "summary.csv")
    assert summary.columns[0] == "scenario" and set(summary.scenario) == names
    assert (summary.n == 2).all()
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 * len(names) and set(runs.seed) == {1, 2}
    assert {"default_rate_mean", "brand_trust_ci_low", "profit_ci_high"} <= set(summary.columns)
    for f in ("compare.png", "compare.svg", "dpd30_daily.csv"):
        assert (out / f).stat().st_size > 0
    assert "baseline" in proc.stdout  # the table
