"""The ``credsim`` command line: run a scenario, validate scenario files, list the shipped ones.

Bad input of any kind (a scenario file, ``--set``, ``--borrowers``, ``--days``, ``--seed``, ``--out``)
is reported as exactly one line on stderr, ``FILE: key.path: what was expected``, with exit code 2,
before anything is run or written.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .metrics import RATE_KEYS, SUMMARY, UndefinedMetricWarning
from .cli_common import EXIT_BAD_INPUT, _check_out, _interactive, app, bad_input, warnings_as_lines  # noqa: F401 (re-exported)
from .params import Scenario
from .scenario import ScenarioError, load_scenario, parse_assignment, shipped_scenarios, with_overrides

# --------------------------------------------------------------------------- input


def _whole_number(option: str, key: str, text: str, minimum: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ScenarioError(option, key, f"a whole number, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise ScenarioError(option, key, f"a whole number >= {minimum}, got {value}")
    return value


def prepare(
    scenario: str,
    borrowers: str | None = None,
    days: str | None = None,
    seed: str = "0",
    sets: list[str] | None = None,
    out: Path | None = None,
    burn_in: str | None = None,
) -> tuple[Scenario, int]:
    """Validate every input of ``run``; raise :class:`ScenarioError` on the first problem."""
    sc = load_scenario(scenario)
    overrides: dict[str, Any] = {}
    for text in sets or []:
        key, value = parse_assignment(text)
        overrides[key] = value
    if overrides:
        sc = with_overrides(sc, overrides, "--set", strict=True)
    if borrowers is not None:
        n = _whole_number("--borrowers", "population.borrowers", borrowers)
        sc = with_overrides(sc, {"population.borrowers": n}, "--borrowers", strict=True)
    if days is not None:
        d = _whole_number("--days", "simulation.days", days)
        sc = with_overrides(sc, {"simulation.days": d}, "--days", strict=True)
    if burn_in is not None:
        b = _whole_number("--burn-in", "simulation.burn_in", burn_in)
        sc = with_overrides(sc, {"simulation.burn_in": b}, "--burn-in", strict=True)
    s = _whole_number("--seed", "seed", seed, minimum=0)
    if out is not None:
        _check_out(out)
    return sc, s


# --------------------------------------------------------------------------- output

_RATES = set(RATE_KEYS)
_MONEY = {k for k, definition in SUMMARY.items() if "(CU)" in definition}


def format_value(key: str, value: float | int) -> str:
    """A summary value for people: rates as %, money with thousands separators."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"  # undefined: the run cannot define this ratio
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if key in _RATES:
        return f"{value:.2%}"
    if key in _MONEY:
        return f"{value:,.2f} CU"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3f}"


def bytes_per_person(network_degree: int) -> int:
    """Bytes of model state per person: the per-person arrays of :class:`sim.state.People` and the
    social network (``network_degree`` ties of 4 bytes)."""
    from .state import People

    n = 64
    people = People(n)
    arrays = sum(v.nbytes for v in vars(people).values() if hasattr(v, "nbytes"))
    return arrays // n + 4 * network_degree


def out_of_memory(sc: Scenario) -> str:
    """What to say when a run of ``sc`` ran out of memory: roughly what it needs."""
    n = sc.population.borrowers
    need = n * bytes_per_person(sc.population.network_degree)
    return (f"a population that fits in memory: the run ran out of memory; {n:,} people need at least "
            f"{need / 1e9:,.1f} GB for their state ({bytes_per_person(sc.population.network_degree)} bytes each) "
            "and more while it runs; use fewer borrowers")


def _json_safe(summary: dict[str, Any]) -> dict[str, Any]:
    from .runner import json_summary

    return json_summary(summary)


