"""`credsim calibrate --method abc` (sim.abc): ABC-SMC through the project's executor.

A synthetic problem: the late-payment rate that the model itself gives at a known willingness
intercept (the same seeds as the fit's replicates) is the target; the posterior must move towards the
known value and be narrower than the prior. One small run (250 people x 60 days without burn-in,
2 replicates per particle, 8 particles, 2 generations) is made in this process and shared; the same
problem on 2 worker processes, and killed after its first generation and then resumed, must give the
same posterior. (At 60 days the posterior mean is 3.47, sd 0.20, its 90% interval 3.17-3.73; at 90 days
3.29 and 0.14, for half as much again of the file's time.)
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("pyabc")

import sim  # noqa: E402
from sim import abc as sabc  # noqa: E402
from sim.cli import app  # noqa: E402
from sim.rng import replicate_seed  # noqa: E402
from support import tied_popen

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

KEY = "repayment.intercept"
TRUTH, LO, HI = 3.3, 3.0, 6.0  # the prior is uniform on [LO, HI]: mean 4.5, sd 0.87
BORROWERS, DAYS, REPLICATES, SEED = 250, 60, 2, 0
SMALL = 'extends = "baseline.toml"\nname = "small"\n\n[simulation]\nburn_in = 0\n'


def truth_values() -> dict[str, float]:
    """The targets: the model's own moments at TRUTH, mean over the fit's replicate seeds."""
    sc = sim.load_scenario(ROOT / "scenarios" / "baseline.toml", overrides={"simulation.burn_in": 0})
    vals = []
    warnings.simplefilter("ignore", sim.UndefinedMetricWarning)  # moments the targets do not use
    for r in range(REPLICATES):
        s = sim.run(sc, borrowers=BORROWERS, days=DAYS, seed=replicate_seed(SEED, r), overrides={KEY: TRUTH}).summary
        vals.append((s["late_payment_rate"], s["cure_rate"]))
    late, cure = np.mean(vals, axis=0)
    return {"late_payment_rate": float(late), "cure_rate": float(cure)}


def write_problem(folder: Path, values: dict[str, float],
                  abc: str = "population = 8\ngenerations = 2\nseed = 5\npredictive_draws = 6\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = (ROOT / "scenarios" / "baseline.toml").read_text(encoding="utf-8")
    (folder / "baseline.toml").write_text(base, encoding="utf-8")
    (folder / "small.toml").write_text(SMALL, encoding="utf-8")
    text = f"""scenario = "small.toml"
borrowers = {BORROWERS}
days = {DAYS}
replicates = {REPLICATES}
seed = {SEED}
validation_replicates = 2

[[targets]]
name = "late_payment_rate"
value = {values['late_payment_rate']!r}
sd = 0.004
source = "the model at {KEY} = {TRUTH}"

[[targets]]
name = "cure_rate"
value = {values['cure_rate']!r}
sd = 0.05
holdout = true
source = "the model at {KEY} = {TRUTH}"

[parameters]
"{KEY}" = {{ min = {LO}, max = {HI} }}

