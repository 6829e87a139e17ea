"""Speed-up and memory of `credsim sweep`.

(a) Speed-up: the same sweep (default 48 runs of baseline, 20,000 borrowers x 365 days) with
    ``--workers 1`` and ``--workers 2``, ``--repeat`` times each (default 3, alternating; the fastest
    counts): wall time of the whole command (planning, starting the workers: the forkserver importing
    the model, writing every file) and the speed-up. Target: >= 1.8x on 2 cores.
(b) Memory: sweeps of 250 and of 1,000 small runs (200 borrowers x 30 days) on 2 workers: peak
    resident memory of the sweep process and of its workers, and the sweep process's memory when a
    quarter, half, three quarters and all of the runs are done. Flat: the same for 1,000 runs as for 250.

Every sweep is the real command (`credsim sweep SPEC --out DIR --workers W`, run in a child process
of this script so that its memory and its workers' are measured apart), into a temporary folder.

    .venv/bin/python benchmarks/bench_sweep.py                      # both, ~3 minutes on 2 idle cores
    .venv/bin/python benchmarks/bench_sweep.py --runs 16 --repeat 1 # a quicker speed-up
    .venv/bin/python benchmarks/bench_sweep.py --skip-memory --json /tmp/bench_sweep.json

The speed-up is limited by a fixed cost per sweep (imports in the sweep process, the forkserver
importing Mesa, pandas and the model once before it forks the workers, shutting them down), which the benchmark
measures with a one-run sweep and prints with the time per run and the speed-up they imply for
sweeps of other lengths. Wall times need an otherwise idle machine: the load average is printed
before each part, with a warning when other processes compete for the cores. The CPU time of each
sweep is printed too; on an idle machine it hardly changes with the number of workers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.8
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- the child: one sweep


def _rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def child(spec: str, out: str, workers: int) -> None:
    """Run `credsim sweep` in this process; print one JSON line of figures."""
    import psutil

    from sim.cli import app

    summaries = Path(out) / "summaries"
    samples: list[tuple[int, float, float]] = []  # (runs finished, this process's RSS, largest worker RSS)
    # the workers are not this process's children (they are the forkserver's, sim.execute.worker_context),
    # so their CPU and memory are sampled while they live (CPU: up to one sample period lost each)
    cpu_below: dict[int, float] = {}
    peak_below: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            n = sum(1 for e in os.scandir(summaries) if not e.name.startswith(".")) if summaries.is_dir() else 0
            rss = []
            for p in psutil.Process().children(recursive=True):  # the forkserver, its workers, the resource tracker
                try:
                    with p.oneshot():
                        cpu, mb = sum(p.cpu_times()[:2]), p.memory_info().rss / 2**20
                except psutil.Error:  # ended meanwhile
                    continue
                cpu_below[p.pid] = max(cpu_below.get(p.pid, 0.0), cpu)
                peak_below[p.pid] = max(peak_below.get(p.pid, 0.0), mb)
                rss.append(mb)
            samples.append((n, _rss_mb(), max(rss, default=0.0)))
            stop.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start = time.perf_counter()
    try:
        app(["sweep", spec, "--out", out, "--workers", str(workers)], prog_name="credsim", standalone_mode=False)
    except SystemExit as e:  # pragma: no cover - reported below
        if e.code:
            raise
    wall = time.perf_counter() - start
    stop.set()
    t.join()
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "wall_s": wall,
        "cpu_s": me.ru_utime + me.ru_stime + sum(cpu_below.values()),
        "parent_peak_mb": me.ru_maxrss / 1024,
        "worker_peak_mb": max(peak_below.values(), default=0.0),
        "samples": samples,
    }))


# --------------------------------------------------------------------------- the parent


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    line = f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {cores} core(s)"
    if one > 0.5:
        line += "  WARNING: the machine is busy; wall times and the speed-up are pessimistic"
    return line


def sweep(folder: Path, name: str, runs: int, borrowers: int, days: int, workers: int) -> dict:
    spec = folder / f"{name}.toml"
    spec.write_text(f'name = "{name}"\nreplicates = {runs}\nseed = 0\nborrowers = {borrowers}\ndays = {days}\n'
                    f'scenarios = [{{file = "baseline"}}]\n')
    out = folder / f"{name}-w{workers}"
    res = subprocess.run([sys.executable, __file__, "--_child", str(spec), str(out), str(workers)],
                         capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        sys.exit(f"bench_sweep: the sweep failed:\n{res.stderr}")
    fig = json.loads(res.stdout.strip().splitlines()[-1])
    finished = sum(1 for p in (out / "summaries").glob("*.parquet"))
    if finished != runs:
        sys.exit(f"bench_sweep: {finished} of {runs} runs finished")
    return fig


def at_fractions(samples: list, runs: int) -> list[float]:
    """This process's RSS (MB) when 25%, 50%, 75% and 100% of the runs were done (first sample at or past)."""
    out = []
    for q in (0.25, 0.5, 0.75, 1.0):
        later = [rss for n, rss, _w in samples if n >= q * runs]
        out.append(later[0] if later else float("nan"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=48, help="runs of the speed-up sweep")
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3, help="time each worker count this often; the fastest counts")
    ap.add_argument("--small-runs", type=int, nargs=2, default=[250, 1000], metavar=("FEW", "MANY"),
                    help="run counts of the two memory sweeps")
    ap.add_argument("--small-borrowers", type=int, default=200)
    ap.add_argument("--small-days", type=int, default=30)
    ap.add_argument("--memory-workers", type=int, default=2)
    ap.add_argument("--skip-speedup", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        spec, out, workers = args._child
        child(spec, out, int(workers))
        return

    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_sweep-") as tmp:
        folder = Path(tmp)
        if not args.skip_speedup:
            print(f"(a) speed-up: {args.runs} runs of baseline, {args.borrowers:,} borrowers x {args.days:,} days")
            print(f"    {load_line()}")
            print(f"    {'workers':>7}  {'wall s':>8}  {'runs/min':>8}  {'CPU s (all processes)':>21}")
            walls: dict[int, list[float]] = {1: [], 2: []}
            for rep in range(args.repeat):
                for w in (1, 2):  # alternating, so that a burst of load elsewhere hits both alike
                    fig = sweep(folder, f"speed{rep}", args.runs, args.borrowers, args.days, w)
                    walls[w].append(fig["wall_s"])
                    report.setdefault(f"speed_workers_{w}", []).append({k: v for k, v in fig.items() if k != "samples"})
                    print(f"    {w:>7}  {fig['wall_s']:>8.1f}  {60 * args.runs / fig['wall_s']:>8.1f}  "
                          f"{fig['cpu_s']:>21.1f}", flush=True)
            best = {w: min(v) for w, v in walls.items()}
            if args.repeat > 1:
                print(f"    fastest of {args.repeat}: {best[1]:.1f} s with 1 worker, {best[2]:.1f} s with 2")
            speedup = best[1] / best[2]
            report["speedup"] = speedup
            print(f"    speed-up 1 -> 2 workers: {speedup:.2f}x (target >= {TARGET}x: "
                  f"{'met' if speedup >= TARGET else 'NOT met'})")
            # where the time goes: a fixed cost per sweep (imports in the sweep process, the forkserver importing
            # the model once and forking the workers, shutting them down) and the runs themselves
            fixed = {}
            for w in (1, 2):
                fixed[w] = min(sweep(folder, f"fixed{rep}", 1, 200, 5, w)["wall_s"] for rep in range(args.repeat))
            per_run = max(best[1] - fixed[1], 0.0) / args.runs
            report.update(fixed_cost_s=fixed, per_run_s=per_run)

            def expected(n: int) -> float:
                return (fixed[1] + n * per_run) / (fixed[2] + n * per_run / 2)

            print(f"    fixed cost of a sweep (one run of 200 x 5 days: start-up, imports, starting the workers, shutdown): "
                  f"{fixed[1]:.1f} s with 1 worker, {fixed[2]:.1f} s with 2")
            print(f"    one run of this size: {per_run:.2f} s -> speed-up expected on 2 free cores: {expected(args.runs):.2f}x "
                  f"for {args.runs} runs, " + ", ".join(f"{expected(n):.2f}x for {n}" for n in (16, 64, 256) if n != args.runs))
            print(f"    {load_line()}\n")

        if not args.skip_memory:
            few, many = args.small_runs
            print(f"(b) memory: sweeps of {args.small_borrowers:,} borrowers x {args.small_days} days on "
                  f"{args.memory_workers} worker(s)")
            print(f"    {load_line()}")
            print(f"    {'runs':>5}  {'wall s':>7}  {'sweep peak MB':>13}  {'worker peak MB':>14}  "
                  f"sweep process MB at 25% / 50% / 75% / 100% of runs")
            peaks = {}
            for n in (few, many):
                fig = sweep(folder, f"mem{n}", n, args.small_borrowers, args.small_days, args.memory_workers)
                quarters = at_fractions(fig["samples"], n)
                peaks[n] = fig["parent_peak_mb"]
                report[f"memory_runs_{n}"] = {**{k: v for k, v in fig.items() if k != "samples"},
                                              "parent_mb_at_quarters": quarters}
                print(f"    {n:>5}  {fig['wall_s']:>7.1f}  {fig['parent_peak_mb']:>13.1f}  {fig['worker_peak_mb']:>14.1f}  "
                      + " / ".join(f"{q:.1f}" for q in quarters), flush=True)
            growth = peaks[many] - peaks[few]
            report["parent_peak_growth_mb"] = growth
            print(f"    sweep process peak, {many} runs vs {few}: {growth:+.1f} MB ({growth / peaks[few]:+.1%}) "
                  f"-> {'flat' if abs(growth) < 0.05 * peaks[few] else 'GROWS with the run count'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
