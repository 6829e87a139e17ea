"""Running a sweep's jobs: in this process, in local worker processes, or on a Dask cluster.

Every executor calls the same worker function, :func:`execute_run`, which calls :func:`sim.run` and
returns plain data (the run's Parquet files, encoded where it ran); the calling process writes each
result as it arrives (:mod:`sim.store`). A calibration (:mod:`sim.calibrate`) needs only each run's
summary: it opens the same executors with :func:`execute_summary` (:func:`open_executor`); studies
whose runs return something else call :func:`run_each`. At most a few jobs per worker are in flight at once, so
memory stays flat however long the sweep. A run that raises, or whose worker dies, comes back as a
failure and the sweep goes on. Executors are context managers: a Dask scheduler is connected (or the
connection refused, :class:`ExecutorError`) before the results folder is touched.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from .metrics import UndefinedMetricWarning
from .store import encode_run


def run(params, seed: int):
    """:func:`sim.run`, imported on first use: the sweep process itself needs Mesa only for ``--serial``."""
    from .runner import run as run_model

    return run_model(params, seed=seed)


def execute_run(job) -> dict:
    """Run one job; never raises: a failure comes back as data.

    A finished run comes back as its encoded Parquet files (:func:`sim.store.encode_run`): the same
    bytes whichever process ran it, and the process that writes them has only bytes to write.
    """
    try:
        with warnings.catch_warnings():  # an undefined metric is NaN in the summary; no warning per run
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            res = run(job.params, seed=job.seed)
        out = {"summary": res.summary, "daily": res.daily, "vintages": res.vintages, "loans": res.loans,
               "roll": res.roll_matrix}
        return {"ok": True, "files": encode_run(job, out)}
    except Exception as e:  # noqa: BLE001 - a failing run is recorded, the sweep carries on
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def execute_summary(job) -> dict:
    """Run one job and return only its summary (what a calibration's objective needs); never raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            res = run(job.params, seed=job.seed)
        return {"ok": True, "summary": res.summary}
    except Exception as e:  # noqa: BLE001 - reported to the caller as data, like execute_run
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def _lost(e: BaseException) -> dict:
    """The result of a run whose worker died, or that the executor could not run."""
    return {"ok": False, "error": f"the run's worker failed: {type(e).__name__}: {e}",
            "traceback": "".join(traceback.format_exception(e))}


#: How often a run whose worker died is tried again before it is recorded as failed. A worker killed
#: from outside (the out-of-memory killer, an operator) takes every run in flight on its pool with it;
#: those runs did nothing wrong. A run that kills its worker each time is a failure of its own.
RETRIES = 2


def _bounded(submit: Callable, wait_any: Callable, jobs: list, capacity: Callable[[], int]) -> Iterator[tuple]:
    """Submit jobs keeping at most ``capacity()`` pending; yield (job, result) as they finish.

    A future that raises (its worker died, or the pool broke under it) is submitted again, up to
    ``RETRIES`` times; then it yields a failure result for its job. The sweep goes on.
    """
    pending: dict = {}
    tries: dict = {}
    it = iter(jobs)
    exhausted = False

    def top_up() -> None:
        nonlocal exhausted
        limit = max(1, capacity())
        while not exhausted and len(pending) < limit:
            job = next(it, None)
            if job is None:
                exhausted = True
                return
            pending[submit(job)] = job

    top_up()
    while pending:
        for fut in wait_any(list(pending)):
            job = pending.pop(fut)
            try:
                out = fut.result()
            except Exception as e:  # noqa: BLE001 - a dead worker fails its run, not the sweep
                tries[job.run_id] = tries.get(job.run_id, 0) + 1
                if tries[job.run_id] <= RETRIES:
                    pending[submit(job)] = job  # on a fresh pool (``submit`` rebuilds a broken one)
                    continue
                out = _lost(e)
            yield job, out
        top_up()


@contextmanager
def _serial(workers: int, scheduler: str | None, fn: Callable = execute_run):
    yield lambda jobs: ((job, fn(job)) for job in jobs)


#: The environment of local worker processes, as Dask's nanny sets it for its workers
#: (``distributed.nanny.pre-spawn-environ``): one BLAS/OpenMP thread per worker. Several workers each
#: with a pool of BLAS threads oversubscribe the cores (idle OpenBLAS threads spin). (The model itself
#: avoids BLAS reductions such as ``np.dot``, whose summation order depends on the thread count, so
#: results do not depend on the executor either way.)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def _worker_environ():
    """``WORKER_ENV`` in ``os.environ`` while worker processes, or the server they are forked from, may
    be started (they inherit it)."""
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _local(workers: int, scheduler: str | None, fn: Callable = execute_run):
    with _worker_environ(), _local_pool(workers, fn) as execute:
        yield execute


#: what a local worker needs imported before its first job: the forkserver imports it once
PRELOAD = ["sim.runner", "sim.execute"]


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context of local worker processes (sweeps, calibrations, the experiments' pools).

    ``forkserver`` where the platform has it (Linux, macOS): a server process, started once per process
    that runs pools, imports the model (:data:`PRELOAD`) with :data:`WORKER_ENV`, and forks every worker
    from itself, so a worker is ready in milliseconds instead of importing the model again (about 1.5 s
    of CPU each with ``spawn``), and a pool rebuilt after a worker died, or the next pool of a
    calibration, starts at once. Elsewhere ``spawn``. Never ``fork`` of the calling process itself: it
    may run threads (a progress bar, a Dask client; ``import mesa`` makes ``spawn`` the default anyway).
    Either way a worker starts from a fresh interpreter (with the model imported, under the forkserver)
    and receives the caller's ``sys.path`` and working folder with each process, so results do not
    depend on the start method (tests/test_reproducibility.py).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    with _worker_environ():  # the server's environment is every worker's
        ctx.set_forkserver_preload(PRELOAD)
        from multiprocessing import forkserver

        forkserver.ensure_running()
    return ctx


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _exit_with_owner(owner: int) -> None:
    """Initializer of a local worker process: the worker ends when ``owner``, the process running the
    pool, dies.

    A sweep killed with SIGKILL (or SIGTERM, as a cluster scheduler ends a job) cannot shut its pool
    down, and its idle workers would wait for work forever. A worker's parent is the forkserver
    (:func:`worker_context`), which exits when the process that started it dies (or, with ``spawn``,
    that process itself). On Linux the kernel sends the worker SIGKILL when its parent dies
    (``PR_SET_PDEATHSIG``); everywhere, a watchdog thread ends the worker once it has been handed to
    another parent or the owner is gone.
    """
    import signal
    import sys
    import threading

    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent or not _alive(owner):  # died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent and _alive(owner):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="credsim-parent-watch", daemon=True).start()


@contextmanager
def _local_pool(workers: int, fn: Callable = execute_run):
    ctx = worker_context()

    def pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_exit_with_owner,
                                   initargs=(os.getpid(),))

    pools = [pool()]

    def submit(job):
        try:
            return pools[-1].submit(fn, job)
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): carry on with a new pool
            pools[-1].shutdown(wait=False, cancel_futures=True)
            pools.append(pool())
            return pools[-1].submit(fn, job)

    try:
        yield lambda jobs: _bounded(submit, lambda fs: wait(fs, return_when=FIRST_COMPLETED).done, jobs,
                                    lambda: 2 * workers)
    except BaseException:  # an interrupt (SIGINT to this process alone, as `kill -INT` or `timeout` send it) or
        # an error: stop the workers instead of waiting for their runs. Waiting could hang for good: an
        # interrupt that lands inside the pool's own queue handling leaves workers that never get the
        # sentinel telling them to exit, and the exit of this process waits for them.
        for pool in pools:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.kill()
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


