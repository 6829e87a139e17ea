"""Helpers for tests: loans set up by hand, and child processes that end with the test run."""

import signal
import subprocess
import sys

import numpy as np


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel sends this process SIGTERM when the test process that started it dies."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _as_a_shell_starts_it() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGINT handled as in a process a shell starts: pytest-xdist's workers ignore SIGINT, and a child
    inherits that, so an interrupt sent to it (as `kill -INT` or Ctrl-C does) would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        _die_with_parent()


def tied_popen(cmd, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` for a server or sweep a test starts: if the test process itself is killed
    (a pytest-xdist worker that crashes or is stopped with SIGKILL), its ``finally`` never runs, and
    the child would live on; on Linux the child is told to end then (``PR_SET_PDEATHSIG``). The child
    takes SIGINT as a process started from a shell does."""
    kwargs.setdefault("preexec_fn", _as_a_shell_starts_it)
    return subprocess.Popen(cmd, **kwargs)


def give_loan(model, i, *, instalment=300.0, periods=6, next_due=None, share=0.8):
    """Put a plain, current loan on row i (no randomness), for mechanism tests."""
    p = model.people
    t = model.day
    p.has_loan[i] = True
    p.loan_id[i] = 10**6 + i
    p.orig_day[i] = t
    p.instalment[i] = instalment
    p.balance[i] = instalment * periods
    p.principal[i] = instalment * periods * share
    p.principal_share[i] = share
    p.amount_due[i] = 0.0
    p.fees[i] = 0.0
    p.dpd[i] = 0
    p.next_due[i] = t + 30 if next_due is None else next_due
    p.on_plan[i] = False
    p.plans_taken[i] = 0
    p.episodes[i] = 0
    p.day_dpd30[i] = -1
    return i


def free_row(model):
    """A row without a loan."""
    return int(np.flatnonzero(~model.people.has_loan & ~model.people.banned)[0])
