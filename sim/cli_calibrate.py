"""`credsim calibrate`: fit parameters to target figures (method of simulated moments), write a scenario."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_common import SchedulerOption, WorkersOption, _check_out, app, bad_input, warnings_as_lines
from .scenario import ScenarioError


@app.command()
def calibrate(
    targets: Annotated[Path, typer.Argument(metavar="TARGETS", help="The targets file (TOML).", show_default=False)],
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", metavar="DIR", help="Where to write (default: results/calibration/NAME)."),
    ] = None,
    workers: WorkersOption = None,
    docs: Annotated[
        bool, typer.Option("--docs", help="Also write the validation table into docs/ODD.md (its 'validation' region).")
    ] = False,
    odd: Annotated[
        Optional[Path], typer.Option("--odd", metavar="FILE", help="The ODD file --docs writes (default: docs/ODD.md).")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="msm: simulated moments (a point estimate); abc: ABC-SMC (a posterior, sim/abc.py).")
    ] = "msm",
    scheduler: SchedulerOption = None,
    install: Annotated[
        bool, typer.Option("--install", help="Make the fit the baseline: its values into scenarios/baseline.toml, its "
                                             "record into experiments/calibration/, its table into docs/ODD.md.")
    ] = False,
) -> None:
    """Fit the parameters of TARGETS to its target figures; write calibrated.toml, fit.json, validation.md."""
    from . import calibrate as cal
    from .docs import ODD_PATH

    if method not in ("msm", "abc"):
        bad_input(ScenarioError("--method", method, "msm or abc"))
    odd_path = odd or ODD_PATH
    if method == "abc":
        if docs and not install:
            bad_input(ScenarioError("--docs", "--method abc", "--docs with --install (the installed fit is the "
                                                              "one docs/ODD.md shows), or python -m sim.docs --fit"))
        if install:
            try:
                cal.check_docs(odd_path)
            except ScenarioError as e:
                bad_input(e)
        from .abc import command

        out_dir = command(targets, out, workers, scheduler)
        if install:
            _install(out_dir, odd_path)
        return None
    try:
        problem = cal.load_targets(targets)
        if problem.spec.abc:  # its [abc] table is checked whichever method runs, as `credsim validate` does
            from .abc import load as load_abc

            load_abc(targets)
        out_dir = out if out is not None else Path("results") / "calibration" / problem.name
        _check_out(out_dir)
        if docs or install:
            cal.check_docs(odd_path)
    except ScenarioError as e:
        bad_input(e)

    def log(line: str) -> None:
        typer.echo(line, err=True)

    sc, spec = problem.base, problem.spec
    from .execute import ExecutorError

    from .analysis import SingleReplicateWarning

    try:
        with warnings_as_lines(SingleReplicateWarning), \
                cal.Runner(workers, "dask" if scheduler else None, scheduler).open() as runner:
            log(f"calibrate '{problem.name}': {len(problem.keys)} parameter(s), {len(spec.targets)} target(s) on "
                f"'{sc.name}'; {spec.replicates} replicate(s) of {sc.population.borrowers:,} people x {sc.simulation.days} "
                f"days per evaluation; {spec.optimizer.method}, at most {spec.optimizer.max_evaluations} evaluations; "
                f"{runner.workers} worker(s) -> {out_dir}")
            fit = cal.calibrate(problem, runner, log)
            log(f"{fit.message}; best: evaluation {fit.best.n}, objective {fit.best.objective:.5g} ({fit.seconds:.0f} s)")
            for k, v in fit.fitted.items():
                log(f"  {k} = {v:.6g}  (base {problem.base_values[k]:.6g})")
            n = len(problem.validation_seeds)
            t0 = time.monotonic()
            if n:
                log(f"validation: the fit and the base scenario, {n} fresh replicate(s) each")
            val = cal.validate(problem, fit.fitted, runner)
            if n:
                log(f"validation done ({time.monotonic() - t0:.0f} s)")
    except ExecutorError as e:
        bad_input(ScenarioError("--scheduler", scheduler or "", str(e)))
    try:
        with warnings_as_lines(SingleReplicateWarning):
            paths = cal.write_outputs(fit, val, out_dir)
            table = cal.validation_table(fit, val)
    except OSError as e:
        bad_input(ScenarioError("--out", str(out_dir), f"a directory that can be written ({e.strerror or e})"))
    typer.echo(table)
    typer.echo("")
    typer.echo(f"wrote {', '.join(str(p) for p in paths)}")
    if docs and not install:
        changed = cal.write_docs(table, odd_path)
        typer.echo(f"{odd_path}: validation table {'updated' if changed else 'already up to date'}")
    if install:
        _install(out_dir, odd_path)


def _install(out_dir: Path, odd_path: Path) -> None:
    """The fit in ``out_dir`` becomes the baseline; docs/ODD.md's validation table is read from its record."""
    from . import calibrate as cal
    from .docs import validation_from_fit

    try:
        paths = cal.install(out_dir)
    except ScenarioError as e:
        bad_input(e)
    typer.echo(f"installed: {', '.join(str(p) for p in paths)}")
    changed = cal.write_docs(validation_from_fit(cal.FIT_DIR / "fit.json"), odd_path)
    typer.echo(f"{odd_path}: validation table {'updated' if changed else 'already up to date'}")
