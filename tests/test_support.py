"""The test helpers' own behaviour, where a test relies on it for cleanliness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent

# A stand-in for a pytest worker: starts a long-lived child the way the browser and sweep tests start
# `credsim viz` and `credsim sweep`, prints its pid and waits.
PARENT = """
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from support import tied_popen
child = tied_popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_tied_child_ends_when_the_test_process_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(HERE)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)  # no finally, no atexit: as when a pytest worker is killed
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
