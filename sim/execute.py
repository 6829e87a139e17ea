"""Running a sweep's jobs: in this process, in local worker processes, or on a Dask cluster.

Every executor calls the same worker function, :func:`execute_run`, which calls :func:`sim.run` and
returns plain data; the calling process writes each result as it arrives (:mod:`sim.store`). At most
a few jobs per worker are in flight at once, so memory stays flat however long the sweep.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from .runner import run


def execute_run(job) -> dict:
    """Run one job; never raises: a failure comes back as data."""
    try:
        res = run(job.params, seed=job.seed)
        return {"ok": True, "summary": res.summary, "daily": res.daily, "vintages": res.vintages}
    except Exception as e:  # noqa: BLE001 - a failing run is recorded, the sweep carries on
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def _serial(jobs: list, workers: int, scheduler: str | None) -> Iterator[tuple]:
    for job in jobs:
        yield job, execute_run(job)


def _bounded(submit: Callable, wait_any: Callable, jobs: list, in_flight: int) -> Iterator[tuple]:
    """Submit jobs keeping at most ``in_flight`` pending; yield (job, result) as they finish."""
    pending: dict = {}
    it = iter(jobs)
    for job in it:
        pending[submit(job)] = job
        if len(pending) >= in_flight:
            break
    while pending:
        for fut in wait_any(list(pending)):
            job = pending.pop(fut)
            yield job, fut.result()
            nxt = next(it, None)
            if nxt is not None:
                pending[submit(nxt)] = nxt


def _local(jobs: list, workers: int, scheduler: str | None) -> Iterator[tuple]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield from _bounded(
            lambda j: pool.submit(execute_run, j),
            lambda fs: wait(fs, return_when=FIRST_COMPLETED).done,
            jobs,
            in_flight=2 * workers,
        )


def _dask(jobs: list, workers: int, scheduler: str | None) -> Iterator[tuple]:
    try:
        from distributed import Client
        from distributed import wait as dwait
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise RuntimeError("--scheduler needs Dask: pip install 'credsim[cluster]'") from e
    with Client(scheduler, timeout="20s") as client:
        n = max(1, len(client.scheduler_info().get("workers", {})))
        yield from _bounded(
            lambda j: client.submit(execute_run, j, pure=False),
            lambda fs: dwait(fs, return_when="FIRST_COMPLETED").done,
            jobs,
            in_flight=2 * n,
        )


EXECUTORS = {"serial": _serial, "local": _local, "dask": _dask}


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
) -> Outcome:
    """Run every job of ``plan`` not yet finished in ``store``; write each result as it comes."""
    store.check(plan)
    finished = store.finished()
    todo = [j for j in plan.jobs if j.run_id not in finished]
    store.begin(plan, executor if executor != "dask" else f"dask {scheduler}")
    if on_start:
        on_start(len(plan.jobs), len(plan.jobs) - len(todo))
    workers = max(1, workers or default_workers())
    start = time.monotonic()
    done = failed = 0
    results: Iterable[tuple] = EXECUTORS[executor](todo, workers, scheduler) if todo else ()
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
