"""Compare the shipped collection strategies: the strategy comparison as a sweep, then its table and figure.

The comparison is defined once, in ``experiments/strategies.toml`` (every shipped scenario, its
size, burn-in and replicates); this script runs that spec as a sweep (``sim.sweep.plan`` and
``sim.execute.run_sweep``, exactly as ``credsim sweep`` does: the same seeds, the same worker
processes, the same results folder) into ``OUT/sweep/``, then tabulates it with the code of ``credsim
compare`` (``sim.analysis.compare``). Replicate r of every strategy runs with the seed
``sim.rng.replicate_seed(seed, r)``, so replicate r of every strategy faces the same people and the
same shocks (common random numbers): differences between rows are the strategies' effects, not
sampling noise. Every run has its burn-in before the measurement window; the summary and the daily
30+ DPD share are of the window only. Rerunning the same command resumes: finished runs are kept.

    python experiments/compare_strategies.py [--borrowers N] [--days D] [--burn-in B] [--replicates R]
                                             [--workers W] [--out results/compare]

The options change the spec's size as if the file said so (the defaults are the file's). Writes to
``--out``: ``sweep/`` (the sweep's results folder: ``credsim compare OUT/sweep`` and ``credsim plot
OUT/sweep`` read it), ``summary.csv`` (the table, raw numbers: ``<key>_mean``, ``<key>_ci_low``,
``<key>_ci_high``, ``<key>_diff``, ``<key>_diff_low``, ``<key>_diff_high``, ``n``), ``summary.json``
(``credsim compare --json`` of the sweep, plus provenance), ``runs.csv`` (every summary key of every
run), ``dpd30_daily.csv`` (daily 30+ DPD share per strategy, mean over replicates) and ``compare.png``
/ ``compare.svg`` (the figure).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from sim import analysis, plots  # noqa: E402
from sim.analysis import KEY_OUTCOMES  # noqa: E402

#: The one definition of the strategy comparison.
SPEC = ROOT / "experiments" / "strategies.toml"
#: The table's outcomes (keys of Result.summary; definitions in sim/metrics.py and docs/ODD.md).
COLUMNS = KEY_OUTCOMES
#: Spec keys the options change.
SIZE = ("borrowers", "days", "burn_in", "replicates")


def wide(table: pd.DataFrame, res) -> pd.DataFrame:
    """One row per strategy from the tidy table of :func:`sim.analysis.compare`: ``<key>_mean``,
    ``<key>_ci_low``, ``<key>_ci_high`` and the paired difference from the baseline ``<key>_diff``,
    ``<key>_diff_low``, ``<key>_diff_high`` for each outcome, and ``n`` (finished runs)."""
    n = res.summaries.groupby("scenario").size() if len(res.summaries) else pd.Series(dtype=int)
    rows = []
    for name in dict.fromkeys(table["scenario"]):  # the table's order (in_order: baseline first, then the groups)
        t = table[table["scenario"] == name].set_index("outcome")
        row = {"scenario": name}
        for k in COLUMNS:
            for col in ("mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high"):
                row[f"{k}_{col}"] = float(t.loc[k, col]) if k in t.index else np.nan
        row["n"] = int(n.get(name, 0))
        rows.append(row)
    return pd.DataFrame(rows)


def dpd30_daily(res) -> pd.DataFrame:
    """Daily share of active loans 30+ DPD over the measurement window per strategy, mean over
    replicates (``day`` = day of the window), from :func:`sim.analysis.dpd_composition`."""
    d = analysis.dpd_composition(res)
    d = d[~d["burn_in"].astype(bool)]
    share = d[["dpd_30_59", "dpd_60_89", "dpd_90_plus"]].astype(float).sum(axis=1, min_count=1)
    return pd.DataFrame({"scenario": d["scenario"].to_numpy(), "day": d["window_day"].astype(int).to_numpy(),
                         "dpd30_share": share.to_numpy()})


def plot(table: pd.DataFrame, daily: pd.DataFrame, args, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table["scenario"])
    colors = plots.strategy_colors(names)  # each strategy its own colour, the same in every figure
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
    from sim.execute import default_workers
    from sim.sweep import read_spec

    spec = read_spec(SPEC)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--borrowers", type=int, default=spec.borrowers,
                   help="people in the market; from experiments/strategies.toml")
    p.add_argument("--days", type=int, default=spec.days,
                   help="days of measurement window, after the burn-in; from experiments/strategies.toml")
    p.add_argument("--burn-in", type=int, default=spec.burn_in,
                   help="days before the measurement window; from experiments/strategies.toml")
    p.add_argument("--replicates", type=int, default=spec.replicates,
                   help="paired replicates per strategy, seeds replicate_seed(seed, r); from experiments/strategies.toml")
    p.add_argument("--workers", type=int, default=default_workers(), help="worker processes (one per core)")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "compare", help="output folder (the sweep goes to OUT/sweep; rerun to resume)")
    args = p.parse_args(argv)
    for name, low in (("borrowers", 10), ("days", 1), ("burn_in", 0), ("replicates", 1), ("workers", 1)):
        v = getattr(args, name)
        if v is not None and v < low:
            p.error(f"--{name.replace('_', '-')} must be at least {low}")
    return args


def bad(text: str) -> int:
    sys.stderr.write(text + "\n")
    return 2


def main(argv=None) -> int:
    args = parse_args(argv)
    from sim.cli_common import Progress, _interactive, warnings_as_lines
    from sim.cli_results import in_order, json_doc, print_tables
    from sim.execute import run_sweep
    from sim.scenario import ScenarioError
    from sim.store import DifferentSweep, ResultStore, code_hash, git_commit, versions
    from sim.sweep import plan as make_plan

    changes = {k: getattr(args, k) for k in SIZE if getattr(args, k) is not None}
    folder = args.out / "sweep"
    try:
        plan = make_plan(SPEC, changes=changes)
        store = ResultStore(folder)
        store.check(plan)
    except ScenarioError as e:
        return bad(str(e))
    except DifferentSweep as e:
        return bad(f"--out: {args.out}: a new folder or this comparison's own results ({e}); "
                   "use another --out, or delete the folder to start again")
    spec = plan.spec
    progress = Progress("runs", interactive=_interactive())
    with progress:
        def on_start(total: int, skipped: int) -> None:
            progress.print(f"{len(plan.scenario_trees)} strategies "
                           f"x {spec.replicates} replicates = {total} runs of {spec.borrowers:,} borrowers x {spec.days} days "
                           f"(after a {spec.burn_in}-day burn-in) on {args.workers} worker(s) -> {folder}"
                           + (f"; resuming: {skipped} already finished" if skipped else ""))
            progress.start(total, skipped)

        def on_result(job, ok: bool) -> None:
            if not ok:
                progress.print(f"run {job.run_id} failed (see {folder / 'failures' / (job.run_id + '.json')})")
            progress.update(advance=1, failed=progress.failed + (not ok))

        try:
            outcome = run_sweep(plan, store, executor="local", workers=args.workers, on_start=on_start,
                                on_result=on_result)
        except DifferentSweep as e:  # another sweep writes into the folder now
            return bad(f"--out: {args.out}: a folder no other sweep is writing to: {e}")
    if outcome.failed or len(store.finished()) < outcome.planned:
        progress.print(f"{outcome.planned - len(store.finished())} run(s) not finished: see {folder / 'failures'}; "
                       "rerun the same command to retry them")
        return 1

    res = analysis.load(folder)
    base = res.baseline("baseline" if "baseline" in res.scenarios else None)
    keys = [k for k in COLUMNS if k in res.outcomes]
    with warnings_as_lines(analysis.SingleReplicateWarning):  # as `credsim compare` says it
        table = in_order(analysis.compare(res, base, keys), res, base)  # what `credsim compare OUT/sweep` shows
    print_tables(res, table, base, keys)

    args.out.mkdir(parents=True, exist_ok=True)
    summary = wide(table, res)
    summary.to_csv(args.out / "summary.csv", index=False)
    doc = json_doc(res, table, base, keys)
    doc["provenance"] = {
        "spec_file": str(SPEC.relative_to(ROOT)),
        "changes": changes,
        "spec": spec.model_dump(mode="json"),
        "spec_hash": plan.spec_hash,
        "seeds": res.manifest.get("seeds"),
        "git_commit": git_commit(),
        "code_hash": code_hash(),
        "versions": versions(),
        "command": " ".join(sys.argv),
        "sweep": str(folder),
    }
    (args.out / "summary.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    res.summaries.to_csv(args.out / "runs.csv", index=False)
    daily = dpd30_daily(res)
    daily.to_csv(args.out / "dpd30_daily.csv", index=False)
    args.borrowers, args.days, args.replicates = spec.borrowers, spec.days, spec.replicates
    figs = plot(summary, daily, args, args.out)
    progress.print(f"{outcome.done} runs done, {outcome.skipped} already finished, in {outcome.seconds:.1f} s. Wrote "
                   f"{args.out / 'summary.csv'}, summary.json, runs.csv, dpd30_daily.csv, {figs[0].name}, {figs[1].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
