"""Speed and memory of the vectorised model on one core, with a per-mechanism time breakdown.

    .venv/bin/python benchmarks/bench_model.py                      # baseline, 100,000 x 1,095 days
    .venv/bin/python benchmarks/bench_model.py --borrowers 20000 --days 365 --scenario recession

The run goes through ``sim.run`` exactly as the CLI and sweeps do. Build (scenario + population +
day-0 book) and stepping are timed separately; the headline rate is borrower-days per second of
stepping: ``borrowers * days / stepping time``. The target is 25 million borrower-days/s.

``--burn-in N`` steps N burn-in days before the ``--days`` window (as ``simulation.burn_in``); the
headline figures are then over the window alone and the burn-in + window is reported as well:

    .venv/bin/python benchmarks/bench_model.py --borrowers 1000000 --days 365 --burn-in 365 --no-breakdown

The breakdown wraps, inside this process only, the module functions the model calls each day (the
daily order of ``sim.model``) with a timer, so each line is the inclusive time spent in that
function under its caller. Nothing in ``sim/`` is edited. The wrappers add roughly a microsecond per
call (a few hundred calls a day), well under 1% here; ``--no-breakdown`` measures without them.
"""

from __future__ import annotations

import os

# One core: no BLAS/OpenMP thread pools, and the process pinned to a single CPU. Must precede numpy.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

TARGET = 25_000_000  # borrower-days per second of stepping


def pin_to_one_cpu(cpu: int | None) -> str:
    """Restrict this process to one CPU (Linux); returns a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen} (of {len(allowed)} allowed)"


# ---------------------------------------------------------------------------------------------
# Timing wrappers
# ---------------------------------------------------------------------------------------------

class CallTree:
    """Inclusive wall time per call path, built by wrappers that keep a stack of open calls."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.stack: list[tuple[str, ...]] = []
        self.stats: dict[tuple[str, ...], list] = defaultdict(lambda: [0, 0.0])  # path -> [calls, seconds]

    def wrap(self, label: str, fn):
        stack, stats, clock = self.stack, self.stats, self.clock

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            path = (stack[-1] + (label,)) if stack else (label,)
            stack.append(path)
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = clock() - t0
                stack.pop()
                s = stats[path]
                s[0] += 1
                s[1] += dt

        timed.__wrapped_by_bench__ = True
        return timed


