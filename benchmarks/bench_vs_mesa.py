"""The vectorised model (sim.CreditModel) against the same rules written as per-agent Mesa code.

    .venv/bin/python benchmarks/bench_vs_mesa.py                        # 2,000 borrowers x 365 days, 8 seeds
    .venv/bin/python benchmarks/bench_vs_mesa.py --borrowers 5000 --days 730 --replicates 5
    .venv/bin/python benchmarks/bench_vs_mesa.py --replicates 3 --large 100000x30   # also the ratio at full size

Both models run the same scenario, population size, days and seeds, one after the other, on one
pinned core. Prints, for each: build time, stepping time and borrower-days per second, then the
speed ratio; then a sanity table of outcomes (with sim.metrics definitions for both) so a reader can
see that the two implement similar rules. The per-agent model draws its own random numbers, so the
outcomes agree in distribution, not exactly: the table shows mean and standard deviation over the
seeds and the difference in standard errors (marked when beyond 3).
"""

from __future__ import annotations

import bench_model  # noqa: F401  (first: sets the one-thread environment before numpy is imported)

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

#: outcomes compared: (summary key, label, scale, format). Counts are per 1,000 people in the market.
OUTCOMES = [
    ("ever_30dpd_rate", "ever 30+ DPD rate (first 365 days)", 1.0, "{:.4f}"),
    ("default_rate", "default (charge-off) rate", 1.0, "{:.4f}"),
    ("mean_stress", "mean stress of borrowers", 1.0, "{:.4f}"),
    ("high_stress_share", "high-stress share of borrowers", 1.0, "{:.4f}"),
    ("late_payment_rate", "late payment rate (per instalment due)", 1.0, "{:.4f}"),
    ("dpd30_rate", "30+ DPD share at the end", 1.0, "{:.4f}"),
    ("cure_rate", "cure rate", 1.0, "{:.4f}"),
    ("brand_trust", "brand trust at the end", 1.0, "{:.4f}"),
    ("applications", "applications / 1,000 people", 1000.0, "{:.1f}"),
    ("originations", "originations / 1,000 people", 1000.0, "{:.1f}"),
    ("sms", "SMS / 1,000 people", 1000.0, "{:.0f}"),
    ("calls", "calls / 1,000 people", 1000.0, "{:.0f}"),
    ("visits", "visits / 1,000 people", 1000.0, "{:.1f}"),
    ("charge_offs", "charge-offs / 1,000 people", 1000.0, "{:.2f}"),
    ("early_contacts", "early contacts / 1,000 people", 1000.0, "{:.2f}"),
    ("profit", "profit per person (CU)", 1.0, "{:.1f}"),
]


def timed_run(cls, *, scenario, borrowers, days, seed):
    """Build, then step ``days`` times; returns (build s, stepping s, stepping CPU s, summary).

    Both models run from day 0 without burn-in (the Mesa-agent reference has none), so both summaries
    count the same days.
    """
    t0 = time.perf_counter()
    model = cls(scenario=scenario, borrowers=borrowers, days=days, rng=seed, overrides={"simulation.burn_in": 0})
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(model.days):
        model.step()
    t2, c2 = time.perf_counter(), time.process_time()
    return t1 - t0, t2 - t1, c2 - c1, model.summary()