def _print_table(sc: Scenario, seed: int, summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"{sc.name}: seed {seed}, {sc.population.borrowers:,} people, {sc.simulation.days:,} days measured "
        f"after a {sc.simulation.burn_in:,}-day burn-in"
    )
    console = Console()
    rows = [(key, format_value(key, value), SUMMARY.get(key, "")) for key, value in summary.items()]
    w_key, w_value = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    # metric and value never shrink; the definition gets what is left (if enough), cut with an ellipsis
    room = console.width - w_key - w_value - 10
    table = Table(title=title, title_justify="left")
    table.add_column("metric", no_wrap=True, min_width=w_key)
    table.add_column("value", justify="right", no_wrap=True, min_width=w_value)
    if room >= 20:
        table.add_column("definition", style="dim", no_wrap=True, overflow="ellipsis", max_width=room)
    for row in rows:
        table.add_row(*(row if room >= 20 else row[:2]))
    console.print(table)


def _progress_bar():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("day"),
        MofNCompleteColumn(),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


# --------------------------------------------------------------------------- commands


def _version(value: bool) -> None:
    if value:
        typer.echo(f"credsim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Agent-based simulation of consumer-credit delinquency and debt collection."""


ScenarioArg = Annotated[
    str, typer.Argument(help="A scenario file, or a shipped name (see `credsim scenarios`).", show_default=False)
]
_DEFAULT = Scenario()  # the parameters' declared defaults, for the help texts
_PEOPLE, _WINDOW, _BURN_IN = _DEFAULT.population.borrowers, _DEFAULT.simulation.days, _DEFAULT.simulation.burn_in
BorrowersOpt = Annotated[
    Optional[str], typer.Option("--borrowers", "-n", metavar="N",
                                help=f"People in the market (population.borrowers) [default: the scenario's; "
                                     f"{_PEOPLE:,} unless it says].")
]
DaysOpt = Annotated[
    Optional[str], typer.Option("--days", "-d", metavar="D",
                                help=f"Days of the measurement window (simulation.days) [default: the "
                                     f"scenario's; {_WINDOW} unless it says].")
]
BurnInOpt = Annotated[
    Optional[str], typer.Option("--burn-in", metavar="D",
                                help=f"Days simulated before the window, not measured (simulation.burn_in) "
                                     f"[default: the scenario's; {_BURN_IN} unless it says].")
]
SeedOpt = Annotated[str, typer.Option("--seed", "-s", metavar="S", help="Random seed (a whole number >= 0).")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a parameter, e.g. collection.visits.start_dpd=45 (repeatable; VALUE in TOML syntax).",
    ),
]
OutOpt = Annotated[
    Optional[Path], typer.Option("--out", "-o", metavar="DIR",
                                 help="Write daily, vintages, loans and roll (.parquet) and summary.json here.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the summary as one JSON object on stdout, nothing else.")
]


def _wrote(out: Path) -> str:
    from .runner import RUN_FILES

    return f"wrote {', '.join(RUN_FILES[:-1])} and {RUN_FILES[-1]} in {out}"


@app.command("run")
def run_command(
    scenario: ScenarioArg,
    borrowers: BorrowersOpt = None,
    days: DaysOpt = None,
    seed: SeedOpt = "0",
    sets: SetOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
    burn_in: BurnInOpt = None,
    meta: Annotated[bool, typer.Option("--meta", help="With --json: add a 'provenance' object (version, commit, "
                                                      "code and parameter hashes, seed) to the summary.")] = False,
) -> None:
    """Run one scenario and print its summary."""
    if meta and not as_json:
        bad_input(ScenarioError("--meta", "--json", "--meta with --json (it adds provenance to the JSON)"))
    try:
        sc, s = prepare(scenario, borrowers, days, seed, sets, out, burn_in)
    except ScenarioError as e:
        bad_input(e)
    # imported once the input is checked: a bad file is reported without waiting for the model's imports
    from .runner import run as run_model
    from .store import NonFiniteWarning

    with warnings_as_lines(UndefinedMetricWarning):  # an undefined metric: one line on stderr each
        try:
            if not as_json and _interactive():
                with _progress_bar() as bar:
                    task = bar.add_task("days", total=sc.simulation.burn_in + sc.simulation.days)
                    result = run_model(
                        sc, seed=s, progress=lambda day, total: bar.update(task, completed=day, total=total)
                    )
            else:
                result = run_model(sc, seed=s)
        except MemoryError:  # NumPy's _ArrayMemoryError is one
            source = "--borrowers" if borrowers is not None else str(scenario)
            bad_input(ScenarioError(source, "population.borrowers", out_of_memory(sc)))
    for key, value in result.summary.items():  # JSON has no infinity: say so once, not per file
        if isinstance(value, float) and math.isinf(value):
            sys.stderr.write(f"warning: {key} is {value} (not a finite number): null in JSON\n")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)  # said above
        if out is not None:
            try:
                result.save(out)
            except OSError as e:
                bad_input(ScenarioError("--out", str(out), f"a directory that can be written ({e.strerror or e}); "
                                                           "nothing partial is left in it"))
        summary_json = _json_safe(result.summary)

    if as_json:
        if meta:
            from .store import provenance

            summary_json = {**summary_json, "provenance": provenance(sc, s)}
        sys.stdout.write(json.dumps(summary_json, allow_nan=False) + "\n")
        sys.stdout.flush()
        if out is not None:
            sys.stderr.write(_wrote(out) + "\n")
        return
    _print_table(sc, s, result.summary)
    if out is not None:
        typer.echo(_wrote(out))