#: how long to keep trying to reach a Dask scheduler before giving up (a Dask duration)
CONNECT_TIMEOUT = "20s"


class ExecutorError(RuntimeError):
    """The executor cannot start (no Dask installed, the scheduler cannot be reached)."""


@contextmanager
def _dask(workers: int, scheduler: str | None, fn: Callable = execute_run):
    try:
        from distributed import Client
        from distributed import wait as dwait
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise ExecutorError("Dask installed: pip install 'credsim[cluster]'") from None
    # Connect before anything is written.
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError) as e:
        raise ExecutorError(f"a reachable Dask scheduler ({type(e).__name__}: {e})") from None
    with client:
        last = {"t": -1.0, "n": 1}

        def capacity() -> int:
            # two runs in flight per worker thread, re-read now and then as workers come and go
            if time.monotonic() - last["t"] > 2.0:
                last["n"] = max(1, sum(client.nthreads().values()))
                last["t"] = time.monotonic()
            return 2 * last["n"]

        yield lambda jobs: _bounded(
            lambda j: client.submit(fn, j, pure=False, key=f"credsim-{j.run_id}-{os.urandom(4).hex()}"),
            lambda fs: dwait(fs, return_when="FIRST_COMPLETED").done,
            jobs,
            capacity,
        )


EXECUTORS = {"serial": _serial, "local": _local, "dask": _dask}


