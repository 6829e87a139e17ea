"""Compare the shipped collection strategies: every scenario in scenarios/, paired replicates.

Each strategy runs with the same seeds (1..R), so replicate r of every strategy faces the same
people and the same shocks (common random numbers): differences between rows are the strategies'
effects, not sampling noise. Runs go to worker processes; the table shows the mean over replicates
and its 95% confidence interval (Student t; for rates on the logit scale, so it stays inside [0, 1]).
Every run has the scenario's burn-in (``simulation.burn_in``) before its ``--days`` of measurement
window; the summary and the daily 30+ DPD share are of the window only.

    python experiments/compare_strategies.py [--borrowers 10000] [--days 730] [--replicates 4]
                                             [--workers N] [--out results/compare]

Writes to ``--out``: ``summary.csv`` (the table, raw numbers: ``<key>_mean``, ``<key>_ci_low``,
``<key>_ci_high``), ``runs.csv`` (every summary key of
every run), ``dpd30_daily.csv`` (daily 30+ DPD share per strategy, mean over replicates) and
``compare.png`` / ``compare.svg`` (the figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from sim import analysis
from sim.analysis import KEY_OUTCOMES
from sim.metrics import RATE_KEYS

ROOT = Path(__file__).resolve().parent.parent

#: The table's columns (keys of Result.summary; definitions in sim/metrics.py and docs/ODD.md).
COLUMNS = KEY_OUTCOMES
#: Shown as percentages in the terminal table.
PERCENT = {"default_rate", "ever_30dpd_rate", "roll_30_60", "cure_rate", "high_stress_share"}
#: Money, in currency units (CU), shown in thousands.
MONEY = {"collection_cost", "profit", "npv"}


def run_one(scenario: str, borrowers: int, days: int, seed: int) -> dict:
    """One run in a worker process: the summary plus the daily 30+ DPD share over the measurement
    window (small to send back); ``day`` is the day of the window."""
    import warnings

    import sim

    with warnings.catch_warnings():  # an undefined metric is NaN in the table
        warnings.simplefilter("ignore", sim.UndefinedMetricWarning)
        res = sim.run(scenario, borrowers=borrowers, days=days, seed=seed)
    d = res.daily[~res.daily["burn_in"]]
    late = (d["dpd_30_59"] + d["dpd_60_89"] + d["dpd_90_plus"]).to_numpy(float)
    active = d["active_loans"].to_numpy(float)
    share = np.divide(late, active, out=np.zeros_like(late), where=active > 0)
    return {
        "file": scenario,
        "scenario": res.scenario.name,
        "seed": seed,
        "summary": res.summary,
        "day": d["window_day"].to_numpy(int),
        "dpd30_share": share,
    }


def summarise(runs: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per strategy: ``<key>_mean``, ``<key>_ci_low``, ``<key>_ci_high`` for each column (95%
    interval, see :func:`sim.analysis.mean_ci`; NaN with a single replicate), and ``n``."""
    rows = []
    for name in order:
        sub = runs[runs["scenario"] == name]
        row = {"scenario": name, "n": len(sub)}
        for k in COLUMNS:
            _n, row[f"{k}_mean"], row[f"{k}_ci_low"], row[f"{k}_ci_high"] = analysis.mean_ci(sub[k], rate=k in RATE_KEYS)
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(key: str, mean: float, lo: float, hi: float) -> str:
    if key in PERCENT:
        scale, digits = 100.0, 2
    elif key in MONEY:
        scale, digits = 1e-3, 0
    elif key == "complaints":
        scale, digits = 1.0, 1
    else:
        scale, digits = 1.0, 3
    if np.isnan(mean):
        return "NaN"
    m = f"{mean * scale:,.{digits}f}"
    ci = "[n/a]" if np.isnan(lo) else f"[{lo * scale:,.{digits}f}, {hi * scale:,.{digits}f}]"
    return f"{m}\n{ci}"


def header(key: str) -> str:
    if key in PERCENT:
        return f"{key}\n(%)"
    if key in MONEY:
        return f"{key}\n(kCU)"
    if key in ("mean_stress", "brand_trust"):
        return f"{key}\n(0..1)"
    return f"{key}\n(count)"


def print_table(table: pd.DataFrame, args, console) -> None:
    from rich.table import Table

    t = Table(
        title=f"Collection strategies: {args.borrowers:,} borrowers x {args.days} days, "
        f"{args.replicates} paired replicates (seeds 1..{args.replicates}); mean [95% CI]",
        header_style="bold",
    )
    t.add_column("scenario", style="bold", no_wrap=True)
    for k in COLUMNS:
        t.add_column(header(k), justify="right", overflow="fold")
    for _, row in table.iterrows():
        t.add_row(row["scenario"], *[_fmt(k, row[f"{k}_mean"], row[f"{k}_ci_low"], row[f"{k}_ci_high"])
                                     for k in COLUMNS])
    console.print(t)