#: What to time: (module, attribute path, label). Module-level functions are looked up through their
#: module by every caller in sim/ (``loans.bill(...)``, ``spending.settle(...)``), so replacing the
#: module attribute times every call. Methods are replaced on the class before the model is built.
TIMED = [
    # the day and its order (sim.model.CreditModel.step)
    ("sim.model", "CreditModel.step", "day"),
    ("sim.mechanisms.macro", "step", "1 macro.step"),
    ("sim.mechanisms.income", "step", "2 income.step"),
    ("sim.mechanisms.spending", "step", "3 spending.step"),
    ("sim.mechanisms.loans", "bill", "4 loans.bill"),
    ("sim.mechanisms.repayment", "step", "4 repayment.step"),
    ("sim.mechanisms.loans", "update", "4 loans.update"),
    ("sim.mechanisms.early_contact", "step", "5 early_contact.step"),
    ("sim.lender", "Lender.step", "6 lender.step"),
    ("sim.model", "CreditModel._drain_experiences", "7 drain_experiences"),
    ("sim.mechanisms.stress", "step", "7 stress.step"),
    ("sim.mechanisms.trust", "step", "7 trust.step"),
    ("sim.mechanisms.acquisition", "step", "8 acquisition.step"),
    ("sim.metrics", "snapshot", "9 metrics.snapshot"),
    ("mesa", "DataCollector.collect", "9 datacollector.collect"),
    # inside the steps
    ("sim.mechanisms.income", "pay_day", "income.pay_day"),
    ("sim.mechanisms.income", "job_loss", "income.job_loss"),
    ("sim.mechanisms.income", "reemployment", "income.reemployment"),
    ("sim.mechanisms.income", "emergencies", "income.emergencies"),
    ("sim.mechanisms.spending", "impulses", "spending.impulses"),
    ("sim.mechanisms.spending", "set_aside", "spending.set_aside"),
    ("sim.mechanisms.spending", "settle", "spending.settle"),
    ("sim.mechanisms.repayment", "deciders", "repayment.deciders"),
    ("sim.mechanisms.repayment", "willingness", "repayment.willingness"),
    ("sim.mechanisms.repayment", "ability", "repayment.ability"),
    ("sim.mechanisms.loans", "pay", "loans.pay"),
    ("sim.mechanisms.loans", "close", "loans.close"),
    ("sim.mechanisms.loans", "charge_off", "loans.charge_off"),
    ("sim.mechanisms.loans", "originate", "loans.originate"),
    ("sim.mechanisms.loans", "accrue_funding_cost", "loans.accrue_funding_cost"),
    ("sim.mechanisms.early_contact", "foresee_shortfall", "early_contact.foresee_shortfall"),
    ("sim.mechanisms.loans", "record_dpd", "loans.record_dpd"),
    ("sim.mechanisms.causes", "assign", "causes.assign"),
    ("sim.regulation", "forbear", "regulation.forbear"),
    ("sim.mechanisms.conversations", "message", "conversations.message"),
    ("sim.mechanisms.conversations", "family", "conversations.family"),
    ("sim.mechanisms.stress", "Levels.current", "stress.Levels.current"),
    ("sim.mechanisms.acquisition", "rate", "acquisition.rate"),
    ("sim.accounting", "applications_at_prior", "accounting.applications_at_prior"),
    ("sim.accounting", "accrue_costs", "accounting.accrue_costs"),
    ("sim.accounting", "Provisions.update", "9 provisions.update"),
    ("sim.metrics", "Window.observe", "9 window.observe"),
    # the lender's tactics (sim/tactics/: hooks run by Tactics.run) and the contact pipeline
    ("sim.tactics", "Tactics.run", "tactics.run"),
    ("sim.tactics.reminders", "ReminderLadder.collect", "reminders.collect"),
    ("sim.tactics.reminders", "ReminderLadder.targets", "reminders.targets"),
    ("sim.tactics.visits", "HomeVisits.collect", "visits.collect"),
    ("sim.tactics.promises", "PromiseToPay.ask", "promises.ask"),
    ("sim.tactics.promises", "PromiseToPay.before_payments", "promises.before_payments"),
    ("sim.tactics.promises", "PromiseToPay.after_payments", "promises.after_payments"),
    ("sim.tactics.plans", "FlexiblePlans.offer", "plans.offer"),
    ("sim.tactics.plans", "FlexiblePlans.inbound", "plans.inbound"),
    ("sim.tactics.plans", "progress", "plans.progress"),
    ("sim.tactics.settlement", "Settlement.offer", "settlement.offer"),
    ("sim.tactics.risk_based", "RiskBased.priority", "risk_based.priority"),
    ("sim.tactics.moratorium", "Moratorium.collect", "moratorium.collect"),
    ("sim.tactics.recovery", "RecoveryAgency.recover", "recovery.recover"),
    ("sim.tactics.debt_sale", "DebtSale.recover", "debt_sale.recover"),
    ("sim.tactics.bureau", "Bureau.after_payments", "bureau.after_payments"),
    ("sim.tactics.bureau", "Bureau.recover", "bureau.recover"),
    ("sim.tactics.bureau", "Bureau.willingness", "bureau.willingness"),
    ("sim.tactics.bureau", "Bureau.screen", "bureau.screen"),
    ("sim.tactics.pipeline", "contact", "pipeline.contact"),
    ("sim.tactics.pipeline", "converse", "pipeline.converse"),
    ("sim.regulation", "admit", "regulation.admit"),
    ("sim.regulation", "record", "regulation.record"),
    ("sim.collectors", "Team.assign", "collectors.assign"),
    ("sim.mechanisms.education", "at_origination", "education.at_origination"),
    ("sim.model", "CreditModel.experience", "model.experience"),
    ("sim.model", "CreditModel.prompt", "model.prompt"),
]


def install_timers(tree: CallTree) -> list[str]:
    """Replace the functions in TIMED by timed wrappers; returns the labels that could not be found."""
    missing = []
    for mod_name, attr, label in TIMED:
        try:
            owner = importlib.import_module(mod_name)
            *parents, name = attr.split(".")
            for p in parents:
                owner = getattr(owner, p)
            fn = getattr(owner, name)
        except (ImportError, AttributeError):
            missing.append(label)
            continue
        if getattr(fn, "__wrapped_by_bench__", False):
            continue
        timed = tree.wrap(label, fn)
        setattr(owner, name, timed)
        if not parents:  # a function imported by name elsewhere (``from .pipeline import contact``): there too
            for mod in list(sys.modules.values()):
                if getattr(mod, "__name__", "").startswith("sim") and mod.__dict__.get(name) is fn:
                    setattr(mod, name, timed)
    return missing