#: the kinds of input file ``validate`` knows, told apart by their top-level keys (a scenario has none of these)
FILE_KINDS = (("optimisation spec", ("levers", "objectives")), ("targets file", ("targets",)),
              ("sweep spec", ("scenarios", "design", "posterior")))


def _top_keys(path: Path) -> set[str]:
    """The top-level keys of a TOML file; none for a shipped name or a file that cannot be read (it is
    then taken to be a scenario, whose loader says what is wrong)."""
    from .scenario import read_toml

    if not path.is_file():
        return set()
    try:
        return set(read_toml(path))
    except ScenarioError:
        return set()


def _check_file(f: str) -> str:
    """Load FILE the way the command that takes it does (its kind by its top-level keys, FILE_KINDS);
    what it is and how big ("" for a scenario). ScenarioError if bad."""
    keys = _top_keys(Path(f))
    kind = next((kind for kind, marks in FILE_KINDS if keys & set(marks)), "scenario")
    if kind == "sweep spec":
        from .sweep import plan

        return f"sweep spec, {len(plan(f).jobs):,} runs"
    if kind == "optimisation spec":
        from .optimize import load

        return f"optimisation spec, {len(load(f).levers)} levers"
    if kind == "targets file":
        from . import abc
        from . import calibrate as cal

        problem = abc.load(f).problem if "abc" in keys else cal.load_targets(f)  # abc.load reads the rest too
        return f"targets file, {len(problem.spec.targets)} targets"
    load_scenario(f)
    return ""


