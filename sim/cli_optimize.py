"""`credsim optimize` (multi-objective search over levers, sim/optimize.py) and `credsim discover` (PRIM and
a decision tree on a sweep or optimisation folder, sim/discover.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_common import Progress, SchedulerOption, SerialOption, WorkersOption, _check_out, _interactive, app, bad_input
from .scenario import ScenarioError


@app.command()
def optimize(
    spec: Annotated[Path, typer.Argument(help="The optimisation spec (TOML; see sim/optimize.py).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Study folder (created; rerun to resume).")],
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    serial: SerialOption = False,
    trials: Annotated[
        Optional[str], typer.Option("--trials", metavar="N", help="Trials in all (default: the spec's); raise it to continue.")
    ] = None,
    ci_target: Annotated[
        Optional[list[str]], typer.Option("--ci-target", metavar="KEY=HALFWIDTH",
                                          help="Add replicates to a trial until the 95% interval of KEY is at most "
                                               "2 x HALFWIDTH wide, or max_replicates (repeatable).")
    ] = None,
) -> None:
    """Search the spec's levers for the strategies on the Pareto front of its objectives, across its futures."""
    from . import optimize as opt
    from .execute import ExecutorError, default_workers, execute_summary, open_executor

    if serial and scheduler:
        bad_input(ScenarioError("--serial", "--scheduler", "one executor: --serial or --scheduler, not both"))
    if serial and workers is not None:
        bad_input(ScenarioError("--serial", "--workers", "one process (--serial) or --workers N, not both"))
    try:
        changes = {}
        if trials is not None:
            try:
                n = int(trials)
            except ValueError:
                n = 0
            if n < 1:
                raise ScenarioError("--trials", trials, "a whole number >= 1")
            changes["trials"] = n
        if ci_target:
            changes["ci_target"] = dict(opt.parse_ci_target(t) for t in ci_target)
        problem = opt.load(spec, changes or None)
        _check_out(out)
        opt.check_out(out, problem)
    except ScenarioError as e:
        bad_input(e)

    executor = "serial" if serial else ("dask" if scheduler else "local")
    n_workers = 1 if serial else (workers or default_workers())
    where = {"serial": "in this process", "local": f"on {n_workers} local worker(s)",
             "dask": f"on the Dask cluster at {scheduler}"}[executor]
    p = problem.spec
    total = p.trials
    typer.echo(f"optimize '{p.name}': {total} trials ({p.sampler}, {p.population} per generation) x "
               f"{len(problem.futures)} future(s) x {p.replicates} replicate(s), {len(problem.levers)} lever(s), "
               f"{len(problem.objectives)} objective(s) {where} -> {out}", err=True)
    progress = Progress("trials", interactive=_interactive(), failures=False)
    try:
        with open_executor(executor, n_workers, scheduler, fn=execute_summary) as execute, progress:
            result = opt.optimize(problem, out, execute, log=progress.print,
                                  on_start=lambda done, total: progress.start(total, done),
                                  on_trial=lambda done, total: progress.update(done=done, total=total))
    except ExecutorError as e:
        bad_input(ScenarioError("--scheduler", scheduler or "", str(e)))
    except opt.RunFailed as e:
        typer.echo(f"{out}: {e}; the trials told so far are kept in {out / opt.JOURNAL}: rerun to resume", err=True)
        sys.exit(1)
    obj = [o.key for o in problem.objectives]
    typer.echo(f"{len(result.trials)} trials ({result.told} told now, {result.resumed_from} before), "
               f"{int(result.trials.feasible.sum())} feasible, {len(result.pareto)} on the Pareto front, "
               f"{result.runs} runs in {result.seconds:.1f} s")
    for _, row in result.pareto.iterrows():
        vals = ", ".join(f"{k} {row[k]:.4g} [{row[f'{k}_ci_low']:.4g}, {row[f'{k}_ci_high']:.4g}]" for k in obj)
        typer.echo(f"  trial {int(row['trial'])}: {vals}  -> {row['scenario_file']}")
    typer.echo(f"wrote trials.parquet, pareto.parquet, pareto/*.toml and figures/ in {out}")


@app.command()
def discover(
    results: Annotated[Path, typer.Argument(help="A sweep or optimisation results folder.", show_default=False)],
    where: Annotated[str, typer.Option("--where", metavar="EXPR",
                                       help='The outcome of interest, e.g. "npv < 0" or "default_rate > 0.02".')],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Where to write [default: RESULTS/discover].")
    ] = None,
    min_density: Annotated[float, typer.Option("--min-density", min=0.0, max=1.0,
                                               help="The box reported: highest coverage at this density or more.")] = 0.8,
) -> None:
    """Scenario discovery: PRIM boxes and decision-tree rules for the runs or trials where EXPR holds."""
    from . import discover as disc

    target = out or Path(results) / "discover"
    try:
        cases = disc.load_cases(results)
        y = disc.cases_of_interest(cases, where)
        _check_out(target)
    except ScenarioError as e:
        bad_input(e)
    if not y.any() or y.all():
        typer.echo(f"--where: {where}: true for {'none' if not y.any() else 'all'} of the {len(y)} cases: nothing to "
                   "discover", err=True)
        sys.exit(1)
    d = disc.discover(results, where, min_density)
    for line in disc.report(d):
        typer.echo(line)
    files = disc.write(d, target)
    typer.echo(f"wrote {', '.join(f.name for f in files)} in {target}")
