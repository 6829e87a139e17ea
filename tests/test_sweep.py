"""`credsim sweep`: the same results whatever the executor, atomic per-run files, resume after SIGKILL,
failures recorded, a foreign results folder refused, bad specs as one line with exit 2.

Runs are tiny (hundreds to a couple of thousand borrowers, tens to a hundred days); the whole file
takes well under a minute and a half on 2 cores.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim.execute
from sim.cli import app
from sim.execute import run_sweep
from sim.store import ResultStore
from sim.sweep import plan as make_plan
from support import tied_popen

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("summaries", "daily", "vintages", "loans", "roll")
runner = CliRunner()


def write_spec(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def credsim(*args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """The real command in a fresh process (`python -m sim` is `credsim`)."""
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, **kw)


def tables(out: Path) -> dict[str, pd.DataFrame]:
    """Every result file, each read on its own (so a corrupt one fails here), concatenated in run order."""
    found = {}
    for kind in KINDS:
        files = sorted((out / kind).glob("*.parquet"))
        frames = [pd.read_parquet(f) for f in files]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        # runs in run_id order; within a run the file's own order (day, cohort x month)
        found[kind] = df.sort_values("run_id", kind="stable").reset_index(drop=True) if len(df) else df
    return found


def assert_same_results(a: Path, b: Path) -> None:
    ta, tb = tables(a), tables(b)
    for kind in KINDS:
        pd.testing.assert_frame_equal(ta[kind], tb[kind], check_exact=True, obj=f"{kind} of {a.name} vs {b.name}")


def assert_complete(out: Path, plan) -> None:
    t = tables(out)
    ids = [j.run_id for j in plan.jobs]
    assert sorted(t["summaries"].run_id) == sorted(ids)  # every planned run once: no duplicates, none missing
    assert not t["daily"].duplicated(["run_id", "day"]).any()
    sim_ = plan.jobs[0].params.simulation
    assert len(t["daily"]) == len(ids) * (sim_.burn_in + sim_.days + 1)
    assert not t["loans"].duplicated(["run_id", "loan_id"]).any() and set(t["loans"].run_id) == set(ids)
    assert len(t["roll"]) == len(ids) * 6 * 8  # the roll matrix: 6 from-buckets (on_plan among them) x 8 to-buckets
    assert not t["vintages"].duplicated(["run_id", "cohort", "months_on_book"]).any()
    assert set(t["vintages"].run_id) == set(ids)
    assert not list((out / "failures").glob("*.json"))


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --------------------------------------------------------------------------- kill -9 and resume

KILL_SPEC = """
    name = "killme"
    replicates = 12
    seed = 11
    borrowers = 800
    days = 60
    burn_in = 20
    scenarios = [{file = "baseline"}, {file = "humane_visits"}]
"""


def test_sigkill_then_rerun_gives_the_uninterrupted_results(tmp_path):
    spec = write_spec(tmp_path, "kill.toml", KILL_SPEC)
    plan = make_plan(spec)
    total = len(plan.jobs)
    assert total == 24

    # the reference: the same sweep, uninterrupted, in this process
    ref = tmp_path / "ref"
    outcome = run_sweep(plan, ResultStore(ref), executor="serial")
    assert (outcome.done, outcome.failed) == (total, 0)

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sim", "sweep", str(spec), "--out", str(out), "--workers", "2"]
    # a session of its own: killing its process group kills the worker processes too
    proc = tied_popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:
            n = len(ResultStore(out).finished())
            if n >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed: make it bigger"
        assert n >= 3, "no run finished in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # what a kill -9 leaves: whole files only; a file being written is hidden and never looks like a result
    killed = ResultStore(out).finished()
    assert 3 <= len(killed) < total
    assert killed <= {j.run_id for j in plan.jobs}
    for kind in KINDS:
        for f in (out / kind).glob("*.parquet"):
            assert not f.name.startswith("."), f
            pd.read_parquet(f)  # every visible file reads
    json.loads((out / "manifest.json").read_text())
    pd.read_parquet(out / "runs.parquet")
    # daily series of runs killed before their summary was written are not results
    assert set(ResultStore(out).read("daily").run_id) == killed
    stamps = {f: f.stat().st_mtime_ns for f in (out / "summaries").glob("*.parquet")}

    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"resuming: {len(killed)} of {total} runs already finished" in res.stderr
    assert f"{total - len(killed)} runs done, {len(killed)} already finished, 0 failed" in res.stdout
    # finished runs were skipped, not redone
    assert {f: f.stat().st_mtime_ns for f in stamps} == stamps
    assert not [p for kind in KINDS for p in (out / kind).iterdir() if p.name.startswith(".tmp-")]

    assert_complete(out, plan)
    assert_same_results(out, ref)  # killed and resumed on 2 workers == uninterrupted in one process
    m = json.loads((out / "manifest.json").read_text())
    assert (m["runs_planned"], m["runs_finished"], m["runs_failed"]) == (total, total, 0)
    assert len(m["sessions"]) == 2 and m["finished"]


# --------------------------------------------------------------------------- executors

EXEC_SPEC = """
    name = "executors"
    replicates = 2
    seed = 5
    borrowers = 500
    days = 100
    burn_in = 20
    scenarios = [{file = "baseline"}, {file = "humane_visits", name = "humane"}]
    [design]
    method = "grid"
    [design.parameters]
    "collection.visits.start_dpd" = [30, 60]