def mean_sd(xs):
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--borrowers", type=int, default=2_000, help="people in the market (default 2,000)")
    ap.add_argument("--days", type=int, default=365, help="days simulated (default 365)")
    ap.add_argument("--scenario", default="baseline", help="shipped scenario name or TOML path (default baseline)")
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0); replicates use seed, seed+1, ...")
    ap.add_argument("--replicates", type=int, default=8, help="seeds per model (default 8)")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last allowed one)")
    ap.add_argument("--large", metavar="NxD", default=None,
                    help="also time both models once at N borrowers x D days, e.g. 100000x30 (slow for per-agent)")
    ap.add_argument("--settle-before-early-contact", action="store_true",
                    help="diagnostic: in this process only, make the vectorised early-contact step settle daily "
                         "spending before projecting cash (see README)")
    args = ap.parse_args(argv)

    pinned = bench_model.pin_to_one_cpu(args.cpu)
    import numpy as np

    import mesa

    from mesa_agents import MesaCreditModel
    from sim.model import CreditModel

    if args.settle_before_early_contact:
        from sim.mechanisms import early_contact, spending

        projected = early_contact.foresee_shortfall

        def settled_first(model, idx, t, horizon):
            spending.settle(model, idx, t)
            return projected(model, idx, t, horizon)

        early_contact.foresee_shortfall = settled_first

    seeds = [args.seed + r for r in range(args.replicates)]
    bdays = args.borrowers * args.days
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"vectorised vs per-agent Mesa  |  NumPy {np.__version__}, Mesa {mesa.__version__}; {pinned}, BLAS threads = 1")
    print(f"scenario {args.scenario!r}, {args.borrowers:,} borrowers x {args.days:,} days, seeds {seeds}; "
          f"load average {load:.2f} on {os.cpu_count()} CPUs")
    print()

    results = {}
    for name, cls in (("vectorised (sim.CreditModel)", CreditModel), ("per-agent Mesa (mesa_agents)", MesaCreditModel)):
        builds, steps, cpus, summaries = [], [], [], []
        for seed in seeds:
            b, s, c, summ = timed_run(cls, scenario=args.scenario, borrowers=args.borrowers, days=args.days, seed=seed)
            builds.append(b)
            steps.append(s)
            cpus.append(c)
            summaries.append(summ)
            print(f"  {name:<30} seed {seed:<4} build {b:7.2f} s   stepping {s:8.2f} s (CPU {c:7.2f} s)   "
                  f"{bdays / s / 1e6:9.3f} M borrower-days/s", flush=True)
        results[name] = (builds, steps, cpus, summaries)

    (vb, vs, vc, vsum), (mb, ms, mc, msum) = results.values()
    v_rate, v_cpu = bdays * len(seeds) / sum(vs), bdays * len(seeds) / sum(vc)
    m_rate, m_cpu = bdays * len(seeds) / sum(ms), bdays * len(seeds) / sum(mc)
    print()
    print(f"  {'':<30} {'build (mean)':>13} {'stepping (mean)':>16} {'borrower-days/s':>16} {'per CPU s':>12}")
    print(f"  {'vectorised':<30} {statistics.fmean(vb):11.3f} s {statistics.fmean(vs):14.3f} s {v_rate:16,.0f} {v_cpu:12,.0f}")
    print(f"  {'per-agent Mesa':<30} {statistics.fmean(mb):11.3f} s {statistics.fmean(ms):14.3f} s {m_rate:16,.0f} {m_cpu:12,.0f}")
    print(f"  speed ratio (stepping): vectorised is {v_rate / m_rate:,.0f}x faster at {args.borrowers:,} borrowers "
          f"({v_cpu / m_cpu:,.0f}x on CPU time)")
    print(f"  (at this per-agent rate, 100,000 x 1,095 days would need {100_000 * 1_095 / m_cpu / 60:,.0f}+ CPU minutes "
          "of stepping; the per-agent rate falls further at large sizes, see --large)")

    print()
    print(f"Outcomes, mean (sd) over {len(seeds)} seed(s); sim.metrics definitions for both; "
          "diff/se = difference in standard errors")
    if args.settle_before_early_contact:
        print("  (vectorised run with --settle-before-early-contact)")
    print(f"  {'outcome':<38} {'vectorised':>20} {'per-agent Mesa':>20} {'diff/se':>8}")
    for key, label, scale, fmt in OUTCOMES:
        if key not in vsum[0] or key not in msum[0]:
            continue
        div = args.borrowers / scale if scale != 1.0 else 1.0
        if key == "profit":
            div = args.borrowers
        a = [s[key] / div for s in vsum]
        b = [s[key] / div for s in msum]
        (ma, sa), (mb_, sb) = mean_sd(a), mean_sd(b)
        se = math.sqrt((sa**2 + sb**2) / len(seeds))
        z = (mb_ - ma) / se if se > 0 else 0.0
        cell = lambda m, s: f"{fmt.format(m)} ({fmt.format(s)})"  # noqa: E731
        flag = "  <- differs" if abs(z) > 3 else ""
        print(f"  {label:<38} {cell(ma, sa):>20} {cell(mb_, sb):>20} {z:8.1f}{flag}")
    if len(seeds) < 8:
        print(f"  (with {len(seeds)} replicate(s) the sd estimates are rough and a flag is only a hint: "
              "use --replicates 8 or more to confirm a difference)")

    if args.large:
        n_large, d_large = (int(x.replace(",", "").replace("_", "")) for x in args.large.lower().split("x"))
        print()
        print(f"Speed at {n_large:,} borrowers x {d_large:,} days (one run each, seed {args.seed}):")
        rates = []
        for name, cls in (("vectorised", CreditModel), ("per-agent Mesa", MesaCreditModel)):
            b, s, c, _ = timed_run(cls, scenario=args.scenario, borrowers=n_large, days=d_large, seed=args.seed)
            rates.append((n_large * d_large / s, n_large * d_large / c))
            print(f"  {name:<30} build {b:7.2f} s   stepping {s:8.2f} s (CPU {c:7.2f} s)   "
                  f"{rates[-1][0] / 1e6:9.3f} M borrower-days/s", flush=True)
        print(f"  speed ratio (stepping): vectorised is {rates[0][0] / rates[1][0]:,.0f}x faster at {n_large:,} borrowers "
              f"({rates[0][1] / rates[1][1]:,.0f}x on CPU time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