def plot(table: pd.DataFrame, daily: pd.DataFrame, args, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table["scenario"])
    colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    y = np.arange(len(names))
    fig, axes = plt.subplots(2, 2, figsize=(13, 9), layout="constrained")
    bars = [
        ("default_rate", 100.0, "Default (charge-off) rate (% of loans)"),
        ("mean_stress", 1.0, "Mean borrower stress, averaged over the window (0–1)"),
        ("brand_trust", 1.0, "Brand trust at the end (0–1, whole market)"),
    ]
    ref = names.index("baseline") if "baseline" in names else None
    for ax, (key, scale, label) in zip(axes.flat[:3], bars):
        m = table[f"{key}_mean"].to_numpy() * scale
        below = np.nan_to_num(m - table[f"{key}_ci_low"].to_numpy() * scale)
        h = np.nan_to_num(table[f"{key}_ci_high"].to_numpy() * scale - m)  # above the mean
        err = np.vstack([below, h])  # a rate's interval need not be symmetric
        cs = [colors[n] for n in names]
        if key == "default_rate":  # a rate from zero: bars
            ax.barh(y, m, xerr=err, color=cs, capsize=4, alpha=0.9, error_kw={"elinewidth": 1.2, "ecolor": "black"})
            ax.set_xlim(0, np.nanmax(m + h) * 1.15 or 1.0)
        else:  # stress and trust differ by little on 0..1: points with error bars on a zoomed axis
            for yi in range(len(names)):
                ax.errorbar(m[yi], yi, xerr=err[:, yi:yi + 1], fmt="o", ms=7, color=cs[yi], ecolor="black",
                            elinewidth=1.2, capsize=4)
            lo, hi = np.nanmin(m - below), np.nanmax(m + h)
            pad = 0.12 * (hi - lo) if hi > lo else 0.05
            ax.set_xlim(max(0.0, lo - pad), hi + 2.5 * pad)
        if ref is not None:
            ax.axvline(m[ref], color="0.4", lw=0.9, ls="--", zorder=0)
        ax.set_yticks(y, names)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        fmt = "{:.2f}" if key == "default_rate" else "{:.3f}"
        for yi, (mi, hi_) in enumerate(zip(m, h)):
            ax.text(mi + hi_, yi, "  " + fmt.format(mi), va="center", fontsize=8)
    ax = axes.flat[3]
    for n in names:
        d = daily[daily["scenario"] == n]
        ax.plot(d["day"], d["dpd30_share"] * 100.0, color=colors[n], lw=1.4, label=n)
    ax.set_xlabel("Day of the measurement window (after the burn-in)")
    ax.set_ylabel("Active loans 30+ DPD (%)")
    ax.set_title("30+ DPD share over time (mean over replicates)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.set_xlim(0, int(daily["day"].max()))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    for ax, title in zip(axes.flat[:3], ["Default rate", "Borrower stress", "Brand trust"]):
        ax.set_title(f"{title} (error bars: 95% CI; dashed: baseline)" if ref is not None
                     else f"{title} (error bars: 95% CI)", fontsize=10)
    fig.suptitle(
        f"credsim: collection strategies compared — {args.borrowers:,} borrowers × {args.days} days "
        f"(after the burn-in), "
        f"{args.replicates} paired replicates",
        fontsize=12,
    )
    paths = [out / "compare.png", out / "compare.svg"]
    fig.savefig(paths[0], dpi=120)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--borrowers", type=int, default=10_000, help="people in the market")
    p.add_argument("--days", type=int, default=730, help="days simulated")
    p.add_argument("--replicates", type=int, default=4, help="paired replicates per strategy (seeds 1..N)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "compare", help="output folder")
    args = p.parse_args(argv)
    for name in ("borrowers", "days", "replicates", "workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from sim.scenario import shipped_scenarios

    # a terminal gets the table at its own width; a log or pipe gets it whole
    console = Console() if sys.stdout.isatty() else Console(width=180)
    scenarios = shipped_scenarios()
    if not scenarios:
        console.print("[red]no shipped scenarios found[/red]")
        return 1
    seeds = list(range(1, args.replicates + 1))
    jobs = [(str(p), args.borrowers, args.days, s) for p in scenarios for s in seeds]
    workers = min(args.workers, len(jobs))
    args.out.mkdir(parents=True, exist_ok=True)
    console.print(f"{len(scenarios)} strategies x {len(seeds)} replicates = {len(jobs)} runs "
                  f"of {args.borrowers:,} borrowers x {args.days} days on {workers} worker(s)")

    results = []
    t0 = time.perf_counter()
    columns = (TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress, ProcessPoolExecutor(max_workers=workers) as pool:
        task = progress.add_task("runs", total=len(jobs))
        futures = {pool.submit(run_one, *job): job for job in jobs}
        for fut in as_completed(futures):
            results.append(fut.result())  # a failed run raises here, with the worker's traceback
            progress.advance(task)
    elapsed = time.perf_counter() - t0

    # rows in the order of shipped_scenarios(), whatever order the runs finished in
    files = [j[0] for j in jobs]
    name_of = {r["file"]: r["scenario"] for r in results}
    order = list(dict.fromkeys(name_of[f] for f in files))
    runs = pd.DataFrame([{"scenario": r["scenario"], "seed": r["seed"], **r["summary"]} for r in results])
    runs = runs.sort_values(["scenario", "seed"], key=lambda c: c.map(order.index) if c.name == "scenario" else c)
    daily = pd.concat(
        [pd.DataFrame({"scenario": r["scenario"], "seed": r["seed"], "day": r["day"], "dpd30_share": r["dpd30_share"]})
         for r in results]
    )
    daily = daily.groupby(["scenario", "day"], sort=False, as_index=False)["dpd30_share"].mean()
    daily = daily.sort_values(["scenario", "day"], key=lambda c: c.map(order.index) if c.name == "scenario" else c)
    table = summarise(runs, order)

    print_table(table, args, console)
    table.to_csv(args.out / "summary.csv", index=False)
    runs.to_csv(args.out / "runs.csv", index=False)
    daily.to_csv(args.out / "dpd30_daily.csv", index=False)
    figs = plot(table, daily, args, args.out)
    console.print(f"{len(jobs)} runs in {elapsed:.1f} s. Wrote {args.out / 'summary.csv'}, runs.csv, "
                  f"dpd30_daily.csv, {figs[0].name}, {figs[1].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