"""


def test_serial_local_workers_and_dask_give_identical_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = write_spec(tmp_path, "exec.toml", EXEC_SPEC)
    plan = make_plan(spec)
    assert len(plan.jobs) == 8

    r = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "serial"), "--serial"])  # in this process
    assert r.exit_code == 0, r.output
    r = credsim("sweep", spec, "--out", tmp_path / "local", "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert "on 2 local worker(s)" in r.stderr
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        r = credsim("sweep", spec, "--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    assert r.returncode == 0, r.stderr
    assert "on the Dask cluster at tcp://" in r.stderr

    for name in ("serial", "local", "dask"):
        assert_complete(tmp_path / name, plan)
    assert_same_results(tmp_path / "serial", tmp_path / "local")
    assert_same_results(tmp_path / "serial", tmp_path / "dask")
    s = tables(tmp_path / "serial")["summaries"]
    assert set(s["collection.visits.start_dpd"]) == {30, 60}  # design values are columns of the summaries
    # paired seeds: replicate r has the same seed in every scenario and design point
    assert s.groupby("replicate").seed.nunique().eq(1).all() and s.seed.nunique() == 2
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["executor"].startswith("dask tcp://")


def test_serial_equals_workers_above_the_blas_threading_threshold(tmp_path):
    spec = write_spec(tmp_path, "big.toml", "borrowers = 20000\ndays = 15\nburn_in = 0\n")
    assert runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "serial"), "--serial"]).exit_code == 0
    r = credsim("sweep", spec, "--out", tmp_path / "local", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert_same_results(tmp_path / "serial", tmp_path / "local")


def test_unreachable_scheduler_is_bad_input_and_writes_nothing(tmp_path):
    spec = write_spec(tmp_path, "s.toml", 'borrowers = 200\ndays = 10\nburn_in = 0\n')
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out"), "--scheduler", "no-port-here"])
    assert res.exit_code == 2
    assert one_line(res.stderr).startswith("--scheduler: no-port-here: a reachable Dask scheduler")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- failures

FAIL_SPEC = """
    name = "failing"
    replicates = 3
    borrowers = 300
    days = 30
    burn_in = 20
    scenarios = [{file = "baseline"}, {file = "humane_visits"}]
"""


def _fail_one(monkeypatch, plan, run_id: str = "humane_visits__p0000__r001"):
    """Make ``sim.run`` raise for one run of ``plan`` (in this process); return that run's job."""
    bad = next(j for j in plan.jobs if j.run_id == run_id)
    real = sim.execute.run

    def run(params, seed):
        if params.name == bad.scenario and seed == bad.seed:
            raise RuntimeError("boom: the model fell over")
        return real(params, seed=seed)

    monkeypatch.setattr(sim.execute, "run", run)
    return bad


def test_a_failing_run_is_recorded_the_others_finish_and_a_rerun_retries_it(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, "fail.toml", FAIL_SPEC)
    plan = make_plan(spec)
    bad = _fail_one(monkeypatch, plan)
    store = ResultStore(tmp_path / "out")
    calls = []
    outcome = run_sweep(plan, store, executor="serial", on_start=lambda total, skipped: calls.append((total, skipped)),
                        on_result=lambda job, ok: calls.append((job.run_id, ok)))
    assert (outcome.planned, outcome.done, outcome.failed) == (6, 5, 1)
    assert calls[0] == (6, 0) and len(calls) == 7 and calls.count((bad.run_id, False)) == 1
    assert store.finished() == {j.run_id for j in plan.jobs} - {bad.run_id}
    assert store.failed() == {bad.run_id}
    doc = json.loads((tmp_path / "out" / "failures" / f"{bad.run_id}.json").read_text())
    assert doc["run_id"] == bad.run_id and doc["seed"] == bad.seed and doc["scenario"] == "humane_visits"
    assert doc["error"] == "RuntimeError: boom: the model fell over" and "Traceback" in doc["traceback"]
    assert doc["parameters"] == bad.params.model_dump(mode="json")
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["runs_failed"] == 1

    monkeypatch.undo()  # "fixed": the rerun retries the failed run only
    outcome = run_sweep(plan, store, executor="serial")
    assert (outcome.skipped, outcome.done, outcome.failed) == (5, 1, 0)
    assert store.failed() == set() and not list((tmp_path / "out" / "failures").iterdir())
    assert_complete(tmp_path / "out", plan)


