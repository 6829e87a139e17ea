"""credsim optimize: the optimiser finds a known front, resumes to the same trials after a kill, gives
the same trials whatever order the runs come back in, adds replicates for a ci target, writes Pareto
scenario files that `credsim run` reproduces, and refuses bad specs in one line (exit 2, nothing written).

The synthetic objective is a tiny analytic "model" that takes the place of the simulation in the
executor: it receives the same jobs (a scenario with the trial's levers and a replicate seed) and
returns a summary, so everything else (levers, futures, replicates, Optuna, the journal, the tables)
is the code path of a real study.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import optimize as opt
from sim.cli import app
from sim.rng import replicate_seed

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def write(folder: Path, body: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


# ---- the synthetic model: f1 = x, f2 = (1 + y)(1 - sqrt(x)); the front is y = 0: f2 = 1 - sqrt(f1) --------
NOISE = 0.004


def analytic(job) -> dict:
    x = job.params.collection.tone.harshness
    y = job.params.collection.tone.skill
    noise = np.random.default_rng(job.seed).normal(0.0, NOISE, 2)  # paired: the same for every trial
    return {"ok": True, "summary": {"default_rate": x + noise[0],
                                    "high_stress_share": (1 + y) * (1 - math.sqrt(x)) + noise[1]}}


def serial(jobs):
    return ((j, analytic(j)) for j in jobs)


def backwards(jobs):
    """Results in the reverse order of submission, as a pool may return them."""
    return reversed([(j, analytic(j)) for j in jobs])


SYNTHETIC = """
    {extra}
    name = "synthetic"
    base = "baseline"
    borrowers = 100
    days = 30
    burn_in = 0
    replicates = 2
    seed = 7
    trials = {trials}
    population = {population}
    sampler = "{sampler}"

    [levers]
    "collection.tone.harshness" = {{ min = 0.0, max = 1.0 }}
    "collection.tone.skill" = {{ min = 0.0, max = 1.0 }}

    [[objectives]]
    key = "default_rate"

    [[objectives]]
    key = "high_stress_share"
