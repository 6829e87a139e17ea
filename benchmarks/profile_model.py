"""Profile the vectorised model's stepping with cProfile (one core).

    .venv/bin/python benchmarks/profile_model.py                       # baseline, 100,000 x 200 days
    .venv/bin/python benchmarks/profile_model.py --days 365 --top 40 --out /tmp/credsim.prof

Builds the model outside the profiler, then profiles only the daily steps, and prints the functions
with the most own time (tottime: NumPy calls such as ``numpy.unique`` or ``ufunc.at`` appear as their
own rows) and the sim/ functions with the most cumulative time. ``--out`` saves the raw stats for
snakeviz / ``python -m pstats``. Profiling adds overhead per Python call, so absolute times are
higher than in bench_model.py; the ranking is what matters.
"""

from __future__ import annotations

import bench_model  # noqa: F401  (first: sets the one-thread environment before numpy is imported)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=200)
    ap.add_argument("--scenario", default="baseline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top", type=int, default=30, help="rows per table (default 30)")
    ap.add_argument("--out", metavar="PATH", help="save the raw profile here")
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)

    print(bench_model.pin_to_one_cpu(args.cpu))
    from sim.model import CreditModel

    model = CreditModel(scenario=args.scenario, borrowers=args.borrowers, days=args.days, rng=args.seed,
                        overrides={"simulation.burn_in": 0})  # exactly --days days profiled
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(model.days):
        model.step()
    prof.disable()
    wall = time.perf_counter() - t0
    print(f"{args.scenario}: {args.borrowers:,} borrowers x {args.days} days stepped in {wall:.2f} s under cProfile "
          f"({args.borrowers * args.days / wall / 1e6:.2f} M borrower-days/s with profiling overhead)")
    if args.out:
        prof.dump_stats(args.out)

    for title, key, restrict in (
        ("Own time (tottime), all functions", "tottime", ()),
        ("Cumulative time, sim/ functions", "cumulative", ("sim/",)),
    ):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf).strip_dirs() if not restrict else pstats.Stats(prof, stream=buf)
        stats.sort_stats(key).print_stats(*restrict, args.top)
        text = buf.getvalue()
        body = text[text.index("   ncalls"):] if "   ncalls" in text else text
        print()
        print(f"== {title} ==")
        print(body.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
