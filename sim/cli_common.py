"""The ``credsim`` application object and the helpers every command module shares.

A leaf of the command line: :mod:`sim.cli` and the sub-command modules (:mod:`sim.cli_sweep`,
:mod:`sim.cli_results`, :mod:`sim.cli_calibrate`) import this module and register their commands on
``app``; it imports none of them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from .scenario import ScenarioError

EXIT_BAD_INPUT = 2

# The executor options of the commands that run many simulations (sweep, optimize)
WorkersOption = Annotated[
    Optional[int], typer.Option("--workers", "-w", min=1, help="Local worker processes [default: the number of cores].")
]
SchedulerOption = Annotated[
    Optional[str], typer.Option("--scheduler", metavar="ADDRESS", help="Run on a Dask cluster, e.g. tcp://host:8786.")
]
SerialOption = Annotated[bool, typer.Option("--serial", help="Run in this process, one run at a time (debugging).")]

app = typer.Typer(
    name="credsim",
    help="Agent-based simulation of consumer-credit delinquency and debt collection.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: ...]" and "[1, 2]" show as written
)


def bad_input(err: ScenarioError) -> NoReturn:
    """Report one input problem as one line on stderr and exit 2."""
    line = " ".join(str(err).split())  # never more than one line, whatever the message holds
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    raise typer.Exit(EXIT_BAD_INPUT)


def _check_out(out: Path) -> None:
    """Refuse an output directory that cannot be one, without creating anything."""
    if out.exists():
        if not out.is_dir():
            raise ScenarioError("--out", str(out), "a directory to write into, but it is an existing file")
        if not os.access(out, os.W_OK):
            raise ScenarioError("--out", str(out), "a directory you can write into")
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ScenarioError("--out", str(out), f"a directory path, but '{parent}' is a file")
    if not os.access(parent, os.W_OK):
        raise ScenarioError("--out", str(out), f"a directory that can be created ('{parent}' is not writable)")


def _interactive() -> bool:
    """A person is watching stderr: show progress."""
    return sys.stderr.isatty()
