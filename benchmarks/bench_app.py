"""Speed and memory of the browser app (`credsim viz`) under three concurrent sessions.

Starts `python -m sim viz baseline` on a free local port (default size: the scenario's 10,000 people)
with a short session timeout, then drives Debian's chromium through Playwright:

1. the server's memory (RSS, with its children) once it serves the page, before any session;
2. three sessions opened at once: time from navigation to the first full render of each (the day
   counter and the borrower picture drawn), with when its DOM was loaded and its WebSocket opened,
   and the requests and bytes it loaded (each session in a browser context of its own, as separate
   browsers; ``--tabs``: tabs of one context, sharing its cache; ``--warm``: the page loaded once
   in each context first, so its files are cached);
3. the three step 100 days concurrently, each by clicking Step and waiting until the day counter and
   every chart are redrawn: the median and 90th percentile per session;
4. the sessions closed: memory once the server has dropped them (its session count back to what it
   was), against the level before they opened.

It prints the figures and the targets (median step at most 250 ms in each session; first render
within 2 s; memory after closing within 20% of before). Timings depend on the machine and its load:
it measures, it does not assert.

    .venv/bin/python benchmarks/bench_app.py [--sessions 3] [--steps 100] [--tabs] [--warm] [--py-spy stacks.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CREDSIM_CHROMIUM", "/usr/bin/chromium")
from app_probe import PANELS, STEP_JS, STEP_LIMIT_MS  # noqa: E402 - beside this script


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server has used so far, with its children."""
    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def kernels(url: str) -> int:
    with urllib.request.urlopen(f"{url}resourcez", timeout=30) as r:
        return int(json.load(r)["kernels"]["total"])


