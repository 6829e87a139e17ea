"""The lender's P&L per strategy, line by line, as a waterfall (sim/accounting.py, docs/ODD.md "Economics").

Each strategy runs with the same seeds (paired replicates, common random numbers), one run at a
time; the figure shows the mean over seeds of each P&L line of the measurement window, from interest
down to profit after provisions, with npv beside it. The table printed (and written as CSV) has the
mean and the paired difference of npv from ``no_collection`` per seed, which is the acceptance check
"collecting pays for itself".

    python experiments/pnl_waterfall.py [--borrowers 10000] [--days 1095] [--seeds 1 2]
                                        [--scenarios baseline no_collection ...] [--out results/waterfall]

Writes ``runs.csv`` (every line of every run) to ``--out`` and the figure to ``docs/img/waterfall.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim import runner

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ["baseline", "no_collection", "reminders_only", "humane_visits", "flexible_plans"]

#: (label, summary key or function of the summary, sign in profit)
LINES = [
    ("interest", lambda s: s["interest_income"], +1),
    ("fees", lambda s: s["fee_income"], +1),
    ("recoveries net", lambda s: s["recoveries_net"], +1),
    ("debt sale", lambda s: s["debt_sale_proceeds"], +1),
    ("impairment", lambda s: s["impairment"], -1),
    ("collection", lambda s: s["collection_cost"] - (s["recoveries"] - s["recoveries_net"]), -1),
    ("origination\n+ education", lambda s: s["origination_cost"] + s["education_cost"], -1),
    ("operating", lambda s: s["operating_cost"], -1),
    ("funding", lambda s: s["funding_cost"], -1),
    ("capital", lambda s: s["capital_cost"], -1),
]


def lines(summary: dict) -> dict:
    row = {label.replace("\n", " "): sign * f(summary) for label, f, sign in LINES}
    row["profit"] = summary["profit"]
    row["npv"] = summary["npv"]
    row["lost_business_value"] = summary["lost_business_value"]
    row["provisions_end"] = summary["provisions"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--borrowers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=1095)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--scenarios", nargs="+", default=SCENARIOS)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "waterfall")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "waterfall.png")
    a = ap.parse_args()
    rows = []
    for sc in a.scenarios:
        for seed in a.seeds:
            start = time.time()
            res = runner.run(sc, borrowers=a.borrowers, days=a.days, seed=seed)
            rows.append({"scenario": sc, "seed": seed, **lines(res.summary)})
            print(f"{sc} seed {seed}: profit {res.summary['profit'] / 1e3:,.0f} kCU, npv {res.summary['npv'] / 1e3:,.0f} kCU "
                  f"({time.time() - start:.0f} s)", flush=True)
    runs = pd.DataFrame(rows)
    a.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(a.out / "runs.csv", index=False)
    mean = runs.drop(columns="seed").groupby("scenario", sort=False).mean()
    pd.set_option("display.width", 200)
    print((mean / 1e3).round(0).to_string())
    if "no_collection" in a.scenarios:
        base = runs[runs.scenario == "no_collection"].set_index("seed")["npv"]
        for sc in a.scenarios:
            d = runs[runs.scenario == sc].set_index("seed")["npv"] - base
            print(f"npv {sc} - no_collection, per seed (kCU): {', '.join(f'{x / 1e3:,.0f}' for x in d)}")
    figure(mean, a.figure, a)


def figure(mean: pd.DataFrame, path: Path, a) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _, _ in LINES]
    keys = [label.replace("\n", " ") for label in labels]
    fig, axes = plt.subplots(1, len(mean), figsize=(3.2 * len(mean), 4.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (sc, row) in zip(axes, mean.iterrows()):
        level = 0.0
        for i, k in enumerate(keys):
            v = row[k] / 1e3
            ax.bar(i, v, bottom=level, color="tab:green" if v >= 0 else "tab:red", width=0.8)
            level += v
        ax.bar(len(keys), row["profit"] / 1e3, color="tab:blue", width=0.8)
        ax.bar(len(keys) + 1, row["npv"] / 1e3, color="navy", width=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(keys) + 2), labels + ["profit", "npv"], rotation=90, fontsize=7)
        ax.set_title(sc, fontsize=9)
    axes[0].set_ylabel("kCU over the window")
    fig.suptitle(f"P&L per strategy: {a.borrowers:,} borrowers, {a.days} days after the burn-in, "
                 f"mean of seeds {', '.join(map(str, a.seeds))}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