def test_cli_counts_failures_exits_1_and_the_progress_bar_shows_them(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, "fail.toml", FAIL_SPEC)
    plan = make_plan(spec)
    bad = _fail_one(monkeypatch, plan)
    monkeypatch.setattr("sim.cli_sweep._interactive", lambda: True)  # as if a person watched stderr
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"])
    assert res.exit_code == 1, res.output
    assert "5 runs done, 0 already finished, 1 failed" in res.stdout
    assert f"run {bad.run_id} failed (see {out / 'failures' / bad.run_id}.json)" in res.stderr
    assert "1 run(s) not finished" in res.stderr
    assert "6/6" in res.stderr and "1 failed" in res.stderr and "eta" in res.stderr  # the final progress bar

    monkeypatch.undo()
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"])
    assert res.exit_code == 0, res.output
    assert "1 runs done, 5 already finished, 0 failed" in res.stdout
    assert "runs 6/6 (100%), 0 failed, 0:0" in res.stderr  # no terminal: progress as plain lines


def _worker_pids(pid: int) -> list[int]:
    """The worker processes of the sweep process ``pid``: the children of its forkserver (or, without
    one, its spawned children; sim.execute.worker_context), not the forkserver itself nor
    multiprocessing's resource tracker."""
    import psutil

    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            cmd = " ".join(k.cmdline())
            if "forkserver" in cmd:
                out += [w.pid for w in k.children()]
            elif "spawn_main" in cmd:  # where there is no forkserver (sim.execute.worker_context)
                out.append(k.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _start_sweep(spec: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sim", "sweep", str(spec), "--out", str(out), "--workers", "2"]
    return tied_popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _catch_workers(proc: subprocess.Popen, out: Path, finished: int = 1) -> list[int]:
    """The sweep's worker pids once they exist and ``finished`` runs are done (polled, bounded)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        pids = _worker_pids(proc.pid)
        if len(pids) == 2 and len(ResultStore(out).finished()) >= finished:
            return pids
        time.sleep(0.02)
    return []


def test_a_worker_killed_mid_sweep_costs_no_run(tmp_path):
    """A worker process dies (as under the kernel's out-of-memory killer): the runs in flight on its pool
    are tried again on a fresh pool, and none is recorded as failed."""
    pytest.importorskip("psutil")
    spec = write_spec(tmp_path, "oom.toml", KILL_SPEC.replace("replicates = 12", "replicates = 8"))
    out = tmp_path / "out"
    proc = _start_sweep(spec, out)
    try:
        pids = _catch_workers(proc, out)
        assert pids, "could not catch a worker at work"
        os.kill(pids[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert "0 failed" in stdout and "16/16 runs finished" in stdout and "Traceback" not in stderr
    assert not list((out / "failures").glob("*.json"))
    assert_complete(out, make_plan(spec))


def test_a_run_that_kills_its_worker_every_time_is_a_failure_of_its_own(monkeypatch):
    """Retrying has a bound: a job whose worker dies on every try is recorded as failed after RETRIES."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from collections import namedtuple

    Job = namedtuple("Job", "run_id")
    good, bad = Job("good"), Job("bad")
    submitted = []

    def submit(job):
        submitted.append(job.run_id)
        f = Future()
        if job == bad:
            f.set_exception(BrokenProcessPool("killed"))
        else:
            f.set_result({"ok": True})
        return f

    out = {job.run_id: res for job, res in sim.execute._bounded(submit, lambda fs: fs, [good, bad], lambda: 2)}
    assert out["good"] == {"ok": True}
    assert not out["bad"]["ok"] and "BrokenProcessPool" in out["bad"]["error"]
    assert submitted.count("bad") == 1 + sim.execute.RETRIES and submitted.count("good") == 1


def _square_in_a_worker(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x * x, os.getpid()


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_run_each_gives_each_items_result_in_the_items_order(executor):
    """The experiments' and tests' studies (sim.execute.run_each): results come back in the order of the
    items whatever order the workers finish in; locally they come from worker processes."""
    items = [5, 0, 7, 1, 2, 9, 4]
    out = sim.execute.run_each(_square_in_a_worker, items, workers=2, executor=executor)
    assert [v for v, _ in out] == [x * x for x in items]
    pids = {pid for _, pid in out}
    assert (pids == {os.getpid()}) if executor == "serial" else (os.getpid() not in pids)


def test_run_each_stops_at_a_failing_call_and_says_which():
    with pytest.raises(sim.execute.RunFailed, match=r"_square_in_a_worker\(3\) failed: ValueError: three is not"):
        sim.execute.run_each(_square_in_a_worker, [1, 2, 3, 4], workers=2)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_when_the_sweep_process_is_killed(tmp_path, sig):
    """No orphans: killing only the sweep process (as a cluster scheduler does) ends its workers."""
    spec = write_spec(tmp_path, "orphans.toml", KILL_SPEC)
    out = tmp_path / "out"
    with _sweep_process(spec, out) as proc:
        stderr = _signal_the_sweep_alone(proc, out, sig, finished=0)
    if sig == signal.SIGTERM:  # ended as an interrupt: it says what is kept, and no semaphore is left behind
        assert proc.returncode == 143 and "terminated: " in stderr and "rerun the same command" in stderr, stderr
        assert "leaked" not in stderr and "Traceback" not in stderr, stderr


def _signal_the_sweep_alone(proc: subprocess.Popen, out: Path, sig: int, finished: int) -> str:
    """Once its workers run (and ``finished`` runs are done), send ``sig`` to the sweep process alone, not
    its process group (as a cluster scheduler or `kill` does); every process it started (the workers, the
    forkserver, the resource tracker) must end. Returns what the sweep wrote on stderr."""
    psutil = pytest.importorskip("psutil")
    pids = _catch_workers(proc, out, finished=finished)
    assert pids, "could not catch the workers"
    family = [psutil.Process(p) for p in pids]
    family += [k for k in psutil.Process(proc.pid).children(recursive=True) if k.pid not in pids]
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    return proc.stderr.read()  # at its end: no process holds the pipe any more


@contextmanager
def _sweep_process(spec: Path, out: Path):
    """A `credsim sweep` in a session of its own, whose whole process group is killed at the end."""
    proc = _start_sweep(spec, out)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_an_interrupt_to_the_sweep_process_alone_says_what_is_kept_and_a_rerun_resumes(tmp_path):
    """SIGINT to the sweep process only (`kill -INT`, `timeout -s INT`; a terminal's Ctrl-C reaches the
    workers too): the workers are stopped, not waited for (waiting could hang for good), the command says
    how many runs are kept, exits 130, and a rerun finishes the rest."""
    spec = write_spec(tmp_path, "interrupt.toml", KILL_SPEC)
    out = tmp_path / "out"
    with _sweep_process(spec, out) as proc:
        stderr = _signal_the_sweep_alone(proc, out, signal.SIGINT, finished=1)
    assert proc.returncode == 130, stderr
    kept = len(ResultStore(out).finished())
    assert 1 <= kept < 24
    assert f"interrupted: {kept} of 24 runs finished and kept in {out}; rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    again = credsim("sweep", spec, "--out", out, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert f"resuming: {kept} of 24 runs already finished" in again.stderr
    assert len(ResultStore(out).finished()) == 24


SMALL_SPEC = """
    name = "small"
    replicates = 3
    seed = 4
    borrowers = 400
    days = 40
    burn_in = 10
"""


def test_a_second_sweep_into_a_busy_folder_is_refused(tmp_path):
    spec = write_spec(tmp_path, "small.toml", SMALL_SPEC)
    out = tmp_path / "out"
    store = ResultStore(out)
    with store.lock():  # a sweep is running into the folder
        res = credsim("sweep", spec, "--out", out, "--serial")
        assert res.returncode == 2
        assert "in use by another sweep" in one_line(res.stderr)
        assert [p.name for p in out.iterdir()] == [".lock"]  # nothing written
    res = credsim("sweep", spec, "--out", out, "--serial")  # once it ends, the folder is free
    assert res.returncode == 0, res.stderr
    assert_complete(out, make_plan(spec))


def test_a_resume_across_changed_model_code_is_refused_unless_said(tmp_path):
    spec = write_spec(tmp_path, "small.toml", SMALL_SPEC.replace("replicates = 3", "replicates = 2"))
    out = tmp_path / "out"
    # setup, in this process; the resumes below are the real command
    assert runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"]).exit_code == 0
    m = json.loads((out / "manifest.json").read_text())
    assert len(m["code_hash"]) == 64 and m["sessions"][0]["code_hash"] == m["code_hash"]
    m["code_hash"] = "0" * 64  # the finished runs ran other code
    (out / "manifest.json").write_text(json.dumps(m))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (out / "summaries").iterdir())

    res = credsim("sweep", spec, "--out", out, "--serial")
    assert res.returncode == 2
    assert "other model code" in one_line(res.stderr) and "--allow-code-change" in res.stderr
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (out / "summaries").iterdir()) == before

    res = credsim("sweep", spec, "--out", out, "--serial", "--allow-code-change")
    assert res.returncode == 0, res.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["code_hash"] == "0" * 64 and m["sessions"][-1]["code_changed"] is True  # recorded
    assert m["git_commit"] == m["sessions"][0]["git_commit"]  # a resume never blanks the commit


def test_damaged_finished_runs_are_redone_on_resume(tmp_path):
    spec = write_spec(tmp_path, "small.toml", SMALL_SPEC)
    ref, out = tmp_path / "ref", tmp_path / "out"
    for d in (ref, out):  # (setup: in this process; the resume below is the real command)
        assert runner.invoke(app, ["sweep", str(spec), "--out", str(d), "--serial"]).exit_code == 0
    runs = sorted(p.stem for p in (out / "summaries").glob("*.parquet"))
    s = out / "summaries" / f"{runs[0]}.parquet"
    s.write_bytes(s.read_bytes()[: len(s.read_bytes()) // 2])  # a truncated summary
    (out / "daily" / f"{runs[1]}.parquet").write_bytes(b"")  # an empty daily file
    (out / "vintages" / f"{runs[2]}.parquet").write_bytes(b"")  # an empty vintages file
    untouched = runs[3:]
    stamps = {r: (out / "summaries" / f"{r}.parquet").stat().st_mtime_ns for r in untouched}

    res = credsim("sweep", spec, "--out", out, "--serial")
    assert res.returncode == 0, res.stderr
    assert "3 finished run(s) had damaged files" in res.stderr
    assert "3 runs done" in res.stdout
    assert {r: (out / "summaries" / f"{r}.parquet").stat().st_mtime_ns for r in untouched} == stamps
    assert_complete(out, make_plan(spec))
    assert_same_results(out, ref)


def test_writing_runs_keeps_memory_flat(tmp_path):
    """The sweep process holds nothing per written run (pathlib, for one, would intern every file name forever)."""
    import gc
    import tracemalloc

    plan = make_plan(write_spec(tmp_path, "many.toml", "replicates = 700\nborrowers = 200\ndays = 5\nburn_in = 0\n"))
    store = ResultStore(tmp_path / "out")
    store.begin(plan, "serial")
    fake = {"ok": True, "files": {kind: b"not really parquet" for kind in KINDS}}
    tracemalloc.start()
    try:
        for i, job in enumerate(plan.jobs):
            if i == 100:
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
            store.write_run(job, fake)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(store.finished()) == 700
    assert growth < 600 * 16, f"{growth / 600:.0f} bytes kept per run written"


# --------------------------------------------------------------------------- resume and refusal


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


TINY_SPEC = """
    name = "tiny"
    replicates = 2
    borrowers = 200
    days = 20
    burn_in = 20
"""


def test_a_different_spec_is_refused_and_nothing_in_dir_changes(tmp_path):
    spec = write_spec(tmp_path, "a.toml", TINY_SPEC)
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"]).exit_code == 0
    before = _snapshot(out)

    other = write_spec(tmp_path, "b.toml", TINY_SPEC.replace("replicates = 2", "replicates = 3"))
    res = credsim("sweep", other, "--out", out, "--serial")
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert line.startswith(f"--out: {out}: ") and "different sweep" in line and "'tiny'" in line and str(spec) in line
    assert res.stdout == ""
    assert _snapshot(out) == before

    # a scenario file changed under the same spec is a different sweep too
    sc = write_spec(tmp_path, "mine.toml", 'extends = "baseline.toml"\nname = "mine"\n')
    spec2 = write_spec(tmp_path, "c.toml", TINY_SPEC + '    scenarios = [{file = "mine.toml"}]\n')
    out2 = tmp_path / "out2"
    assert runner.invoke(app, ["sweep", str(spec2), "--out", str(out2), "--serial"]).exit_code == 0
    sc.write_text(sc.read_text() + "[collection.visits]\nstart_dpd = 45\n")
    before2 = _snapshot(out2)
    res = runner.invoke(app, ["sweep", str(spec2), "--out", str(out2), "--serial"])
    assert res.exit_code == 2 and "different sweep" in one_line(res.stderr)
    assert _snapshot(out2) == before2

    # a folder that is not a sweep's
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine\n")
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(junk), "--serial"])
    assert res.exit_code == 2 and "not a sweep's results folder" in one_line(res.stderr)
    assert sorted(p.name for p in junk.iterdir()) == ["notes.txt"]


def test_rerunning_a_finished_sweep_runs_nothing(tmp_path):
    spec = write_spec(tmp_path, "a.toml", TINY_SPEC)
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"]).exit_code == 0
    results = {k: v for k, v in _snapshot(out).items() if k.startswith(KINDS)}
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "0 runs done, 2 already finished, 0 failed" in res.stdout
    assert {k: v for k, v in _snapshot(out).items() if k.startswith(KINDS)} == results


# --------------------------------------------------------------------------- bad specs

BAD_SPECS = [
    # id, spec text, extra files, key the line must name, a piece of what was expected
    ("invalid-toml", "replicates = = 2\n", {}, "toml", "valid TOML"),
    ("nested-3000-deep", "replicates = " + "[" * 3000 + "]" * 3000 + "\n", {}, "toml", "at most 32 levels"),
    ("unknown-key", "replicats = 2\n", {}, "replicats", "unknown key"),
    ("replicates-0", "replicates = 0\n", {}, "replicates", "greater than or equal to 1"),
    ("replicates-not-a-number", 'replicates = "ten"\n', {}, "replicates", "integer"),
    ("borrowers-too-few", "borrowers = 5\n", {}, "borrowers", "10"),
    ("borrowers-too-many-for-the-model", "borrowers = 30000000\n", {}, "borrowers", "20000000"),
    ("unknown-design-method", '[design]\nmethod = "halton"\n[design.parameters]\n"collection.tone.harshness" = [0.1]\n',
     {}, "design.method", "'grid', 'lhs', 'morris' or 'sobol'"),
    ("unknown-design-key", '[design]\nmethod = "grid"\nsampels = 3\n[design.parameters]\n"collection.tone.harshness" = [0.1]\n',
     {}, "design.sampels", "unknown key"),
    ("grid-parameter-not-a-list", '[design]\nmethod = "grid"\n[design.parameters]\n"collection.tone.harshness" = 0.5\n',
     {}, "design.parameters.collection.tone.harshness", "a list of values"),
    ("grid-given-bounds", '[design]\nmethod = "grid"\n[design.parameters]\n"collection.tone.harshness" = {min = 0.0, max = 1.0}\n',
     {}, "design.parameters.collection.tone.harshness", "a list of values for a grid"),
    ("lhs-given-a-list", '[design]\nmethod = "lhs"\n[design.parameters]\n"collection.tone.harshness" = [0.1, 0.2]\n',
     {}, "design.parameters.collection.tone.harshness", "bounds {min = ..., max = ...} for lhs"),
    ("bounds-min-not-below-max", '[design]\nmethod = "lhs"\n[design.parameters]\n"collection.tone.harshness" = {min = 0.8, max = 0.2}\n',
     {}, "design.parameters.collection.tone.harshness", "max greater than min, got min = 0.8, max = 0.2"),
    # bounds reaching outside the parameter's range are refused whatever the sampler happens to draw (with
    # samples = 1 and seed 0 the one LHS point stays inside [0, 1]; seed 2's would not)
    ("bounds-beyond-the-range", '[design]\nmethod = "lhs"\nsamples = 1\nseed = 0\n[design.parameters]\n'
     '"collection.tone.harshness" = {min = 0.0, max = 1.5}\n',
     {}, "design.parameters.collection.tone.harshness", "bounds inside the parameter's range [0, 1], got min = 0, max = 1.5"),
    ("bounds-missing-max", '[design]\nmethod = "sobol"\n[design.parameters]\n"collection.tone.harshness" = {min = 0.2}\n',
     {}, "design.parameters.collection.tone.harshness.max", "required"),
    ("design-without-parameters", '[design]\nmethod = "grid"\n[design.parameters]\n', {}, "design.parameters",
     "at least one parameter"),
    ("unknown-design-parameter", '[design]\nmethod = "grid"\n[design.parameters]\n"collection.tone.harshnes" = [0.1]\n',
     {}, "design.parameters.collection.tone.harshnes", "a parameter name"),
    ("grid-value-out-of-range", '[design]\nmethod = "grid"\n[design.parameters]\n"collection.tone.harshness" = [0.5, 2.5]\n',
     {}, "design.parameters.collection.tone.harshness", "2.5"),
    ("grid-float-for-an-integer", '[design]\nmethod = "grid"\n[design.parameters]\n"collection.visits.start_dpd" = [30, 30.5]\n',
     {}, "design.parameters.collection.visits.start_dpd", "30.5"),
    ("scenarios-not-shipped-or-list", 'scenarios = "all"\n', {}, "scenarios", '"shipped" or a list of tables'),
    ("scenario-entry-a-string", 'scenarios = ["baseline"]\n', {}, "scenarios.0", "a table with keys file, name, overrides"),
    ("scenario-entry-unknown-key", 'scenarios = [{file = "baseline", overides = {}}]\n', {}, "scenarios.0.overides",
     "unknown key"),
    ("scenario-file-missing", 'scenarios = [{file = "nope.toml"}]\n', {}, "scenarios.0.file", "'nope.toml' not found"),
    ("override-unknown-key", 'scenarios = [{file = "baseline", overrides = {"collection.visits.start_dpdx" = 3}}]\n',
     {}, "scenarios.0.overrides.collection.visits.start_dpdx", "unknown parameter"),
    ("override-out-of-range", 'scenarios = [{file = "baseline", overrides = {"collection.visits.verify_prob" = 1.5}}]\n',
     {}, "scenarios.0.overrides.collection.visits.verify_prob", "1.5"),
    ("override-wrong-type", 'scenarios = [{file = "baseline", overrides = {"collection.visits.on_broken_promise" = "yes"}}]\n',
     {}, "scenarios.0.overrides.collection.visits.on_broken_promise", "boolean"),
    ("scenarios-empty", "scenarios = []\n", {}, "scenarios", "at least one scenario"),
    ("scenario-name-240-characters", f'scenarios = [{{file = "baseline", name = "{'a' * 240}"}}]\n', {},
     "scenarios.0.name", "at most 64 characters"),
    ("scenario-name-with-a-slash", 'scenarios = [{file = "baseline", name = "a/b"}]\n', {}, "scenarios.0.name",
     "letters, digits"),
    ("sobol-of-10-million-points", '[design]\nmethod = "sobol"\nsamples = 1000000\n[design.parameters]\n'
     + "".join(f'"stress.{k}" = {{min = 0.1, max = 0.2}}\n' for k in
               ["sms", "phone", "visit", "visit_harsh", "job_loss", "emergency", "missed_payment", "charge_off"]),
     {}, "design", "at most 100,000 runs"),
    ("grid-of-100-to-the-4", '[design]\nmethod = "grid"\n[design.parameters]\n'
     + "".join(f'"stress.{k}" = {[i / 100 for i in range(100)]}\n' for k in ["sms", "phone", "visit", "visit_harsh"]),
     {}, "design", "--allow-large"),
    ("replicates-beyond-the-limit", "replicates = 100000\nscenarios = \"shipped\"\n", {}, "replicates",
     "at most 100,000 runs"),
    ("grid-over-the-name", '[design]\nmethod = "grid"\n[design.parameters]\nname = ["a", "b"]\n', {},
     "design.parameters.name", "numeric parameter or a flag"),
    ("grid-over-the-reminder-ladder", '[design]\nmethod = "grid"\n[design.parameters]\n'
     '"collection.reminders.schedule" = [[], [{day = 1}]]\n', {}, "design.parameters.collection.reminders.schedule",
     "numeric parameter or a flag"),
    ("design-replaces-a-scenario-value", 'scenarios = [{file = "baseline"}, {file = "humane_visits"}]\n[design]\n'
     'method = "lhs"\nsamples = 4\n[design.parameters]\n"collection.tone.harshness" = {min = 0.0, max = 1.0}\n', {},
     "design.parameters.collection.tone.harshness", "'humane_visits' sets it in its file humane_visits.toml"),
    ("design-replaces-an-override", 'scenarios = [{file = "baseline", overrides = {"collection.visits.start_dpd" = 45}}]\n'
     '[design]\nmethod = "grid"\n[design.parameters]\n"collection.visits.start_dpd" = [30, 60]\n', {},
     "design.parameters.collection.visits.start_dpd", "override_scenarios = true"),
    ("scenario-name-twice", 'scenarios = [{file = "baseline"}, {file = "humane_visits", name = "baseline"}]\n', {},
     "scenarios.1.name", "not used twice"),
]


@pytest.mark.parametrize("text,files,key,says", [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_one_line_exit_2_nothing_written(tmp_path, text, files, key, says):
    spec = write_spec(tmp_path, "spec.toml", text)
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    line = one_line(res.stderr)
    assert line.startswith(f"{spec}: {key}: "), line
    assert says in line, line
    assert line.count(", got ") <= 1, line  # what was given said once
    assert res.stdout == ""
    assert not out.exists()


def test_bad_scenario_file_named_by_a_spec_is_reported_in_its_own_name(tmp_path):
    """Through the real command: the line names the scenario file and its key; no traceback, exit 2."""
    sc = write_spec(tmp_path, "broken.toml", '[population]\nborrowers = "many"\n')
    spec = write_spec(tmp_path, "spec.toml", 'scenarios = [{file = "broken.toml"}]\n')
    out = tmp_path / "out"
    res = credsim("sweep", spec, "--out", out)
    assert res.returncode == 2
    assert one_line(res.stderr).startswith(f"{sc}: population.borrowers: ")
    assert not out.exists()

    missing = credsim("sweep", tmp_path / "nope.toml", "--out", out)
    assert missing.returncode == 2
    assert one_line(missing.stderr) == f"{tmp_path / 'nope.toml'}: file: an existing sweep spec file"
    assert not out.exists()


# --------------------------------------------------------------------------- progress on a terminal


def test_progress_bar_on_a_terminal_shows_done_total_failed_and_time_left(tmp_path):
    spec = write_spec(tmp_path, "a.toml", TINY_SPEC.replace("replicates = 2", "replicates = 3"))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "160"}
    proc = tied_popen([sys.executable, "-m", "sim", "sweep", str(spec), "--out", str(tmp_path / "out"), "--serial"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    proc.wait(timeout=60)
    assert proc.returncode == 0
    text = seen.decode(errors="replace")
    assert "runs" in text and "3/3" in text and "0 failed" in text and "eta" in text


# --------------------------------------------------------------------------- plans: size and overrides


def test_a_plan_beyond_the_limit_needs_allow_large(tmp_path, monkeypatch):
    """The limit is checked before the plan is built; --allow-large lifts it (limit lowered here to stay small)."""
    monkeypatch.setattr("sim.sweep.MAX_RUNS", 3)
    spec = write_spec(tmp_path, "s.toml", TINY_SPEC.replace("replicates = 2", "replicates = 4"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"])
    assert res.exit_code == 2
    line = one_line(res.stderr)
    assert line.startswith(f"{spec}: replicates: a plan of at most 3 runs") and "= 4;" in line and "--allow-large" in line
    assert not out.exists()
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial", "--allow-large"])
    assert res.exit_code == 0, res.output
    assert "4 runs done" in res.stdout
    assert "--allow-large" in runner.invoke(app, ["sweep", "--help"]).stdout


def test_override_scenarios_lets_a_design_replace_a_scenario_value(tmp_path):
    spec = write_spec(tmp_path, "s.toml", """
        borrowers = 200
        days = 10
        burn_in = 0
        scenarios = [{file = "baseline"}, {file = "humane_visits"}]
        [design]
        method = "grid"
        override_scenarios = true
        [design.parameters]
        "collection.tone.harshness" = [0.3, 0.7]
    """)
    p = make_plan(spec)
    assert {(j.scenario, j.params.collection.tone.harshness) for j in p.jobs} == {
        ("baseline", 0.3), ("baseline", 0.7), ("humane_visits", 0.3), ("humane_visits", 0.7)}
    # the new key at its default leaves the hash of an existing sweep as it was
    plain = write_spec(tmp_path, "p.toml", "borrowers = 200\n[design]\nmethod = \"grid\"\n[design.parameters]\n"
                                            "\"collection.visits.start_dpd\" = [30]\n")
    pp = make_plan(plain)
    import hashlib

    old = pp.spec.model_dump(mode="json")
    del old["design"]["override_scenarios"]
    del old["posterior"]  # added later too (posterior draws), likewise
    del old["design"]["include"]  # added later still, and likewise left out at its default
    doc = {"spec": old, "scenarios": pp.scenario_trees}
    assert pp.spec_hash == hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def test_scenario_error_survives_pickling():
    import pickle

    from sim.scenario import ScenarioError

    e = pickle.loads(pickle.dumps(ScenarioError("f.toml", "a.b", "a number")))
    assert (e.source, e.key, e.expected, str(e)) == ("f.toml", "a.b", "a number", "f.toml: a.b: a number")


def test_a_full_disk_is_one_line_and_keeps_the_finished_runs(tmp_path, monkeypatch):
    import errno

    import sim.store

    spec = write_spec(tmp_path, "small.toml", SMALL_SPEC)
    out = tmp_path / "out"
    real = sim.store.atomic_write_bytes
    calls = {"n": 0}

    def filling_up(path, data):
        if "summaries" in str(path):
            calls["n"] += 1
            if calls["n"] > 2:  # the disk fills up during the third run's summary
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(sim.store, "atomic_write_bytes", filling_up)
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert "No space left on device" in lines[-1] and "2 runs finished so far are kept" in lines[-1]
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    monkeypatch.undo()
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--serial"])
    assert res.exit_code == 0, res.output
    assert "1 runs done, 2 already finished" in res.stdout
    assert_complete(out, make_plan(spec))


def test_extend_adds_replicates_and_scenarios_and_only_runs_the_new_runs(tmp_path):
    small = write_spec(tmp_path, "a.toml", TINY_SPEC.replace("replicates = 2", "replicates = 1"))
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(small), "--out", str(out), "--serial"]).exit_code == 0
    first = ResultStore(out).finished()
    assert len(first) == 1
    before = _snapshot(out)

    bigger = write_spec(tmp_path, "b.toml", TINY_SPEC + '    scenarios = [{file = "baseline"}, {file = "reminders_only"}]\n')
    res = credsim("sweep", bigger, "--out", out, "--serial")  # without --extend: refused, with a hint
    assert res.returncode == 2 and "different sweep" in one_line(res.stderr) and "--extend" in res.stderr
    assert _snapshot(out) == before

    res = credsim("sweep", bigger, "--out", out, "--serial", "--extend")
    assert res.returncode == 0, res.stderr
    assert "resuming: 1 of 4 runs already finished" in res.stderr
    store = ResultStore(out)
    assert len(store.finished()) == 4 and first <= store.finished()
    m = store.manifest()
    (ext,) = m["extensions"]
    assert ext["replicates"] == [1, 2] and ext["scenarios_added"] == ["reminders_only"]
    assert m["spec_hash"] == make_plan(bigger).spec_hash

    # the extended sweep holds exactly what the bigger sweep computes in one go
    whole = tmp_path / "whole"
    assert runner.invoke(app, ["sweep", str(bigger), "--out", str(whole), "--serial"]).exit_code == 0
    for run_id in store.finished():
        a = pd.read_parquet(out / "summaries" / f"{run_id}.parquet")
        b = pd.read_parquet(whole / "summaries" / f"{run_id}.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # and its plan of runs, which the results commands read: the added scenario is compared too
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), pd.read_parquet(whole / "runs.parquet"))
    shown = json.loads(credsim("compare", out, "--json").stdout)
    assert {r["scenario"] for r in shown["results"]} == {"baseline", "reminders_only"}

    # --extend is not a licence to change anything else
    other = write_spec(tmp_path, "c.toml", TINY_SPEC.replace("days = 20", "days = 25"))
    before = _snapshot(out)
    res = credsim("sweep", other, "--out", out, "--serial", "--extend")
    assert res.returncode == 2 and "changes more" in one_line(res.stderr)
    assert _snapshot(out) == before