LOAD_JS = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    return {dcl: nav.domContentLoadedEventEnd, requests: res.length,
            transfer: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
            decoded: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0)};
}"""


async def session(contexts, url: str, steps: int, opened: asyncio.Barrier, on_open) -> dict:
    """One session: a page in ``contexts()`` (a new browser context, or a tab of the shared one)."""
    context, own = await contexts()
    page = await context.new_page()
    ws: list[float] = []
    t0 = time.perf_counter()
    page.on("websocket", lambda _: ws.append(time.perf_counter() - t0))
    await page.goto(url)
    await page.wait_for_selector(".credsim-day", timeout=120_000)
    await page.wait_for_selector(".credsim-borrower", timeout=120_000)
    first = time.perf_counter() - t0
    load = await page.evaluate(LOAD_JS)
    if await opened.wait() == 0:  # every session has drawn its first page: the stepping starts
        on_open()
    times = []
    for _ in range(steps):
        ms = await page.evaluate(STEP_JS, PANELS)
        if ms < 0:
            raise RuntimeError(f"a step was not redrawn within {STEP_LIMIT_MS / 1000:.0f} s")
        times.append(ms)
    await (context.close() if own else page.close())
    return {"first_render_s": first, "websocket_s": ws[0] if ws else float("nan"), "load": load, "steps": times}


async def drive(url: str, n: int, steps: int, on_open, tabs: bool = False, warm: bool = False) -> list[dict]:
    """Open ``n`` sessions at once and step each ``steps`` times; ``on_open()`` is called once, when
    every session has drawn its first page and before any steps. Each session has a browser context
    of its own (its own cache, as separate browsers), or with ``tabs`` all are tabs of one context
    (one browser's shared cache). With ``warm`` the page is loaded and closed once in each context
    first, so the sessions find the front end's files in the cache (a reload, a returning user)."""
    from playwright.async_api import async_playwright

    async def warmed(context):
        if warm:
            page = await context.new_page()
            await page.goto(url)
            await page.wait_for_selector(".credsim-borrower", timeout=120_000)
            await page.close()
        return context

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            viewport = {"viewport": {"width": 1500, "height": 1400}}
            if tabs:
                shared = await warmed(await browser.new_context(**viewport))

                async def contexts():
                    return shared, False
            else:
                own = [await warmed(await browser.new_context(**viewport)) for _ in range(n)]

                async def contexts():
                    return own.pop(), True
            opened = asyncio.Barrier(n)
            return await asyncio.gather(*(session(contexts, url, steps, opened, on_open) for _ in range(n)))
        finally:
            await browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--tabs", action="store_true", help="the sessions as tabs of one browser context (sharing "
                    "its cache), not each in a context of its own (as separate browsers)")
    ap.add_argument("--warm", action="store_true", help="load the page once in each context before the sessions "
                    "open, so the front end's files are in the browser's cache (a reload, a returning user)")
    ap.add_argument("--session-timeout", type=float, default=5, help="seconds (credsim viz --session-timeout)")
    ap.add_argument("--py-spy", metavar="OUT", help="also sample the server with py-spy (found on the PATH or in "
                    "$PY_SPY) while the sessions run, and write its collapsed stacks (every thread) to OUT")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSIM_VIZ_")}
    server = subprocess.Popen([sys.executable, "-m", "sim", "viz", "baseline", "--port", str(port),
                               "--session-timeout", str(args.session_timeout)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("credsim viz did not start")
                time.sleep(0.3)
        before_kernels = kernels(url)
        load_before = os.getloadavg()[0]
        before = rss_mb(server.pid)
        spy = None
        if args.py_spy:
            exe = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
            spy = subprocess.Popen([exe, "record", "--pid", str(server.pid), "--format", "raw", "--rate", "200",
                                    "--output", args.py_spy, "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached
        marks = [(time.perf_counter(), cpu_s(server.pid))]  # (wall, server CPU): before, opened, stepped
        results = asyncio.run(drive(url, args.sessions, args.steps,
                                    lambda: marks.append((time.perf_counter(), cpu_s(server.pid))),
                                    tabs=args.tabs, warm=args.warm))
        marks.append((time.perf_counter(), cpu_s(server.pid)))
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
            spy.wait(timeout=60)
        peak = rss_mb(server.pid)
        deadline = time.monotonic() + 120 + args.session_timeout
        while kernels(url) > before_kernels and time.monotonic() < deadline:
            time.sleep(0.5)
        dropped = kernels(url) <= before_kernels
        time.sleep(3.0)  # let the freed memory settle (the app hands it back within 2 s of a close)
        after = rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    where = "tabs of one browser context" if args.tabs else "each in a browser context of its own"
    print(f"credsim viz, {args.sessions} concurrent sessions at the default size ({where}"
          f"{', cache warm' if args.warm else ''}), {args.steps} steps each (load average before "
          f"{load_before:.1f})")
    for k, r in enumerate(results, 1):
        t = sorted(r["steps"])
        ld = r["load"]
        print(f"  session {k}: first render {r['first_render_s']:.2f} s (target 2 s): DOM loaded "
              f"{ld['dcl'] / 1000:.2f} s, WebSocket open {r['websocket_s']:.2f} s; {ld['requests'] + 1} requests, "
              f"{ld['transfer'] / 2**20:.2f} MB transferred ({ld['decoded'] / 2**20:.2f} MB decoded)"
              + (f"; step as rendered: median {statistics.median(t):.0f} ms (target 250 ms), p90 "
                 f"{t[int(0.9 * (len(t) - 1))]:.0f} ms, max {t[-1]:.0f} ms" if r["steps"] else ""))
    (w0, c0), (w1, c1), (w2, c2) = marks
    n_steps = args.sessions * args.steps
    stepping = (f"; stepping {c2 - c1:.1f} s in {w2 - w1:.1f} s, {(c2 - c1) / n_steps * 1000:.0f} ms of CPU per "
                f"step of a session" if n_steps else "")
    print(f"  server CPU: opening the sessions {c1 - c0:.1f} s in {w1 - w0:.1f} s{' (with the warm-up loads)' if args.warm else ''}"
          f"{stepping} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  server memory: {before:.0f} MB before, {peak:.0f} MB with the sessions open, {after:.0f} MB after they "
          f"closed ({(after / before - 1) * 100:+.0f}%, target within 20%); sessions dropped: {'yes' if dropped else 'NO'}")


if __name__ == "__main__":
    main()
