"""The ``credsim`` application object and the helpers every command module shares.

A leaf of the command line: :mod:`sim.cli` and the sub-command modules (:mod:`sim.cli_sweep`,
:mod:`sim.cli_results`, :mod:`sim.cli_calibrate`) import this module and register their commands on
``app``; it imports none of them.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from contextlib import contextmanager
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


@contextmanager
def warnings_as_lines(*categories: type[Warning]):
    """Warnings of ``categories`` raised inside are said as one line each on stderr (``warning: ...``,
    each text once), after the block; others are shown as Python shows them."""
    with warnings.catch_warnings(record=True) as caught:
        for category in categories:
            warnings.simplefilter("always", category)
        yield
    said = set()
    for w in caught:
        if str(w.message) in said:
            continue
        said.add(str(w.message))
        if issubclass(w.category, categories):
            sys.stderr.write(f"warning: {w.message}\n")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _interactive() -> bool:
    """A person is watching stderr: show progress."""
    return sys.stderr.isatty()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """How far long work has got (the runs of a sweep or of ``make compare``, an optimisation's trials), on
    stderr. With a person watching (``interactive``) a live bar; otherwise, for a log file or a batch job's
    output, a plain line each time another tenth of the work is done, or a minute has passed with more
    done, e.g. ``runs 48/160 (30%), 1 failed, 3:02 elapsed, about 7:05 left``.

    Use as a context manager: :meth:`start` once the total is known, :meth:`update` as work finishes,
    :meth:`print` for a line of the command's own (above the bar, or as it is)."""

    def __init__(self, what: str, *, interactive: bool, failures: bool = True, every: float = 60.0):
        self.what, self.interactive, self.failures, self.every = what, interactive, failures, every
        self.total = self.done = self.failed = 0
        self._bar = self._task = None

    def __enter__(self) -> Progress:
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            failed = [TextColumn("[red]{task.fields[failed]} failed")] if self.failures else []
            self._bar = Bar(TextColumn(self.what), MofNCompleteColumn(), BarColumn(), *failed, TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True))
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False

    def start(self, total: int, done: int = 0) -> None:
        self.total, self.done, self._first = total, done, done
        self._t0 = self._said_at = time.monotonic()
        self._said = done
        if self._bar is not None:
            self._task = self._bar.add_task(self.what, total=total, completed=done, failed=0)

    def update(self, *, advance: int = 0, done: int | None = None, total: int | None = None,
               failed: int | None = None) -> None:
        self.done = self.done + advance if done is None else done
        self.total = self.total if total is None else total
        self.failed = self.failed if failed is None else failed
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, total=self.total, failed=self.failed)
            return
        now = time.monotonic()
        tenth = max(1, -(-self.total // 10))
        if self.done // tenth > self._said // tenth or self.done >= self.total > self._said \
                or (now - self._said_at >= self.every and self.done > self._said):
            self._said, self._said_at = self.done, now
            self.print(self.line(now - self._t0))

    def line(self, elapsed: float) -> str:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        failed = f", {self.failed} failed" if self.failures else ""
        rate = (self.done - self._first) / elapsed if elapsed > 0 else 0.0
        left = f", about {_clock((self.total - self.done) / rate)} left" if rate > 0 and self.done < self.total else ""
        return f"{self.what} {self.done}/{self.total}{share}{failed}, {_clock(elapsed)} elapsed{left}"

    def print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, highlight=False, markup=False, soft_wrap=True)
        else:
            typer.echo(line, err=True)