"""


def synthetic(tmp_path, trials=12, population=4, sampler="nsga2", extra=""):
    return opt.load(write(tmp_path, SYNTHETIC.format(trials=trials, population=population, sampler=sampler, extra=extra),
                          f"synthetic_{sampler}_{trials}.toml"))


def distance_to_front(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    a = np.linspace(0.0, 1.0, 20001)
    curve = np.c_[a, 1.0 - np.sqrt(a)]
    pts = np.c_[f1, f2]
    return np.sqrt(((pts[:, None, :] - curve[None, :, :]) ** 2).sum(-1)).min(axis=1)


def test_nsga2_front_is_near_the_known_front(tmp_path):
    """Acceptance 1: 10 generations of 16; every front point within 0.12 of the true front and their mean
    distance (the generational distance) below 0.04, and the front spans most of it (seeds 7, 1 and 2
    give a mean of 0.011, 0.028 and 0.016, a largest distance of 0.036, 0.093 and 0.075). Two
    generations of random search are further off (the measure can tell)."""
    problem = synthetic(tmp_path, trials=160, population=16)
    st = opt.optimize(problem, tmp_path / "nsga2", serial, figures=False)
    front = st.pareto
    d = distance_to_front(front.default_rate.to_numpy(), front.high_stress_share.to_numpy())
    assert len(front) >= 10
    assert d.max() < 0.12 and d.mean() < 0.04, (d.max(), d.mean())
    assert front.default_rate.max() - front.default_rate.min() > 0.6
    # noisy objectives: every mean has its interval around it
    assert (front.default_rate_ci_low < front.default_rate).all() and (front.default_rate < front.default_rate_ci_high).all()

    rnd = opt.optimize(synthetic(tmp_path, trials=32, population=16, sampler="random"), tmp_path / "random", serial,
                       figures=False)
    d_rnd = distance_to_front(rnd.pareto.default_rate.to_numpy(), rnd.pareto.high_stress_share.to_numpy())
    assert d_rnd.mean() > d.mean()


def _trials(st) -> pd.DataFrame:
    cols = ["trial", "collection.tone.harshness", "collection.tone.skill", "default_rate", "high_stress_share",
            "default_rate_ci_low", "replicates", "pareto"]
    return st.trials[cols].sort_values("trial").reset_index(drop=True)


def test_a_killed_study_resumes_to_the_trials_of_an_uninterrupted_one(tmp_path):
    """Acceptance 2: stopped mid-generation (trials asked, not told), or mid-ask (a generation asked in
    part), the rerun ends with the same trials, levers and values, as a study that was never stopped."""
    whole = opt.optimize(synthetic(tmp_path), tmp_path / "whole", serial, figures=False)
    assert len(whole.trials) == 12 and whole.trials.trial.tolist() == list(range(12))

    # killed after 6 of 12 trials told: trials 6 and 7 were asked (generation 2) but never told
    out = tmp_path / "killed"
    with pytest.raises(opt.Interrupted):
        opt.optimize(synthetic(tmp_path), out, serial, stop_after=6)
    study = opt.open_study(synthetic(tmp_path), out)
    assert [t.state.name for t in study.get_trials()][5:8] == ["COMPLETE", "RUNNING", "RUNNING"]
    calls = []
    resumed = opt.optimize(synthetic(tmp_path), out, serial, figures=False,
                           on_start=lambda done, total: calls.append(("start", done, total)),
                           on_trial=lambda done, total: calls.append(("trial", done, total)))
    assert resumed.resumed_from == 6 and resumed.told == 6
    # a progress report starts from the trials told before, so its time left is this session's pace
    assert calls[0] == ("start", 6, 12) and [c[0] for c in calls[1:]] == ["trial"] * 6
    assert calls[-1] == ("trial", 12, 12)
    pd.testing.assert_frame_equal(_trials(resumed), _trials(whole))

    # killed while asking: generation 1 told, one trial of generation 2 asked
    out2 = tmp_path / "mid_ask"
    problem = synthetic(tmp_path)
    with pytest.raises(opt.Interrupted):
        opt.optimize(problem, out2, serial, stop_after=4)
    study = opt.open_study(problem, out2)
    study.sampler = opt.make_sampler(problem, 4)
    study.ask(fixed_distributions={lv.key: lv.distribution() for lv in problem.levers})
    pd.testing.assert_frame_equal(_trials(opt.optimize(problem, out2, serial, figures=False)), _trials(whole))


def test_the_trials_do_not_depend_on_the_order_runs_come_back_in(tmp_path):
    a = opt.optimize(synthetic(tmp_path), tmp_path / "a", serial, figures=False)
    b = opt.optimize(synthetic(tmp_path), tmp_path / "b", backwards, figures=False)
    pd.testing.assert_frame_equal(_trials(a), _trials(b))


def test_a_changed_spec_is_refused_on_an_existing_study_but_more_trials_continue_it(tmp_path):
    opt.optimize(synthetic(tmp_path, trials=8), tmp_path / "s", serial, figures=False)
    more = opt.optimize(synthetic(tmp_path, trials=12), tmp_path / "s", serial, figures=False)
    assert len(more.trials) == 12 and more.resumed_from == 8
    said = []
    fewer = opt.optimize(synthetic(tmp_path, trials=8), tmp_path / "s", serial, figures=False, log=said.append)
    assert len(fewer.trials) == 12 and fewer.told == 0  # the study keeps what it has; nothing runs
    assert any("already has 12 trials told (asked for 8): nothing to run" in line for line in said), said
    other = synthetic(tmp_path, trials=12, population=6)
    with pytest.raises(opt.ScenarioError, match="another spec"):
        opt.optimize(other, tmp_path / "s", serial)


def test_a_folder_with_other_files_is_refused_one_line_and_left_as_it_was(tmp_path):
    """`--out` on a sweep's results folder (or any folder with files that are not this study's) is refused
    before anything is written: the study would otherwise mix its files with the sweep's."""
    spec = write(tmp_path, GOOD.format(lever='"collection.tone.harshness" = { min = 0.0, max = 1.0 }',
                                       objective="default_rate", constraints=""))
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "manifest.json").write_text("{}", encoding="utf-8")
    res = runner.invoke(app, ["optimize", str(spec), "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"--out: {out}") and "not an optimisation study's" in lines[0], lines
    assert [f.name for f in out.iterdir()] == ["manifest.json"]
    (out / "manifest.json").unlink()
    assert opt.check_out(out, opt.load(spec)) is None  # an empty folder is fine


def test_ci_target_adds_replicates_until_the_interval_is_narrow_enough(tmp_path):
    """Each trial starts with 2 replicates; a half-width of 0.004 (the noise's sd) needs about 6."""
    problem = synthetic(tmp_path, trials=4, population=4,
                        extra="max_replicates = 12\n    ci_target = { default_rate = 0.004 }")
    lines = []
    st = opt.optimize(problem, tmp_path / "ci", serial, log=lines.append, figures=False)
    half = (st.trials.default_rate_ci_high - st.trials.default_rate_ci_low) / 2
    assert (st.trials.replicates > 2).all() and (st.trials.replicates <= 12).all()
    assert ((half <= 0.004) | (st.trials.replicates == 12)).all()
    assert any("needed more replicates" in line for line in lines)
    # without the target, the same trials keep 2 replicates and wider intervals
    plain = opt.optimize(synthetic(tmp_path, trials=4, population=4), tmp_path / "plain", serial, figures=False)
    assert (plain.trials.replicates == 2).all()
    assert ((plain.trials.default_rate_ci_high - plain.trials.default_rate_ci_low) / 2 > 0.004).any()


# ---- the real model ---------------------------------------------------------------------------------
REAL = """
    name = "tiny"
    base = "baseline"
    borrowers = 300
    days = 60
    burn_in = 30
    replicates = 2
    trials = 4
    population = 2
    combine = "{combine}"
    constraints = ["high_stress_share <= 0.9"]

    [levers]
    "collection.tone.harshness" = {{ min = 0.0, max = 1.0 }}
    "collection.tactics.plans" = {{}}

    [[objectives]]
    key = "mean_stress"

    [[objectives]]
    key = "brand_trust"
    direction = "maximize"

    [futures.calm]
    [futures.early_recession]
    scenario = "recession"
    set = {{ "macro.recession.start_day" = 5, "macro.recession.onset_days" = 10 }}
"""


def credsim(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def serial_study(tmp_path_factory) -> tuple[Path, Path]:
    """(spec, study folder): `credsim optimize --serial` of the small real study, run once for the
    tests that read it."""
    folder = tmp_path_factory.mktemp("real")
    spec = write(folder, REAL.format(combine="mean"))
    out = folder / "study"
    proc = credsim("optimize", spec, "--out", out, "--serial")
    assert proc.returncode == 0, proc.stderr
    return spec, out


def test_pareto_scenario_files_run_and_reproduce_their_objectives(serial_study):
    """Acceptance 3, through the command line: `credsim optimize`, then `credsim run` on a Pareto file at
    each of its seeds in each future gives the study's numbers, and the combined mean lies in its interval."""
    spec, out = serial_study
    pareto = pd.read_parquet(out / "pareto.parquet")
    assert len(pareto) >= 1 and pareto.feasible.all()
    for f in ("trials.parquet", "figures/front.png", "figures/levers.svg", "optimize.json", "journal.log"):
        assert (out / f).is_file(), f
    row = pareto.iloc[0]
    path = out / row.scenario_file
    text = path.read_text()
    assert "extends = " in text and "harshness = " in text
    futures = {"calm": [], "early_recession": ["--set", "macro.recession.enabled=true",
                                               "--set", "macro.recession.start_day=5",
                                               "--set", "macro.recession.onset_days=10"]}
    per_rep = {}
    for name, sets in futures.items():
        vals = []
        for r in range(int(row.replicates)):
            p = credsim("run", path, "--seed", replicate_seed(0, r), "--json", *sets)
            assert p.returncode == 0, p.stderr
            vals.append(json.loads(p.stdout))
        per_rep[name] = vals
        for key in ("mean_stress", "brand_trust"):
            assert np.mean([v[key] for v in vals]) == pytest.approx(row[f"{key}__{name}"], rel=1e-12, abs=1e-15)
    for key in ("mean_stress", "brand_trust"):
        combined = np.mean([np.mean([per_rep[f][r][key] for f in futures]) for r in range(int(row.replicates))])
        assert row[f"{key}_ci_low"] <= combined <= row[f"{key}_ci_high"]
        assert combined == pytest.approx(row[key], rel=1e-12)
    # the recession's early start does reach the runs: the futures differ
    assert row["mean_stress__calm"] != row["mean_stress__early_recession"]


def test_a_study_on_a_dask_cluster_gives_the_trials_of_a_serial_one(tmp_path, serial_study):
    """The same spec and seed, evaluated in one process or on a local Dask cluster of two worker
    processes: the same trials, lever values and objective means (each evaluation is a sweep job, and
    its seed comes from the spec, not from where it ran)."""
    distributed = pytest.importorskip("distributed")
    spec, serial = serial_study
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        proc = credsim("optimize", spec, "--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stderr
    assert f"on the Dask cluster at {cluster.scheduler_address}" in proc.stderr + proc.stdout
    a, b = (pd.read_parquet(folder / "trials.parquet") for folder in (serial, tmp_path / "dask"))
    assert len(a) == 4
    pd.testing.assert_frame_equal(a, b)


def test_worst_case_combination_takes_the_worse_future(tmp_path):
    problem = opt.load(write(tmp_path, REAL.format(combine="worst")))
    from sim.execute import execute_summary, open_executor

    with open_executor("serial", 1, None, fn=execute_summary) as execute:
        st = opt.optimize(problem, tmp_path / "w", execute, figures=False)
    t = st.trials
    assert np.allclose(t.mean_stress, np.maximum(t.mean_stress__calm, t.mean_stress__early_recession))
    assert np.allclose(t.brand_trust, np.minimum(t.brand_trust__calm, t.brand_trust__early_recession))


# ---- bad input ----------------------------------------------------------------------------------------
GOOD = """
    name = "bad"
    trials = 4
    population = 2
    {constraints}
    [levers]
    {lever}

    [[objectives]]
    key = "{objective}"
"""


@pytest.mark.parametrize("lever, objective, constraints, expected", [
    ('"collection.visits.nonsense" = { min = 1, max = 2 }', "default_rate", "", "levers.collection.visits.nonsense: a parameter name"),
    ('"collection.tone.harshness" = { min = 0.0, max = 1.5 }', "default_rate", "", "a range inside the parameter's [0, 1]"),
    ('"collection.tactics.magic" = {}', "default_rate", "", "levers.collection.tactics.magic: a tactic"),
    ('"collection.tone.harshness" = { min = 0.0, max = 1.0 }', "happiness", "", "objectives.0.key: a summary key"),
    ('"collection.tone.harshness" = { min = 0.0, max = 1.0 }', "default_rate", 'constraints = ["stress is low"]',
     "constraints.0: a constraint KEY <= NUMBER"),
    ('"collection.tone.harshness" = { min = 0.0, max = 1.0 }', "default_rate", 'constraints = ["nonsense <= 1"]',
     "constraints.0: a summary key"),
    ("", "default_rate", "", "levers: at least one lever"),
    ('"collection.visits.start_dpd" = { min = 15.5, max = 90 }', "default_rate", "", "whole-number bounds"),
])
def test_bad_spec_is_one_line_exit_2_nothing_written(tmp_path, lever, objective, constraints, expected):
    spec = write(tmp_path, GOOD.format(lever=lever, objective=objective, constraints=constraints))
    out = tmp_path / "out"
    res = runner.invoke(app, ["optimize", str(spec), "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(spec)) and expected in lines[0], lines
    assert not out.exists()


def test_bad_ci_target_and_trials_are_one_line(tmp_path):
    spec = write(tmp_path, GOOD.format(lever='"collection.tone.harshness" = { min = 0.0, max = 1.0 }',
                                       objective="default_rate", constraints=""))
    for args, expected in ((["--ci-target", "default_rate"], "--ci-target: default_rate: KEY=HALFWIDTH"),
                           (["--ci-target", "nothing=0.1"], "--ci-target: nothing: a summary key"),
                           (["--ci-target", "npv=-1"], "a half-width > 0"),
                           (["--trials", "zero"], "--trials: zero: a whole number")):
        res = runner.invoke(app, ["optimize", str(spec), "--out", str(tmp_path / "o"), *args])
        assert res.exit_code == 2 and expected in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not (tmp_path / "o").exists()


def test_a_resumed_study_starts_its_progress_from_the_trials_told_before(tmp_path, monkeypatch):
    """`credsim optimize` with more --trials on a finished study: the progress starts at the trials told
    before (not at 0, which counted them as this session's work and made the time left too short)."""
    from sim import cli_common

    spec = write(tmp_path, GOOD.format(lever='"collection.tone.harshness" = { min = 0.0, max = 1.0 }',
                                       objective="default_rate", constraints="")
                 .replace('name = "bad"', 'name = "resume"\n    borrowers = 100\n    days = 20\n    burn_in = 0\n'
                          '    replicates = 2'))
    starts = []
    real_start = cli_common.Progress.start

    def recording_start(self, total, done=0):
        starts.append((total, done))
        real_start(self, total, done)

    monkeypatch.setattr(cli_common.Progress, "start", recording_start)
    out = tmp_path / "study"
    for trials in ("2", "4"):
        res = runner.invoke(app, ["optimize", str(spec), "--out", str(out), "--serial", "--trials", trials])
        assert res.exit_code == 0, res.output
    assert starts == [(2, 0), (4, 2)]
    assert "resuming: 2 of 4 trials already told" in res.stderr


def test_constraint_and_expression_language():
    c = opt.parse_constraint("high_stress_share <= 0.02")
    assert (c.key, c.op, c.bound) == ("high_stress_share", "<=", 0.02)
    assert c.violation(0.01) < 0 < c.violation(0.03)
    assert opt.parse_constraint("npv >= -1e3").violation(0.0) < 0
    tree = opt.parse_expression("a > 1 and (b < 2 or not a > 5)")
    got = opt.evaluate_expression(tree, {"a": np.array([0, 2, 6]), "b": np.array([0, 1, 9])}.__getitem__)
    assert got.tolist() == [False, True, False]
    for bad in ("__import__('os')", "a.b > 1", "a > 'x'", "f(a)", "a >"):
        with pytest.raises(opt.ExpressionError):
            opt.parse_expression(bad)


def test_non_dominated_respects_directions():
    v = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, 3.0], [1.0, 1.0]])
    assert opt.non_dominated(v, np.array([1.0, 1.0])).tolist() == [True, False, True, True]
    assert opt.non_dominated(v, np.array([-1.0, -1.0])).tolist() == [False, True, True, False]


def test_the_shipped_spec_is_valid():
    problem = opt.load(ROOT / "experiments" / "05_best_strategy.toml")
    assert [o.key for o in problem.objectives] == ["default_rate", "high_stress_share", "brand_trust", "npv"]
    assert problem.futures["recession"] == {"macro.recession.enabled": True}
    tactics = problem.scenario({"collection.tactics.visits": False, "collection.tactics.plans": True}).collection.tactics
    assert "visits" not in tactics and "plans" in tactics


def test_adaptive_sweep_extends_replicates_until_the_target_or_the_maximum(tmp_path):
    """Adaptive replication for a sweep, through the sweep's own --extend: an unreachable target takes the
    sweep to the maximum and says the interval is still wide; a loose one keeps the spec's replicates."""
    from sim import analysis

    spec = write(tmp_path, """
        name = "adaptive"
        replicates = 2
        borrowers = 100
        days = 20
        burn_in = 0
        scenarios = [{ file = "baseline" }]
    """, "adaptive.toml")
    lines = []
    done = opt.adaptive_sweep(spec, tmp_path / "tight", {"mean_stress": 1e-9}, 4, executor="serial", log=lines.append)
    assert done["replicates"] == 4 and [h["replicates"] for h in done["history"]] == [2, 4]
    res = analysis.load(tmp_path / "tight")
    assert len(res.summaries) == 4 and sorted(res.summaries.replicate) == [0, 1, 2, 3]
    assert res.manifest["extensions"][-1]["replicates"] == [2, 4]
    assert "added replicates 2 -> 4" in lines[-1] and "still wider" in lines[-1]
    lines.clear()
    loose = opt.adaptive_sweep(spec, tmp_path / "loose", {"mean_stress": 1.0}, 4, executor="serial", log=lines.append)
    assert loose["replicates"] == 2 and "met with the spec's 2 replicates" in lines[-1]


def test_sweep_ci_target_on_the_command_line_extends_and_a_rerun_resumes(tmp_path):
    """credsim sweep --ci-target: the sweep grows to --max-replicates for an unreachable target, a rerun
    of the same command runs nothing new, and --max-replicates alone is refused as one line."""
    from sim import analysis

    spec = write(tmp_path, """
        name = "adaptive_cli"
        replicates = 2
        borrowers = 100
        days = 20
        burn_in = 0
        scenarios = [{ file = "baseline" }]
    """, "adaptive.toml")
    out = tmp_path / "res"
    args = ["sweep", str(spec), "--out", str(out), "--serial", "--ci-target", "mean_stress=1e-9", "--max-replicates", "4"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert sorted(analysis.load(out).summaries.replicate) == [0, 1, 2, 3]
    assert "added replicates 2 -> 4" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 runs done, 4 already finished" in again.output
    alone = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "other"), "--max-replicates", "4"])
    assert alone.exit_code == 2 and "--max-replicates" in alone.output and not (tmp_path / "other").exists()