[abc]
{abc}"""
    path = folder / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args: str):
    return runner.invoke(app, ["calibrate", *map(str, args)])


@pytest.fixture(scope="module")
def values():
    return truth_values()


@pytest.fixture(scope="module")
def serial(tmp_path_factory, values):
    """The synthetic problem, run in this process (one worker)."""
    folder = tmp_path_factory.mktemp("abc_serial")
    targets = write_problem(folder, values)
    out = folder / "out"
    res = run_cli(targets, "--method", "abc", "--workers", "1", "--out", out)
    assert res.exit_code == 0, res.output
    return out, res


def posterior(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "posterior.parquet")


def test_outputs_written_and_well_formed(serial, values):
    out, res = serial
    for name in ("posterior.parquet", "calibrated.toml", "fit.json", "validation.md", "abc.db"):
        assert (out / name).stat().st_size > 0, name
    post = posterior(out)
    assert set(post.generation) == {0, 1}
    assert (post.groupby("generation").size() == 8).all()
    assert post[KEY].between(LO, HI).all()
    assert np.isfinite(post.distance).all() and (post.weight > 0).all()
    fit = json.loads((out / "fit.json").read_text())
    assert fit["method"] == "abc-smc" and fit["estimate"] == "posterior mean"
    assert [g["generation"] for g in fit["generations"]] == [0, 1]
    eps = [g["epsilon"] for g in fit["generations"]]
    assert eps[1] <= eps[0]  # the median threshold never grows
    last = post[post.generation == 1]
    # the distance of every accepted particle is within its generation's threshold
    assert (last.distance <= eps[1] + 1e-12).all()
    p = fit["parameters"][KEY]
    mean = float(np.sum(last.weight * last[KEY]))
    assert p["mean"] == pytest.approx(mean, rel=1e-9)
    assert p["q025"] <= p["mean"] <= p["q975"]
    assert fit["seeds"] == [replicate_seed(SEED, r) for r in range(REPLICATES)]
    assert fit["evaluations"] >= 8 * 3  # the prior sample and two generations
    val_seeds = fit["validation"]["seeds"]
    assert len(val_seeds) == 2 and not set(val_seeds) & set(fit["seeds"])  # fresh seeds for validation
    assert len(fit["validation"]["calibrated"]["cure_rate"]["values"]) == 2
    # each particle's moments are stored with it; its distance is the one computed from them
    for _, row in last.iterrows():
        assert row["distance"] == pytest.approx(abs(row["moment.late_payment_rate"] - values["late_payment_rate"]) / 0.004)
    # calibrated.toml: the posterior mean, said so, and a scenario that loads
    text = (out / "calibrated.toml").read_text()
    assert "posterior mean" in text
    assert tomllib.loads(text)["repayment"]["intercept"] == pytest.approx(p["mean"], rel=1e-5)
    assert sim.load_scenario(out / "calibrated.toml").repayment.intercept == pytest.approx(p["mean"], rel=1e-5)
    # validation.md: each target, the held-out one marked
    md = (out / "validation.md").read_text()
    rows = [line for line in md.splitlines() if "`late_payment_rate`" in line or "`cure_rate`" in line]
    assert len(rows) == 2
    held = md.index("Held-back targets")
    assert md.index("`cure_rate`") > held > md.index("`late_payment_rate`")  # each in its own table
    assert "generation 2/2: epsilon" in res.output


def test_posterior_predictive_and_diagnostics(serial, values):
    """Draws from the final generation by weight, each run once on a fresh seed; figures named and written."""
    out, _res = serial
    fit = json.loads((out / "fit.json").read_text())
    pred = fit["validation"]["predictive"]
    last = posterior(out)
    last = last[last.generation == last.generation.max()]
    assert len(pred["draws"]) == 6 and len(pred["seeds"]) == 6
    assert not set(pred["seeds"]) & (set(fit["seeds"]) | set(fit["validation"]["seeds"]))
    support = set(last[KEY].round(8))
    assert all(round(d[KEY], 8) in support for d in pred["draws"])  # every draw is a particle of the posterior
    late = pred["moments"]["late_payment_rate"]
    assert len(late["values"]) == 6
    assert late["interval95"][0] <= late["mean"] <= late["interval95"][1]
    assert late["mean"] == pytest.approx(np.mean(late["values"]))
    # one draw rerun directly: the same moment (the predictive runs are plain runs at that draw and seed)
    sc = sim.load_scenario(out.parent / "small.toml")
    direct = sim.run(sc, borrowers=BORROWERS, days=DAYS, seed=pred["seeds"][0], overrides=pred["draws"][0]).summary
    assert late["values"][0] == pytest.approx(direct["late_payment_rate"], rel=1e-12)
    for name in sabc.FIGURES:
        assert name in fit["figures"] and (out / name).stat().st_size > 5000, name
    md = (out / "validation.md").read_text()
    assert "Held-back targets" in md and "Fitted targets" in md and "Posterior predictive" in md
    assert md.index("`late_payment_rate`") < md.index("Held-back targets") < md.index("`cure_rate`")


def test_saved_abc_fit_gives_back_its_table(serial):
    """The docs read an ABC fit from its saved output: the same table the run wrote."""
    from sim import docs

    out = serial[0]
    post, val = sabc.load_fit(out / "fit.json")
    assert sabc.validation_table(post, val) + "\n" == (out / "validation.md").read_text()
    assert docs.validation_from_fit(out / "fit.json") + "\n" == (out / "validation.md").read_text()


def test_weights_sum_to_one_per_generation(serial):
    post = posterior(serial[0])
    sums = post.groupby("generation").weight.sum()
    assert np.allclose(sums, 1.0, atol=1e-12)


def test_posterior_concentrates_towards_the_truth(serial):
    fit = json.loads((serial[0] / "fit.json").read_text())
    p = fit["parameters"][KEY]
    prior_mean, prior_sd = (LO + HI) / 2, (HI - LO) / math.sqrt(12)
    assert p["prior_mean"] == pytest.approx(prior_mean) and p["prior_sd"] == pytest.approx(prior_sd)
    assert abs(p["mean"] - TRUTH) < 0.5 * abs(prior_mean - TRUTH)
    assert p["sd"] < 0.5 * prior_sd
    assert p["q025"] - 0.1 <= TRUTH <= p["q975"] + 0.1
    assert p["q05"] <= TRUTH <= p["q95"], p  # the 90% credible interval covers the truth


def test_two_workers_give_the_same_posterior(tmp_path, values, serial):
    targets = write_problem(tmp_path, values)
    out = tmp_path / "out"
    res = run_cli(targets, "--method", "abc", "--workers", "2", "--out", out)
    assert res.exit_code == 0, res.output
    a, b = posterior(serial[0]), posterior(out)
    pd.testing.assert_frame_equal(a, b)


def test_resume_after_a_kill_continues_to_the_same_posterior(tmp_path, values, serial):
    """Killed (SIGKILL) once generation 1 of 2 is stored; the same command then finishes the run."""
    targets = write_problem(tmp_path, values)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sim", "calibrate", str(targets), "--method", "abc", "--workers", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = tied_popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("generation 1/2"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert not (out / "posterior.parquet").exists()
    res = run_cli(targets, "--method", "abc", "--workers", "1", "--out", out)
    assert res.exit_code == 0, res.output
    assert "resuming" in res.output and "1 generation(s) done" in res.output
    fit = json.loads((out / "fit.json").read_text())
    assert fit["resumed_from_generation"] == 1
    assert [g["generation"] for g in fit["generations"]] == [0, 1]
    pd.testing.assert_frame_equal(posterior(out), posterior(serial[0]))


def test_more_generations_extend_a_finished_run(tmp_path, values, serial):
    """Raising generations continues from the database: the first two generations stay as they were."""
    import shutil

    folder = tmp_path / "p"
    targets = write_problem(folder, values)
    out = folder / "out"
    shutil.copytree(serial[0], out)
    write_problem(folder, values, "population = 8\ngenerations = 3\nseed = 5\npredictive_draws = 6\n")
    res = run_cli(targets, "--method", "abc", "--workers", "1", "--out", out)
    assert res.exit_code == 0, res.output
    post = posterior(out)
    assert set(post.generation) == {0, 1, 2}
    pd.testing.assert_frame_equal(post[post.generation < 2].reset_index(drop=True), posterior(serial[0]))


@pytest.mark.parametrize("abc, key", [
    ("population = 1\n", "abc.population"),
    ("generations = 0\n", "abc.generations"),
    ('estimate = "median"\n', "abc.estimate"),
    ("min_epsilon = -1.0\n", "abc.min_epsilon"),
    ("population = 2.5\n", "abc.population"),
    ("particles = 10\n", "abc.particles"),
])
def test_bad_abc_settings_are_one_line_exit_2_nothing_written(tmp_path, abc, key):
    targets = write_problem(tmp_path, {"late_payment_rate": 0.05, "cure_rate": 0.8}, abc)
    out = tmp_path / "out"
    res = run_cli(targets, "--method", "abc", "--out", out)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{targets}: {key}:"), res.output
    assert not out.exists()


def test_all_targets_held_out_is_refused(tmp_path):
    targets = write_problem(tmp_path, {"late_payment_rate": 0.05, "cure_rate": 0.8})
    targets.write_text(targets.read_text().replace('sd = 0.004\n', 'sd = 0.004\nholdout = true\n'))
    res = run_cli(targets, "--method", "abc", "--out", tmp_path / "out")
    assert res.exit_code == 2 and "targets: at least one target that is not held out" in res.output
    assert not (tmp_path / "out").exists()


def test_unknown_method_and_misplaced_options(tmp_path, monkeypatch):
    targets = write_problem(tmp_path, {"late_payment_rate": 0.05, "cure_rate": 0.8})
    res = run_cli(targets, "--method", "smc")
    assert res.exit_code == 2 and "msm or abc" in res.output
    res = run_cli(targets, "--method", "abc", "--docs", "--out", tmp_path / "out")
    assert res.exit_code == 2 and "--docs with --install" in res.output and not (tmp_path / "out").exists()
    # the method of simulated moments takes a scheduler too: an unreachable one is one line, exit 2
    # (after 2 s of trying to connect here, not the 20 s a real cluster is given)
    monkeypatch.setattr("sim.execute.CONNECT_TIMEOUT", "2s")
    res = run_cli(targets, "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "out")
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("--scheduler: tcp://127.0.0.1:1: ") and not (tmp_path / "out").exists()


def test_another_problem_in_the_same_folder_is_refused(tmp_path, values, serial):
    import shutil

    folder = tmp_path / "p"
    targets = write_problem(folder, {**values, "late_payment_rate": values["late_payment_rate"] + 0.01})
    out = folder / "out"
    shutil.copytree(serial[0], out)
    before = {f.name: f.stat().st_mtime_ns for f in out.iterdir()}
    res = run_cli(targets, "--method", "abc", "--out", out)
    assert res.exit_code == 2 and "different problem" in res.output
    assert {f.name: f.stat().st_mtime_ns for f in out.iterdir()} == before


def test_distance_is_the_root_of_the_msm_objective():
    """Against a hand computation: ((0.06 - 0.05) / 0.005)^2 + a one-sided target inside its bound, and
    a held-out target that does not count."""
    from sim import calibrate as cal

    ts = [cal.TargetSpec(name="late_payment_rate", value=0.05, sd=0.005),
          cal.TargetSpec(name="default_rate", value=0.1, sd=0.01, relation="<="),
          cal.TargetSpec(name="cure_rate", value=0.9, sd=0.01, holdout=True)]
    means = {"late_payment_rate": 0.06, "default_rate": 0.05, "cure_rate": 0.2}
    assert sabc.distance(ts, means) == pytest.approx(2.0)
    assert sabc.distance(ts, {**means, "late_payment_rate": math.nan}) == math.inf


def test_weighted_quantile_against_numpy():
    """Against NumPy's weighted quantile (the inverted weighted empirical distribution)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=501)
    w = rng.exponential(size=501)
    for q in (0.025, 0.25, 0.5, 0.975):
        assert sabc.weighted_quantile(x, w, q) == np.quantile(x, q, weights=w, method="inverted_cdf")
    assert sabc.weighted_quantile(x, np.ones_like(x), 0.5) == np.median(x)
    # nearly all the weight on one point: every central quantile is that point
    y, v = np.array([4.0, 2.0, 3.0, 1.0]), np.array([1.0, 1000.0, 1.0, 1.0])
    assert [sabc.weighted_quantile(y, v, q) for q in (0.025, 0.5, 0.975)] == [2.0, 2.0, 2.0]