def open_executor(executor: str = "local", workers: int | None = None, scheduler: str | None = None,
                  fn: Callable = execute_run):
    """A context manager giving ``execute(jobs)``: an iterator of ``(job, result)`` as runs finish (not
    in job order), ``fn(job)`` computing each result (:func:`execute_run` or :func:`execute_summary`).
    The executor stays open, its worker processes alive, for every call until the context ends."""
    return EXECUTORS[executor](max(1, workers or default_workers()), scheduler, fn)


class RunFailed(RuntimeError):
    """A model run failed where its result was needed (a calibration's objective, an optimisation's trial,
    a call of :func:`run_each`): the message holds the worker's error."""


@dataclass(frozen=True)
class Task:
    """One call ``fn(item)`` of :func:`run_each`; ``run_id`` is the item's place in the list."""

    run_id: int
    fn: Callable
    item: object


def execute_task(task: Task) -> dict:
    """Worker function of :func:`run_each`: ``task.fn(task.item)``; never raises, like :func:`execute_run`."""
    try:
        return {"ok": True, "value": task.fn(task.item)}
    except Exception as e:  # noqa: BLE001 - reported to the caller as data
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def gather(execute: Callable, jobs: list, failed: Callable[[object, dict], str]) -> list[dict]:
    """Every job's result from an open executor's ``execute`` (:func:`open_executor`), in the jobs' order
    (``execute`` yields them as they finish). The first failed run raises :class:`RunFailed` with the
    message ``failed(job, result)``."""
    done: dict = {}
    for job, res in execute(jobs):
        if not res["ok"]:
            raise RunFailed(failed(job, res))
        done[job.run_id] = res
    return [done[job.run_id] for job in jobs]


def run_each(fn: Callable, items: Iterable, *, workers: int | None = None, executor: str = "local",
             scheduler: str | None = None) -> list:
    """``[fn(item) for item in items]``, computed by the executors sweeps use: local worker processes by
    default, which end when this process does, with a run whose worker died tried again
    (:data:`RETRIES`). For studies whose runs return something other than a sweep's files (the
    experiments' and tests' paired comparisons). ``fn`` must be importable by the workers (a function
    at the top of a module) and each result picklable. The first call that raises stops the rest:
    :class:`RunFailed`, with its traceback."""
    tasks = [Task(i, fn, item) for i, item in enumerate(items)]
    with open_executor(executor, workers, scheduler, fn=execute_task) as execute:
        done = gather(execute, tasks, lambda task, res: f"{getattr(fn, '__name__', fn)}({task.item!r}) failed: "
                                                        f"{res['error']}\n{res['traceback']}")
    return [res["value"] for res in done]


@dataclass
class Outcome:
    planned: int
    skipped: int
    done: int
    failed: int
    seconds: float


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_sweep(
    plan,
    store,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Callable[[object, bool], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_damaged: Callable[[list[str]], None] | None = None,
    allow_code_change: bool = False,
    extend: bool = False,
) -> Outcome:
    """Run every job of ``plan`` not yet finished in ``store``; write each result as it comes.

    The folder is locked for this sweep (a second sweep into it raises :class:`sim.store.SweepLocked`).
    Finished runs whose files are damaged (unreadable, truncated, empty) are redone: ``on_damaged``
    hears which. The executor is opened (a Dask scheduler connected) before anything is written, and
    only when there is something to run. ``on_start(total, skipped)`` is called once,
    ``on_result(job, ok)`` after each run is stored.
    """
    store.check(plan, allow_code_change=allow_code_change, extend=extend)
    with store.lock():
        return _run_locked(plan, store, executor, workers, scheduler, on_result, on_start, on_damaged)


def _run_locked(plan, store, executor, workers, scheduler, on_result, on_start, on_damaged) -> Outcome:
    damaged = store.damaged(plan)
    if damaged:
        store.unfinish(damaged)
        if on_damaged:
            on_damaged(damaged)
    finished = store.finished()
    todo = [j for j in plan.jobs if j.run_id not in finished]
    workers = max(1, workers or default_workers())
    start = time.monotonic()
    done = failed = 0
    with EXECUTORS[executor](workers, scheduler) if todo else _serial(workers, scheduler) as execute:
        store.begin(plan, executor if executor != "dask" else f"dask {scheduler}")
        if on_start:
            on_start(len(plan.jobs), len(plan.jobs) - len(todo))
        results: Iterable[tuple] = execute(todo)
        for job, out in results:
            if out["ok"]:
                store.write_run(job, out)
                done += 1
            else:
                store.write_failure(job, out)
                failed += 1
            if on_result:
                on_result(job, out["ok"])
    store.end(done, failed)
    return Outcome(len(plan.jobs), len(plan.jobs) - len(todo), done, failed, time.monotonic() - start)
