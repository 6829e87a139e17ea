"""How long a burn-in does the model need? The baseline from its day-0 set-up, without burn-in.

Runs the baseline with ``simulation.burn_in = 0`` for 1,460 days (10,000 borrowers, a few seeds) and
draws, against the day, the share of active loans 30+ DPD, the share 1-29 DPD and mean brand trust
(mean over seeds, with the range over seeds shaded), into ``docs/img/burn_in.png``. For each series it
prints the day it settles: the first day from which its 30-day moving average stays within a band
around its level over the last year. The band is ``TOLERANCE`` of that level (for trust, which is not
a share of loans, ``TRUST_BAND`` absolute), widened to three standard deviations of the moving average
over the last year where the series is that noisy, so noise alone never delays the day. The default ``simulation.burn_in`` should be at least the
latest of these days. Usage::

    .venv/bin/python experiments/burn_in.py [--days 1460] [--seeds 3] [--borrowers 10000] [--out docs/img/burn_in.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOLERANCE = 0.10  #: a share of loans has settled when its 30-day mean stays within 10% of its final level
TRUST_BAND = 0.01  #: trust (0..1) has settled when its 30-day mean stays within 0.01 of its final level
SMOOTH = 30


def one_run(args) -> pd.DataFrame:
    import warnings

    import sim

    warnings.simplefilter("ignore")  # the summary is not used here
    seed, borrowers, days = args
    res = sim.run("baseline", borrowers=borrowers, days=days, seed=seed, overrides={"simulation.burn_in": 0})
    d = res.daily
    active = d["active_loans"].replace(0, np.nan)
    return pd.DataFrame({
        "seed": seed,
        "day": d["day"],
        "dpd30_share": (d["dpd_30_59"] + d["dpd_60_89"] + d["dpd_90_plus"]) / active,
        "dpd1_29_share": d["dpd_1_29"] / active,
        "brand_trust": d["brand_trust"],
    })


def settling_day(series: pd.Series, band: float) -> tuple[int, float]:
    """First day from which the 30-day moving average stays within the band of the last year's mean,
    and the band (``band``, or three standard deviations of the moving average over the last year)."""
    smooth = series.rolling(SMOOTH, min_periods=SMOOTH).mean()
    level = series.iloc[-365:].mean()
    band = max(band, 3.0 * float(smooth.iloc[-365:].std()))
    outside = (smooth - level).abs() > band
    outside.iloc[: SMOOTH - 1] = True
    bad = np.flatnonzero(outside.to_numpy())
    day = int(series.index[bad[-1] + 1]) if len(bad) and bad[-1] + 1 < len(series) else int(series.index[0])
    return day, band


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=1460)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--borrowers", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "burn_in.png")
    args = ap.parse_args(argv)

    jobs = [(s, args.borrowers, args.days) for s in range(1, args.seeds + 1)]
    from sim.execute import run_each

    runs = pd.concat(run_each(one_run, jobs, workers=args.workers), ignore_index=True)
    series = {"dpd30_share": "30+ DPD, share of active loans", "dpd1_29_share": "1-29 DPD, share of active loans",
              "brand_trust": "mean brand trust (0-1)"}
    mean = runs.groupby("day")[list(series)].mean()
    lo, hi = runs.groupby("day")[list(series)].min(), runs.groupby("day")[list(series)].max()

    settle = {}
    for key in series:
        level = mean[key].iloc[-365:].mean()
        band = TRUST_BAND if key == "brand_trust" else TOLERANCE * level
        settle[key], band = settling_day(mean[key].iloc[1:], band)  # day 0 is the set-up
        print(f"{key}: settles on day {settle[key]} (level over the last year {level:.4f}, band ±{band:.4f})")
    print(f"latest: day {max(settle.values())}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(7.5, 7.5), sharex=True)
    for ax, (key, label) in zip(axes, series.items()):
        scale = 1.0 if key == "brand_trust" else 100.0
        ax.fill_between(mean.index, lo[key] * scale, hi[key] * scale, color="0.85", lw=0, label="range over seeds")
        ax.plot(mean.index, mean[key] * scale, color="C0", lw=1, label="mean over seeds")
        ax.axvline(settle[key], color="C3", ls="--", lw=1, label=f"settled (day {settle[key]})")
        ax.set_ylabel(label + ("" if key == "brand_trust" else " (%)"))
        ax.legend(loc="best", fontsize=8, frameon=False)
    axes[-1].set_xlabel("day of the run (no burn-in: day 0 is the set-up)")
    fig.suptitle(f"baseline from its day-0 set-up: {args.borrowers:,} borrowers, {args.seeds} seeds", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