def test_shipped_targets_file_has_valid_abc_settings():
    ap = sabc.load(ROOT / "experiments" / "calibration" / "targets.toml")
    assert ap.abc.population >= 10 and ap.abc.generations >= 2
    assert ap.fitted_targets
    # the ABC run size overrides the file's, the seeds follow the ABC replicates
    if ap.abc.replicates is not None:
        assert ap.problem.seeds == [replicate_seed(ap.problem.spec.seed, r) for r in range(ap.abc.replicates)]
        assert not set(ap.problem.seeds) & set(ap.problem.validation_seeds)
    if ap.abc.borrowers is not None:
        assert ap.problem.base.population.borrowers == ap.abc.borrowers


def test_prior_defaults_to_the_documented_range(tmp_path):
    """No min/max in the targets file: the parameter's ge/le in sim/params.py (family_help is a share)."""
    targets = write_problem(tmp_path, {"late_payment_rate": 0.05, "cure_rate": 0.8})
    targets.write_text(targets.read_text().replace(f'"{KEY}" = {{ min = {LO}, max = {HI} }}',
                                                   '"repayment.family_help" = {}\n"repayment.intercept" = { max = 6.0 }'))
    ap = sabc.load(targets)
    assert ap.problem.keys == ["repayment.family_help", "repayment.intercept"]
    assert list(ap.problem.lo) == [0.0, -30.0] and list(ap.problem.hi) == [1.0, 6.0]