def print_breakdown(tree: CallTree, stepping: float, days: int, max_depth: int) -> list[dict]:
    """The call tree under "day", in first-call order (which is the daily order)."""
    rows = []
    day_paths = [p for p in tree.stats if p[0] == "day"]
    if not day_paths:
        print("  (no timed calls recorded)")
        return rows
    children: dict[tuple, list[tuple]] = defaultdict(list)
    for p in day_paths:
        if len(p) > 1:
            children[p[:-1]].append(p)

    print(f"  {'function (inclusive time, under its caller)':<52} {'seconds':>9} {'% step':>7} {'ms/day':>8} {'calls/day':>10}")

    def emit(path, depth):
        calls, secs = tree.stats[path]
        name = "  " * depth + path[-1]
        print(f"  {name:<52} {secs:9.3f} {100 * secs / stepping:6.1f}% {1000 * secs / days:8.3f} {calls / days:10.1f}")
        rows.append({"path": "/".join(path), "seconds": secs, "share": secs / stepping, "calls": calls})
        kids = children.get(path, [])
        if kids and depth + 1 <= max_depth:
            for k in kids:
                emit(k, depth + 1)
            own = secs - sum(tree.stats[k][1] for k in kids)
            if own > 0.0005 * stepping:
                label = "  " * (depth + 1) + "(own code, not in a timed call)"
                print(f"  {label:<52} {own:9.3f} {100 * own / stepping:6.1f}%")

    emit(("day",), 0)
    day_secs = tree.stats[("day",)][1]
    outer = stepping - day_secs
    print(f"  {'Mesa step wrapper + run loop (outside CreditModel.step)':<52} {outer:9.3f} {100 * outer / stepping:6.1f}%")
    return rows


# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=100_000, help="people in the market (default 100,000)")
    ap.add_argument("--days", type=int, default=1_095, help="days simulated (default 1,095 = 3 years)")
    ap.add_argument("--scenario", default="baseline", help="shipped scenario name or path to a TOML file (default baseline)")
    ap.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    ap.add_argument("--burn-in", type=int, default=0,
                    help="burn-in days stepped before the --days window (default 0); the headline figures are the window's")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last allowed one)")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the per-mechanism timers (no wrapper overhead)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="clock of the breakdown timers: wall (perf_counter) or cpu (process_time, robust on a busy machine)")
    ap.add_argument("--depth", type=int, default=3, help="depth of the breakdown tree to print (default 3)")
    ap.add_argument("--repeat", type=int, default=1, help="run N times and report the fastest (default 1)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    pinned = pin_to_one_cpu(args.cpu)

    import numpy as np

    import sim
    from sim.model import CreditModel

    tree = CallTree(time.perf_counter if args.clock == "wall" else time.process_time)
    missing = [] if args.no_breakdown else install_timers(tree)

    # build-end time: the moment CreditModel.__init__ returns inside sim.run
    marks: dict[str, float] = {}
    original_init = CreditModel.__init__

    @functools.wraps(original_init)
    def init_and_mark(self, *a, **k):
        original_init(self, *a, **k)
        marks["built"] = time.perf_counter()
        marks["built_cpu"] = time.process_time()

    CreditModel.__init__ = init_and_mark

    def progress(day, days):
        marks["last_step"] = time.perf_counter()
        marks["last_step_cpu"] = time.process_time()
        if day == args.burn_in:  # the end of the burn-in: the window's clock starts
            marks["window"] = marks["last_step"]
            marks["window_cpu"] = marks["last_step_cpu"]

    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    runs = []
    for _ in range(max(1, args.repeat)):
        tree.stats.clear()
        marks.clear()
        t0 = time.perf_counter()
        # --burn-in days (default none), then exactly --days days, timed on their own
        result = sim.run(args.scenario, borrowers=args.borrowers, days=args.days, seed=args.seed, progress=progress,
                         overrides={"simulation.burn_in": args.burn_in})
        marks.setdefault("window", marks["built"])
        marks.setdefault("window_cpu", marks["built_cpu"])
        t_end = time.perf_counter()
        runs.append({
            "build": marks["built"] - t0,
            "stepping": marks["last_step"] - marks["window"],
            "stepping_cpu": marks["last_step_cpu"] - marks["window_cpu"],
            "burn_in": marks["window"] - marks["built"],
            "burn_in_cpu": marks["window_cpu"] - marks["built_cpu"],
            "finish": t_end - marks["last_step"],
            "wall": t_end - t0,
            "summary": result.summary,
            "name": result.scenario.name,
            "stats": {k: list(v) for k, v in tree.stats.items()},
        })
        del result
        gc.collect()  # the model is freed by the cycle collector (Mesa agents refer back to it): free it before the next run
    CreditModel.__init__ = original_init
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux

    best = min(runs, key=lambda r: r["stepping"])
    build, stepping, finish, wall = best["build"], best["stepping"], best["finish"], best["wall"]
    tree.stats.clear()
    tree.stats.update({k: v for k, v in best["stats"].items()})
    bdays = args.borrowers * args.days
    rate = bdays / stepping
    cpu_rate = bdays / best["stepping_cpu"]
    met = rate >= TARGET

    print(f"credsim vectorised model benchmark  |  Python {platform.python_version()}, NumPy {np.__version__}, "
          f"Mesa {__import__('mesa').__version__}, {platform.machine()}")
    print(f"scenario {best['name']!r}, {args.borrowers:,} borrowers x {args.days:,} days, seed {args.seed}; "
          f"one core: BLAS/OpenMP threads = 1, {pinned}")
    ncpu = os.cpu_count() or 1
    print(f"load average before the run: {load_before:.2f} on {ncpu} CPUs"
          + ("  (busy machine: other processes may share this core; timings are pessimistic)" if load_before > 0.5 * ncpu else ""))
    if len(runs) > 1:
        print(f"{len(runs)} runs, stepping " + ", ".join(f"{r['stepping']:.2f}" for r in runs) + " s; the fastest is reported")
    print()
    print(f"  wall time (sim.run)       {wall:10.2f} s")
    print(f"    build                   {build:10.2f} s   (scenario, population, network, day-0 book)")
    if args.burn_in:
        print(f"    burn-in stepping        {best['burn_in']:10.2f} s   ({args.burn_in:,} days; CPU {best['burn_in_cpu']:.2f} s)")
    print(f"    stepping                {stepping:10.2f} s   ({1000 * stepping / args.days:.2f} ms/day"
          + (", the window alone" if args.burn_in else "") + ")")
    if args.burn_in:
        both, both_cpu = stepping + best["burn_in"], best["stepping_cpu"] + best["burn_in_cpu"]
        print(f"    burn-in + window        {both:10.2f} s   (CPU {both_cpu:.2f} s; "
              f"{args.borrowers * (args.days + args.burn_in) / both / 1e6:.2f} M borrower-days/s)")
    print(f"    finish                  {finish:10.2f} s   (daily DataFrame, summary, books)")
    print(f"  borrower-days / s         {rate / 1e6:10.2f} M   (borrowers x days / stepping time)")
    print(f"    on CPU time             {cpu_rate / 1e6:10.2f} M   (stepping CPU time {best['stepping_cpu']:.2f} s; "
          "close to the wall figure unless the core is shared)")
    print(f"  target                    {TARGET / 1e6:10.2f} M   -> {'MET' if met else 'NOT MET'} "
          f"({100 * rate / TARGET:.0f}% of target)")
    print(f"  peak memory (ru_maxrss)   {peak_mb:10.1f} MB  (of which {rss_before_mb:.1f} MB before the run: "
          "interpreter + imports)")
    s = best["summary"]
    print(f"  outcomes: default_rate {s['default_rate']:.4f}, ever_30dpd_rate {s['ever_30dpd_rate']:.4f}, "
          f"cure_rate {s['cure_rate']:.3f}, mean_stress {s['mean_stress']:.3f}, loans {s['loans']:,}")

    rows = []
    if not args.no_breakdown:
        print()
        print(f"Per-mechanism breakdown of stepping time, {args.clock} clock (daily order numbers from sim/model.py):")
        # the timers run through the burn-in too: the breakdown covers every day stepped
        total = (stepping + best["burn_in"]) if args.clock == "wall" else (best["stepping_cpu"] + best["burn_in_cpu"])
        rows = print_breakdown(tree, total, args.days + args.burn_in, args.depth)
        if missing:
            print(f"  not timed (not found in sim/ any more): {', '.join(missing)}")

    if args.json:
        doc = {
            "scenario": best["name"], "runs_stepping_s": [r["stepping"] for r in runs], "borrowers": args.borrowers, "days": args.days, "seed": args.seed,
            "burn_in_days": args.burn_in, "burn_in_s": best["burn_in"], "burn_in_cpu_s": best["burn_in_cpu"],
            "wall_s": wall, "build_s": build, "stepping_s": stepping, "finish_s": finish,
            "borrower_days_per_s": rate, "stepping_cpu_s": best["stepping_cpu"], "borrower_days_per_cpu_s": cpu_rate, "target": TARGET, "target_met": met, "peak_rss_mb": peak_mb,
            "breakdown": rows, "summary": s,
        }
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
