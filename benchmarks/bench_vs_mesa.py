"""The vectorised model (sim.CreditModel) against the same core rules written per agent in Mesa.

    .venv/bin/python benchmarks/bench_vs_mesa.py                  # vectorised 10,000 x 365, per-agent 1,000 x 365
    .venv/bin/python benchmarks/bench_vs_mesa.py --large          # per-agent at 10,000 x 365 too (a few minutes)
    .venv/bin/python benchmarks/bench_vs_mesa.py --borrowers 20000 --mesa-borrowers 2000 --days 200 --seed 3

Both run the core subset (``benchmarks/core.toml``; what it holds and leaves out:
``benchmarks/mesa_agents.py`` and benchmarks/README.md), one after the other, on one pinned core
with one BLAS thread. For each the script prints build and stepping time (wall and CPU) and
borrower-days per second of stepping (``borrowers * days / stepping time``), then the speed ratio.
The per-agent model is slow, so by default it runs a smaller population than the vectorised one;
``--large`` also runs it at the vectorised model's size, which gives the ratio at equal size.

Then the **agreement check**: the vectorised model is run again at the per-agent model's size and
seed, and the two are compared as ``tests/test_mesa_core.py`` compares them: every loan's life
(the ledger columns of ``Result.loans``), every person's final state, the daily counts, the lender's
books and the summary keys the per-agent model reports (money to a relative 1e-9). Exit status 1 if
they disagree.
"""

from __future__ import annotations

import bench_model  # noqa: F401  (first: sets the one-thread environment before numpy is imported)

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

PERSON = ("cash", "reserved", "stress", "trust", "attention", "pressure", "paid_total", "co_balance", "app_count",
          "contacts", "last_decision")
RTOL, ATOL = 1e-9, 1e-6


def timed(cls, scenario, seed):
    """Build, then step to the end; returns (model, build s, stepping wall s, stepping CPU s)."""
    t0 = time.perf_counter()
    model = cls(scenario=scenario, rng=seed)
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(model.days):
        model.step()
    t2, c2 = time.perf_counter(), time.process_time()
    return model, t1 - t0, t2 - t1, c2 - c1


def disagreements(vec, agents) -> list[str]:
    """Where the two models differ (empty: they agree)."""
    import numpy as np

    import mesa_agents
    from sim import metrics

    out = []
    cols = list(mesa_agents.LEDGER)
    v = metrics.loan_table(vec)[cols].reset_index(drop=True)
    m = agents.loans()[cols].reset_index(drop=True)
    if len(v) != len(m):
        out.append(f"loans: {len(v)} vectorised, {len(m)} per-agent")
    else:
        out += [f"loans.{c}: {int((v[c].to_numpy() != m[c].to_numpy()).sum())} loans differ" for c in cols
                if (v[c].to_numpy() != m[c].to_numpy()).any()]
    state = agents.person_state(*PERSON)
    out += [f"people.{n}: {int((getattr(vec.people, n) != state[n]).sum())} people differ" for n in PERSON
            if (getattr(vec.people, n) != state[n]).any()]
    vd = vec.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    md = agents.daily()
    for c in mesa_agents.DAILY:
        a, b = vd[c].to_numpy(float), md[c].to_numpy(float)
        if len(a) != len(b) or not np.allclose(a, b, rtol=RTOL, atol=ATOL):
            out.append(f"daily.{c} differs")
    vb, mb = vec.lender.books.as_dict(), agents.books.as_dict()
    out += [f"books.{k}: {vb[k]} vs {mb[k]}" for k in vb if not np.isclose(vb[k], mb[k], rtol=RTOL, atol=ATOL)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        vs = vec.summary()
    for k, x in agents.summary().items():
        if not (np.isclose(x, vs[k], rtol=RTOL, atol=ATOL) or (np.isnan(x) and np.isnan(vs[k]))):
            out.append(f"summary.{k}: {vs[k]} vs {x}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--borrowers", type=int, default=10_000, help="people, vectorised model (default 10,000)")
    ap.add_argument("--mesa-borrowers", type=int, default=1_000, help="people, per-agent model (default 1,000)")
    ap.add_argument("--days", type=int, default=365, help="days stepped (default 365; the core has no burn-in)")
    ap.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    ap.add_argument("--large", action="store_true", help="also run the per-agent model at --borrowers (slow)")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last allowed one)")
    args = ap.parse_args(argv)

    pinned = bench_model.pin_to_one_cpu(args.cpu)
    import mesa
    import numpy as np

    import mesa_agents
    from sim.model import CreditModel, build_scenario

    def scenario(n):
        return build_scenario(mesa_agents.CORE, n, args.days)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"vectorised vs per-agent Mesa on the core subset (benchmarks/core.toml)  |  NumPy {np.__version__}, "
          f"Mesa {mesa.__version__}; {pinned}, BLAS threads = 1; load average {load:.2f} on {os.cpu_count()} CPUs")
    print()
    runs = [("vectorised (sim.CreditModel)", CreditModel, args.borrowers),
            ("per-agent Mesa (mesa_agents)", mesa_agents.MesaCoreModel, args.mesa_borrowers)]
    if args.large and args.mesa_borrowers != args.borrowers:
        runs.append(("per-agent Mesa (mesa_agents)", mesa_agents.MesaCoreModel, args.borrowers))
    rates = {}
    print(f"  {'model':<30} {'borrowers':>9} {'build':>8} {'stepping wall / CPU':>21} "
          f"{'borrower-days/s wall / CPU':>28}")
    for name, cls, n in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, build, wall, cpu = timed(cls, scenario(n), args.seed)
        bdays = n * model.days
        rates[(cls, n)] = (bdays / wall, bdays / cpu)
        print(f"  {name:<30} {n:>9,} {build:6.2f} s {wall:9.2f} / {cpu:7.2f} s "
              f"{bdays / wall:14,.0f} / {bdays / cpu:11,.0f}", flush=True)
        if cls is mesa_agents.MesaCoreModel and n == args.mesa_borrowers:
            small = model
    print()
    vec_rate = rates[(CreditModel, args.borrowers)]
    for (cls, n), rate in rates.items():
        if cls is mesa_agents.MesaCoreModel:
            print(f"  speed ratio: vectorised at {args.borrowers:,} / per-agent at {n:,}: "
                  f"{vec_rate[0] / rate[0]:,.0f}x ({vec_rate[1] / rate[1]:,.0f}x on CPU time)")

    print()
    print(f"Agreement at {args.mesa_borrowers:,} borrowers x {args.days:,} days, seed {args.seed} "
          "(vectorised run again at that size):")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vec_small, *_ = timed(CreditModel, scenario(args.mesa_borrowers), args.seed)
    bad = disagreements(vec_small, small)
    if bad:
        for line in bad:
            print(f"  DIFFERS  {line}")
        return 1
    n_loans = len(small.loans())
    print(f"  agree: all {n_loans:,} loans identical (ledger columns), every person's final state identical "
          f"({', '.join(PERSON)}), daily series, books and {len(small.summary())} summary keys equal "
          f"(money to a relative {RTOL:g})")
    b = vec_small.lender.books
    print(f"  (the run had {b.originations:,} new loans, {b.delinquency_episodes:,} delinquency episodes, "
          f"{b.cures:,} cures, {b.sms:,} SMS, {b.calls:,} calls, {b.charge_offs:,} charge-offs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