def test_dask_scheduler_gives_the_same_generation(tmp_path, values, serial):
    """On a local Dask cluster (one generation only, to stay small): the serial run's first generation."""
    distributed = pytest.importorskip("distributed")
    targets = write_problem(tmp_path, values, "population = 8\ngenerations = 1\nseed = 5\npredictive_draws = 6\n")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=2, dashboard_address=None) as cluster:
        res = run_cli(targets, "--method", "abc", "--scheduler", cluster.scheduler_address, "--out", out)
    assert res.exit_code == 0, res.output
    assert f"dask {cluster.scheduler_address}" in res.output
    first = posterior(serial[0])
    pd.testing.assert_frame_equal(posterior(out), first[first.generation == 0])


def test_map_is_the_particle_of_highest_posterior_density():
    """A tight cluster near 0.2 and a spread-out tail: the MAP is in the cluster, the mean is not."""
    from types import SimpleNamespace

    ap = SimpleNamespace(problem=SimpleNamespace(keys=["x"], lo=np.array([0.0]), hi=np.array([1.0])))
    x = np.r_[0.2 + 0.005 * np.arange(-5, 6), np.linspace(0.5, 1.0, 11)]
    last = pd.DataFrame({"x": x, "weight": np.full(x.size, 1 / x.size)})
    m = sabc.map_estimate(ap, last)["x"]
    assert abs(m - 0.2) <= 0.025
    assert abs(float(np.mean(x)) - 0.2) > 0.2


def test_notebook_quick_setting_still_shrinks_the_shipped_targets_file(tmp_path):
    """The [abc] table's own run size must not collide with the top-level keys the notebook rewrites."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from nbsupport import quick_spec
    finally:
        sys.path.pop(0)
    quick = quick_spec(ROOT / "experiments" / "calibration" / "targets.toml",
                       {"borrowers": 300, "days": 400, "replicates": 2}, tmp_path / "t.toml")
    from sim import calibrate as cal

    assert cal.load_targets(quick).base.population.borrowers == 300
