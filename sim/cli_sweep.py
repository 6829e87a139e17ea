"""`credsim sweep`: many runs from a spec, on local workers or a Dask cluster, resumable."""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_common import Progress, SchedulerOption, SerialOption, WorkersOption, _check_out, _interactive, app, bad_input
from .scenario import ScenarioError


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="The sweep spec (TOML).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Results folder (created; rerun to resume).")],
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    serial: SerialOption = False,
    allow_large: Annotated[
        bool, typer.Option("--allow-large", help="Run a plan of more than 100,000 runs (refused otherwise).")
    ] = False,
    allow_code_change: Annotated[
        bool, typer.Option("--allow-code-change",
                           help="Resume a sweep whose finished runs ran other model code (recorded in manifest.json).")
    ] = False,
    extend: Annotated[
        bool, typer.Option("--extend",
                           help="Add replicates or scenarios to a finished sweep in DIR: only the new runs run, "
                                "the extension is recorded in manifest.json; a spec that changes anything else is refused.")
    ] = False,
    posterior: Annotated[
        Optional[Path], typer.Option("--posterior", metavar="FILE",
                                     help="Run every scenario under parameter sets drawn from this posterior.parquet "
                                          "(credsim calibrate --method abc); replaces the spec's [posterior] file.")
    ] = None,
    draws: Annotated[
        Optional[int], typer.Option("--draws", metavar="N",
                                    help="Posterior draws (parameter sets) per scenario; replaces the spec's "
                                         "[posterior] draws [default: the spec's, else 10].")
    ] = None,
    ci_target: Annotated[
        Optional[list[str]], typer.Option("--ci-target", metavar="KEY=HALFWIDTH",
                                          help="Add replicates (as --extend does, recorded) until every scenario's 95% "
                                               "interval of KEY is at most 2 x HALFWIDTH wide, or --max-replicates "
                                               "(repeatable).")
    ] = None,
    max_replicates: Annotated[
        Optional[int], typer.Option("--max-replicates", metavar="N", min=1,
                                    help="With --ci-target: the most replicates per scenario [default: 4 x the spec's].")
    ] = None,
) -> None:
    """Run every scenario x design point (x posterior draw) x replicate of SPEC into DIR; a rerun skips finished runs."""
    from .execute import ExecutorError, default_workers, run_sweep
    from .store import DifferentSweep, ResultStore
    from .sweep import plan as make_plan, posterior_changes

    if serial and scheduler:
        bad_input(ScenarioError("--serial", "--scheduler", "one executor: --serial or --scheduler, not both"))
    if serial and workers is not None:
        bad_input(ScenarioError("--serial", "--workers", "one process (--serial) or --workers N, not both"))
    try:
        cli_changes = posterior_changes(spec, posterior, draws) or None
        targets = {}
        if ci_target:
            from .optimize import parse_ci_target
            targets = dict(parse_ci_target(t) for t in ci_target)
        elif max_replicates is not None:
            raise ScenarioError("--max-replicates", str(max_replicates), "used only with --ci-target KEY=HALFWIDTH")
        plan = make_plan(spec, allow_large=allow_large, changes=cli_changes)
        if targets and max_replicates is not None and max_replicates < plan.spec.replicates:
            raise ScenarioError("--max-replicates", str(max_replicates),
                                f"at least the spec's {plan.spec.replicates} replicates")
        _check_out(out)
        store = ResultStore(out)
        if targets:  # a rerun of an adaptive sweep resumes at the replicates it had reached
            from .optimize import recorded_replicates
            reached = min(max_replicates or 4 * plan.spec.replicates, recorded_replicates(store))
            if reached > plan.spec.replicates:
                plan = make_plan(spec, allow_large=allow_large, changes={**(cli_changes or {}), "replicates": reached})
                extend = True
        store.check(plan, allow_code_change=allow_code_change, extend=extend)
    except ScenarioError as e:
        bad_input(e)
    except DifferentSweep as e:
        bad_input(ScenarioError("--out", str(out), f"a new folder or this sweep's own results: {e}"))

    executor = "serial" if serial else ("dask" if scheduler else "local")
    n_workers = 1 if serial else (workers or default_workers())
    where = {"serial": "in this process", "local": f"on {n_workers} local worker(s)", "dask": f"on the Dask cluster at {scheduler}"}
    progress = Progress("runs", interactive=_interactive())

    def on_start(total: int, skipped: int) -> None:
        # once the executor is up (a scheduler that cannot be reached is one line of bad input)
        drawn = f"{plan.spec.posterior.draws} posterior draw(s) x " if plan.posterior is not None else ""
        progress.print(f"sweep '{plan.spec.name}': {len(plan.jobs)} runs ({len({j.scenario for j in plan.jobs})} scenario(s) x "
                       f"{len({j.point for j in plan.jobs})} point(s) x {drawn}{plan.spec.replicates} replicate(s)) "
                       f"{where[executor]} -> {out}")
        if skipped:
            progress.print(f"resuming: {skipped} of {total} runs already finished")
        progress.start(total, skipped)

    def on_result(job, ok: bool) -> None:
        if not ok:
            progress.print(f"run {job.run_id} failed (see {out / 'failures' / (job.run_id + '.json')})")
        progress.update(advance=1, failed=progress.failed + (not ok))

    def on_damaged(run_ids: list[str]) -> None:
        progress.print(f"{len(run_ids)} finished run(s) had damaged files (unreadable, truncated or empty) and will be "
                       f"redone: {', '.join(run_ids[:5])}{' ...' if len(run_ids) > 5 else ''}")

    kwargs = dict(executor=executor, workers=n_workers, scheduler=scheduler, on_start=on_start, on_result=on_result,
                  on_damaged=on_damaged, allow_code_change=allow_code_change, extend=extend)
    def run(**kw):
        if not targets:
            return run_sweep(plan, store, **kw)
        from .optimize import adaptive_sweep
        kw.pop("workers"), kw.pop("executor"), kw.pop("scheduler"), kw.pop("extend")
        done = adaptive_sweep(spec, out, targets, max_replicates or 4 * plan.spec.replicates, executor=executor,
                              workers=n_workers, scheduler=scheduler, changes=cli_changes, allow_large=allow_large,
                              log=progress.print, **kw)
        return done["outcome"]

    try:
        with progress, _terminate_as_interrupt():
            outcome = run(**kwargs)
        finished = len(store.finished())
    except ExecutorError as e:  # raised before anything is written
        bad_input(ScenarioError("--scheduler", scheduler or "", str(e)))
    except DifferentSweep as e:  # another sweep holds the folder
        bad_input(ScenarioError("--out", str(out), f"a folder no other sweep is writing to: {e}"))
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (a scheduler ending the job): what finished is kept
        how = "terminated" if isinstance(e, Terminated) else "interrupted"
        typer.echo(f"\n{how}: {len(store.finished())} of {len(plan.jobs)} runs finished and kept in {out}; "
                   "rerun the same command to resume", err=True)
        sys.exit(143 if isinstance(e, Terminated) else 130)
    except OSError as e:  # a full disk, a folder that cannot be written: what finished is kept
        where = e.filename or out
        typer.echo(f"{out}: cannot write {where} ({e.strerror or e}); the {len(store.finished())} runs finished so far "
                   "are kept: fix it and rerun the same command to resume", err=True)
        sys.exit(1)
    typer.echo(
        f"{outcome.done} runs done, {outcome.skipped} already finished, {outcome.failed} failed, in {outcome.seconds:.1f} s; "
        f"{finished}/{outcome.planned} runs finished in {out}"
    )
    if outcome.failed or finished < outcome.planned:
        typer.echo(f"{outcome.planned - finished} run(s) not finished: see {out / 'failures'}; rerun to retry them", err=True)
        sys.exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM during a sweep: ended like an interrupt (the workers stopped, what finished kept)."""


@contextmanager
def _terminate_as_interrupt():
    """While the runs run, SIGTERM (what a cluster scheduler or `kill` sends) raises :class:`Terminated`,
    so the sweep ends as after Ctrl-C: its workers are stopped and it says what is kept (exit 143),
    instead of dying at once with its worker pool's semaphores reported leaked."""
    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave SIGTERM as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
