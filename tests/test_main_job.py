"""The README's main job, `make compare` (experiments/compare_strategies.py), at a tiny size: it is the
strategy comparison of experiments/strategies.toml run as a sweep (the same runs, seeds and numbers as
`credsim sweep` of that spec), tabulated by `credsim compare`'s code, and resumable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import analysis
from sim.scenario import shipped_scenarios

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "strategies.toml"
TINY = {"borrowers": 300, "days": 40, "burn_in": 20, "replicates": 2}
ENV = {**os.environ, "MPLBACKEND": "Agg"}


def compare(out: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "compare_strategies.py"), *args, "--workers", "2",
                           "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)


def tiny_spec(path: Path) -> Path:
    """experiments/strategies.toml with the tiny sizes, written as a user would edit it."""
    text = SPEC.read_text(encoding="utf-8")
    for key, value in TINY.items():
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        assert n == 1, key
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "compare"
    proc = compare(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_the_main_job_compares_every_shipped_strategy(main_job):
    out, proc = main_job
    names = {p.stem for p in shipped_scenarios()}
    summary = pd.read_csv(out / "summary.csv")
    assert summary.columns[0] == "scenario" and set(summary.scenario) == names
    assert (summary.n == 2).all()
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 * len(names)
    assert {"default_rate_mean", "brand_trust_ci_low", "profit_ci_high", "profit_diff_low"} <= set(summary.columns)
    for f in ("compare.png", "compare.svg", "dpd30_daily.csv"):
        assert (out / f).stat().st_size > 0
    daily = pd.read_csv(out / "dpd30_daily.csv")
    assert set(daily.day) == set(range(TINY["days"] + 1)) or set(daily.day) == set(range(1, TINY["days"] + 1))
    doc = json.loads((out / "summary.json").read_text())
    assert doc["provenance"]["spec_file"] == "experiments/strategies.toml"
    assert doc["provenance"]["spec"]["borrowers"] == TINY["borrowers"] and doc["provenance"]["code_hash"]
    assert "baseline" in proc.stdout  # the table
    # rows in the figures' logical order, not alphabetical: baseline, then the groups of strategies
    from sim.plots import STRATEGY_ORDER
    rows = list(summary.scenario)
    assert rows[0] == "baseline" and rows == sorted(rows, key=lambda n: (n != "baseline", STRATEGY_ORDER.index(n)))
    assert rows.index("no_collection") < rows.index("reminders_only") < rows.index("recession") == len(rows) - 1
    assert proc.stdout.index("no_collection") < proc.stdout.index("bureau_reporting")  # the printed table too


def test_make_compare_is_credsim_sweep_of_the_one_definition(main_job, tmp_path):
    """Same spec, same seeds, same numbers: every per-run summary of make compare equals that of
    `credsim sweep` of experiments/strategies.toml at the same size; the table equals `credsim compare`'s."""
    out, _ = main_job
    folder = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "sim", "sweep", str(tiny_spec(tmp_path / "strategies.toml")),
                           "--out", str(folder), "--workers", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours, theirs = analysis.load(out / "sweep"), analysis.load(folder)
    assert ours.manifest["seeds"] == theirs.manifest["seeds"]
    assert ours.manifest["spec_hash"] == theirs.manifest["spec_hash"]
    pd.testing.assert_frame_equal(ours.summaries, theirs.summaries)
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs.seed.unique()) == sorted(theirs.manifest["seeds"])
    js = subprocess.run([sys.executable, "-m", "sim", "compare", str(folder), "--json"], cwd=ROOT, capture_output=True,
                        text=True, timeout=600, env=ENV)
    assert js.returncode == 0, js.stderr[-3000:]
    want = {(r["scenario"], k): v for r in json.loads(js.stdout)["results"] for k, v in r["outcomes"].items()}
    got = {(r["scenario"], k): v for r in json.loads((out / "summary.json").read_text())["results"]
           for k, v in r["outcomes"].items()}
    assert got and all(got[key] == want[key] for key in got)
    summary = pd.read_csv(out / "summary.csv").set_index("scenario")
    assert summary.loc["no_collection", "default_rate_mean"] == pytest.approx(want["no_collection", "default_rate"]["mean"])


def test_make_compare_resumes_and_refuses_another_size(main_job):
    out, _ = main_job
    before = pd.read_csv(out / "summary.csv")
    n = 2 * len(shipped_scenarios())
    again = compare(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"0 runs done, {n} already finished" in " ".join(again.stderr.split())
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), before)
    other = compare(out, "--replicates=3")
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1, other.stderr
    assert "--out" in other.stderr


def test_one_definition_of_the_strategy_comparison():
    """make compare, the strategy notebook and `credsim sweep experiments/strategies.toml` run one spec:
    no other spec in experiments/ compares every shipped strategy, and make compare's defaults are its."""
    from sim.scenario import read_toml
    from sim.sweep import read_spec

    every = [p for p in sorted((ROOT / "experiments").rglob("*.toml"))
             if read_toml(p).get("scenarios") == "shipped" and "design" not in read_toml(p)]
    assert every == [SPEC]
    notebook = (ROOT / "experiments" / "01_strategies.py").read_text(encoding="utf-8")
    calls = re.findall(r'run_spec\("([^"]+)"', notebook)  # the comparison first; later sections run smaller specs
    assert calls[0] == "strategies.toml"
    assert all(read_toml(ROOT / "experiments" / c).get("scenarios") != "shipped" for c in calls[1:]), calls
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import compare_strategies
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    spec, args = read_spec(SPEC), compare_strategies.parse_args([])
    assert compare_strategies.SPEC == SPEC
    assert (args.borrowers, args.days, args.burn_in, args.replicates) == (spec.borrowers, spec.days, spec.burn_in,
                                                                          spec.replicates)
    assert spec.days >= 730 and spec.burn_in >= 365  # the recession's whole course, after the burn-in