@app.command()
def validate(
    files: Annotated[
        list[str], typer.Argument(help="Scenario files (or shipped names), sweep or optimisation specs, or targets "
                                       "files to check.", show_default=False)
    ],
) -> None:
    """Check input files: `FILE: ok` (a scenario) or `FILE: ok (what it is)`, or one line for each thing that is wrong (exit 2 if any is).

    A file is read as what its keys say it is: a sweep spec (`scenarios`, `[design]`), an optimisation
    spec (`[levers]`, `[[objectives]]`), a targets file (`[targets]`), otherwise a scenario; each is
    checked by the loader of the command that takes it (sweep, optimize, calibrate, run)."""
    bad = 0
    for f in files:
        try:
            what = _check_file(f)
        except ScenarioError as e:
            bad += 1
            for err in (e, *e.more):
                sys.stderr.write(" ".join(str(err).split()) + "\n")
            continue
        typer.echo(f"{f}: ok ({what})" if what else f"{f}: ok")
    sys.stderr.flush()
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def scenarios() -> None:
    """List the shipped scenarios: name and description."""
    paths = shipped_scenarios()
    width = max((len(p.stem) for p in paths), default=0)
    bad = 0
    for p in paths:
        try:
            description = load_scenario(p).description
        except ScenarioError as e:
            bad += 1
            sys.stderr.write(" ".join(str(e).split()) + "\n")
            continue
        typer.echo(f"{p.stem:<{width}}  {description}".rstrip())
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def params(
    prefix: Annotated[
        Optional[str], typer.Argument(metavar="[PREFIX]", help="Only parameters whose dotted name starts with this, "
                                                               "e.g. collection.visits or repayment.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per parameter, one per line.")] = False,
) -> None:
    """Every parameter: dotted name, default, unit, allowed range and meaning (docs/ODD.md has the same table);
    where the shipped baseline runs another value (the calibrated ones), that value too."""
    from functools import reduce

    from .docs import parameter_rows
    from .scenario import load_scenario

    rows = [r for r in parameter_rows() if prefix is None or r.path == prefix or r.path.startswith(prefix.rstrip(".") + ".")]
    if not rows:
        bad_input(ScenarioError("params", prefix or "", "a prefix of at least one parameter name, e.g. collection.visits "
                                                        "(credsim params lists them all)"))
    base = load_scenario("baseline")

    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    from .regions import toml_value

    def in_baseline(r):
        value = reduce(lambda node, part: getattr(node, part, None), r.path.split("."), base)
        return r.default if isinstance(value, BaseModel) and not isinstance(r.default, BaseModel) else value

    def show(v) -> str:
        """As a scenario file writes it (a list of reminder steps as TOML tables); floats without noise."""
        return f"{v:g}" if isinstance(v, float) else toml_value(v)

    if as_json:
        for r in rows:
            sys.stdout.write(json.dumps(to_jsonable_python({
                "name": r.path, "default": r.default, "baseline": in_baseline(r), "unit": r.unit, "range": r.limits,
                "meaning": r.description}, fallback=str)) + "\n")
        return
    for r in rows:
        tags = "; ".join(x for x in (r.unit, r.limits) if x)
        b = in_baseline(r)
        same = to_jsonable_python(b, fallback=str) == to_jsonable_python(r.default, fallback=str)
        fitted = "" if same else f"  (baseline: {show(b)}, scenarios/baseline.toml)"
        typer.echo(f"{r.path} = {show(r.default)}" + (f"  [{tags}]" if tags else "") + fitted)
        typer.echo(f"    {r.description}")


# The sweep, results and calibration commands live in their own modules; importing them registers them on
# `app` (sim.cli_common), which they import instead of this module.
from . import cli_sweep  # noqa: E402,F401
from . import cli_results  # noqa: E402,F401
from . import cli_calibrate  # noqa: E402,F401
from . import cli_optimize  # noqa: E402,F401


@app.command()
def viz(
    scenario: Annotated[
        str, typer.Argument(metavar="[SCENARIO]", help="The strategy to start with: a scenario file or a shipped name.", show_default=True)
    ] = "baseline",
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (this machine only unless you say otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = 8765,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option("--allow-origin", metavar="URL", help="Another origin (http://name:port) whose pages may use the "
                     "app, e.g. this machine's name with --host 0.0.0.0 (repeatable; the app's own is always allowed)."),
    ] = None,
    session_timeout: Annotated[
        float, typer.Option("--session-timeout", min=1, max=86_400, metavar="SECONDS",
                            help="How long a session (its model) outlives its last connected browser tab.")
    ] = 120,
) -> None:
    """Watch a run in the browser: Mesa's SolaraViz app (controls, charts, borrowers)."""
    from .app_server import origin_of

    try:
        load_scenario(scenario)
    except ScenarioError as e:
        bad_input(e)
    origins = []
    for o in allow_origin or []:
        try:
            origins.append(origin_of(o))
        except ValueError as e:
            bad_input(ScenarioError("--allow-origin", o, str(e)))
    path = Path(scenario)
    # the app reads these when it is imported (in this process); each browser session builds its own model
    os.environ["CREDSIM_VIZ_SCENARIO"] = str(path.resolve()) if path.is_file() else scenario
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")  # no calls home from the server
    if port == 0:
        import socket

        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    os.environ["SOLARA_APP"] = "sim.app"
    from solara.__main__ import run as solara_run

    from .app_server import configure

    configure(host, origins, session_timeout)  # before the server starts: Host/Origin check, session cull
    url_host = f"[{host}]" if ":" in host else host
    typer.echo(f"credsim viz: {scenario} at http://{url_host}:{port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    solara_run.main(
        args=["sim.app", "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version",
              "--theme-variant", "light"],
        prog_name="credsim viz",
        standalone_mode=False,
    )


if __name__ == "__main__":  # pragma: no cover
    app(prog_name="credsim")

