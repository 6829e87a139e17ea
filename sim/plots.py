"""The figures of a sweep, for a paper: PNG (for screens) and SVG (for print), axes labelled with units.

Each figure is a function taking the loaded results (:func:`sim.analysis.load`) and an output folder;
it saves ``NAME.png`` and ``NAME.svg`` there and returns both paths. :func:`plot_all` draws them all::

    from sim import analysis, plots

    res = analysis.load("results/strategies")
    plots.plot_all(res, "results/strategies/figures")

A *series* is one (scenario, design point). In a sweep without a design there is one point and a series
is a strategy; with a design, ``points=[...]`` picks the design points to draw (default: all of them if
that makes at most :data:`MAX_SERIES` series, else the first point). Means and 95% Student-t intervals
are over replicates; differences from the baseline are paired (same seeds), see :mod:`sim.analysis`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from . import analysis
from .analysis import DPD_BUCKETS, Results

MAX_SERIES = 16
DPI = 150

#: name: what the figure shows (the CLI prints it with each file)
FIGURES = {
    "dpd_composition": "DPD-bucket composition of active loans over time, per strategy",
    "outcomes": "default rate, mean stress and brand trust per strategy, with 95% CIs and paired differences",
    "vintages": "vintage curves: cumulative charge-off share by months on book",
    "trust": "brand trust over time per strategy, with 95% CI bands, and the paired difference from the baseline",
    "tradeoff": "trade-off: default rate vs mean stress, marker colour and size = brand trust",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.fonttype": "none",  # text stays text in the SVG
    })
    return plt


@dataclass(frozen=True)
class Series:
    scenario: str
    point: int
    label: str
    color: tuple


def select_points(res: Results, points: Sequence[int] | None = None) -> tuple[list[int], str | None]:
    """The design points to draw, and a note when some were left out."""
    all_points = [int(p) for p in res.points["point"]] or [0]
    if points:
        bad = [p for p in points if p not in all_points]
        if bad:
            raise analysis.ResultsError("--point", ",".join(map(str, bad)),
                                        f"design points of this sweep (0..{max(all_points)})")
        return list(dict.fromkeys(int(p) for p in points)), None
    if len(all_points) * len(res.scenarios) <= MAX_SERIES:
        return all_points, None
    return [all_points[0]], (f"{len(all_points)} design points x {len(res.scenarios)} scenarios is too many series "
                             f"for one figure: drawing design point {all_points[0]} only (choose with --point)")


def series(res: Results, points: Sequence[int]) -> list[Series]:
    """The (scenario, point) series that have finished runs, in the spec's order, with labels and colours."""
    plt = _plt()
    done = set(zip(res.summaries["scenario"], res.summaries["point"].astype(int)))
    pairs = [(s, p) for s in res.scenarios for p in points if (s, p) in done]
    with_design = len(points) > 1
    if len(pairs) <= 10 and not with_design:
        cmap = plt.get_cmap("tab10")
        scen = {s: i for i, s in enumerate(res.scenarios)}
        colors = [cmap(scen[s] % 10) for s, _ in pairs]
    else:
        cmap = plt.get_cmap("tab20")
        colors = [cmap(i % 20) for i in range(len(pairs))]
    return [Series(s, p, res.label(s, p, with_design=with_design), c) for (s, p), c in zip(pairs, colors)]


def _subtitle(res: Results, points: Sequence[int]) -> str:
    spec = res.manifest.get("spec") or {}
    bits = [f"sweep '{res.name}'"]
    if spec.get("borrowers"):
        bits.append(f"{spec['borrowers']:,} borrowers")
    if spec.get("days"):
        bits.append(f"{spec['days']} days")
    if spec.get("burn_in") is not None:
        bits.append(f"after a {spec['burn_in']}-day burn-in")
    reps = res.summaries.groupby(["scenario", "point"]).size()
    if len(reps):
        lo, hi = int(reps.min()), int(reps.max())
        bits.append(("1 replicate" if hi == 1 else f"{lo} paired replicates") if lo == hi
                    else f"{lo}–{hi} paired replicates")
    if len(res.points) > 1 and len(points) == 1:
        design = res.label("", points[0], with_design=True).strip().strip("()")
        bits.append(f"design point {points[0]}: {design}")
    return ", ".join(bits)


def _save(fig, out: Path, name: str) -> list[Path]:
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def _window(frame: pd.DataFrame) -> pd.DataFrame:
    """The measurement window of a daily table, with ``day`` counted from its start (``window_day``):
    the burn-in is not drawn (nothing in the summary is measured over it)."""
    if "burn_in" not in frame.columns:
        return frame
    return frame[~frame["burn_in"].astype(bool)].assign(day=lambda f: f["window_day"])


WINDOW_AXIS = "day of the measurement window (after the burn-in)"


def _pick(frame: pd.DataFrame, s: Series) -> pd.DataFrame:
    return frame[(frame["scenario"] == s.scenario) & (frame["point"] == s.point)]


# --------------------------------------------------------------------------- (1) DPD composition

BUCKET_COLORS = ["#d9e6d3", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"]


def dpd_composition(res: Results, out: Path, points: Sequence[int] | None = None, *,
                    ymax: float | None = None) -> list[Path]:
    """Small multiples, one per series: stacked shares of active loans by DPD bucket over time.

    Delinquent buckets are stacked from the bottom and "current" on top. Most loans are current, so the
    y axis is cut (``ymax``, in %, default: a little above the largest delinquent share, shared by all
    panels) to make the delinquent buckets readable; "current" fills the rest up to 100%.
    """
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts)
    comp = _window(analysis.dpd_composition(res))
    keys = list(DPD_BUCKETS)
    late = keys[1:]
    if ymax is None:
        worst = float((comp[late].sum(axis=1) * 100).max()) if len(comp) else 0.0
        ymax = 100.0 if worst > 60 else min(100.0, max(5.0, math.ceil(worst * 1.15 / 5.0) * 5.0))
    n = max(len(ss), 1)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol + 0.6, 2.7 * nrow + 1.3), sharex=True, sharey=True,
                             layout="constrained", squeeze=False)
    for ax, s in zip(axes.flat, ss):
        d = _pick(comp, s).sort_values("day")
        ys = [d[b].fillna(0.0).to_numpy() * 100.0 for b in [*late, "current"]]
        ax.stackplot(d["day"], *ys, colors=[*BUCKET_COLORS[1:], BUCKET_COLORS[0]], linewidth=0)
        ax.set_title(s.label, fontsize=9, color="black")
        ax.set_xlim(float(d["day"].min()), float(d["day"].max()))
        ax.set_ylim(0, ymax)
        ax.grid(alpha=0.25, lw=0.6)
        ax.set_axisbelow(False)
        total = float(sum(y[-1] for y in ys[:-1]))
        ax.text(0.98, 0.95, f"past due at end: {total:.1f}%", transform=ax.transAxes, ha="right", va="top",
                fontsize=7.5, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    for ax in list(axes.flat)[len(ss):]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel(WINDOW_AXIS)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of active loans (%)")
    # after hiding panels, the bottom visible panel of each column gets the x label
    for c in range(ncol):
        col = [axes[r, c] for r in range(nrow) if axes[r, c].get_visible()]
        if col:
            col[-1].set_xlabel(WINDOW_AXIS)
            col[-1].xaxis.set_tick_params(labelbottom=True)
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=DPD_BUCKETS[k]) for k, c in zip(keys, BUCKET_COLORS)]
    fig.legend(handles=handles[::-1][::-1], loc="outside lower center", ncol=5, frameon=False,
               title="days past due (DPD) of active loans")
    cut = "" if ymax >= 100 else f"; y axis cut at {ymax:g}%: current loans fill the rest up to 100%"
    fig.suptitle(f"Delinquency composition of active loans over time (mean over replicates{cut})\n"
                 f"{_subtitle(res, pts)}", fontsize=10)
    return _save(fig, out, "dpd_composition")


# --------------------------------------------------------------------------- (2) outcomes with CIs

OUTCOME_PANELS = [
    ("default_rate", "default rate (% of loans charged off)"),
    ("mean_stress", "mean borrower stress over the window (0–1)"),
    ("brand_trust", "brand trust at the end (0–1)"),
]


def _pointrange(ax, ss: list[Series], table: pd.DataFrame, col: str, lo: str, hi: str, scale: float,
                ref: str | None = None, fmt: str = "{:.3f}") -> None:
    y = np.arange(len(ss))
    for yi, s in enumerate(ss):
        row = _pick(table, s)
        if row.empty or not np.isfinite(row[col].iloc[0]):
            continue
        m, l, h = (float(row[c].iloc[0]) * scale for c in (col, lo, hi))
        err = None if not (np.isfinite(l) and np.isfinite(h)) else [[m - l], [h - m]]
        hollow = s.scenario == ref
        ax.errorbar(m, yi, xerr=err, fmt="o", ms=6.5, color=s.color, mfc="white" if hollow else s.color,
                    ecolor=s.color, elinewidth=2.0, capsize=3.5, zorder=3)
        text = fmt.format(m)
        if float(text) == 0.0:
            text = fmt.format(0.0)  # never "-0.00"
        ax.annotate(text, (h if np.isfinite(h) else m, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=7.5, color="0.25")
    ax.set_yticks(y, [s.label for s in ss])
    ax.set_ylim(len(ss) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    lo_, hi_ = ax.get_xlim()
    ax.set_xlim(lo_, hi_ + 0.12 * (hi_ - lo_))  # room for the value labels


def outcomes(res: Results, out: Path, points: Sequence[int] | None = None, baseline: str | None = None,
             keys: Sequence[tuple[str, str]] = OUTCOME_PANELS) -> list[Path]:
    """Top row: each outcome's mean per series with its 95% CI. Bottom row: the paired difference from
    the baseline (same design point) with its 95% CI; an interval clear of the zero line is an effect."""
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts)
    base = res.baseline(baseline)
    table = analysis.compare(res, base, [k for k, _ in keys])
    h = max(2.6, 0.32 * len(ss) + 1.0)
    fig, axes = plt.subplots(2, len(keys), figsize=(4.6 * len(keys), 2 * h + 1.2), sharey=True, layout="constrained",
                             squeeze=False)
    for j, (key, text) in enumerate(keys):
        u = analysis.unit(key)
        t = table[table["outcome"] == key]
        fmt = "{:.2f}" if u.label == "%" else "{:.3f}"
        _pointrange(axes[0, j], ss, t, "mean", "ci_low", "ci_high", u.scale, ref=base, fmt=fmt)
        axes[0, j].set_xlabel(text)
        dfmt = "{:+.2f}" if u.label == "%" else "{:+.4f}"
        _pointrange(axes[1, j], ss, t, "diff", "diff_low", "diff_high", u.scale, ref=base, fmt=dfmt)
        axes[1, j].axvline(0.0, color="0.3", lw=0.9, ls="--", zorder=1)
        dunit = "percentage points" if u.label == "%" else u.label
        axes[1, j].set_xlabel(f"difference from {base} ({dunit})" if dunit != "0–1" else
                              f"difference from {base} (on the 0–1 scale)")
    axes[0, 0].set_title("mean over replicates, 95% CI", loc="left", fontsize=9)
    axes[1, 0].set_title(f"paired difference from {base} (same seeds), 95% CI", loc="left", fontsize=9)
    fig.suptitle(f"Default, stress and trust per strategy (hollow marker: {base})\n"
                 f"{_subtitle(res, pts)}", fontsize=10)
    return _save(fig, out, "outcomes")


# --------------------------------------------------------------------------- (3) vintages


def vintages(res: Results, out: Path, points: Sequence[int] | None = None, baseline: str | None = None) -> list[Path]:
    """Left: cumulative charge-off share by months on book per series, pooled over cohorts (weighted by
    loans), mean over replicates with a 95% CI band. Right: the baseline's curve per cohort."""
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts)
    base = res.baseline(baseline)
    pooled = analysis.vintage_curves(res)
    cohorts = analysis.vintage_curves(res, by_cohort=True)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained", gridspec_kw={"width_ratios": [1.35, 1]})
    for s in ss:
        d = _pick(pooled, s).sort_values("months_on_book")
        if d.empty:
            continue
        ax.plot(d["months_on_book"], d["mean"] * 100, color=s.color, lw=1.8, marker="o", ms=3, label=s.label,
                ls="--" if s.scenario == base else "-")
        ax.fill_between(d["months_on_book"], d["ci_low"] * 100, d["ci_high"] * 100, color=s.color, alpha=0.12, lw=0)
    ax.set_xlabel("months on book (months since origination)")
    ax.set_ylabel("cumulative charge-off share (% of the cohort's loans)")
    ax.set_title("all cohorts pooled (weighted by loans), mean over replicates, 95% CI band", loc="left", fontsize=9)
    if len(ss) <= 8:
        ax.legend(loc="upper left", frameon=False)
    else:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False, ncol=2)
    if len(pooled) and not (pooled["mean"] > 0).any():
        ax.text(0.5, 0.5, "no loan booked during the run was charged off\nwithin the months observed",
                transform=ax.transAxes, ha="center", va="center", color="0.35")
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    if len(pooled):
        ax.set_xlim(0, max(1.0, float(pooled["months_on_book"].max())))
        # how many cohorts are behind each month, on a second x axis along the top
        c = _pick(pooled, ss[0]) if ss else pooled
        sec = ax.secondary_xaxis("top")
        ticks = c["months_on_book"].to_numpy()[::2]
        sec.set_xticks(ticks, [str(int(v)) for v in c["cohorts"].to_numpy()[::2]])
        sec.set_xlabel("cohorts observed that long", fontsize=8)
        sec.tick_params(labelsize=7.5)
    bpoint = pts[0]
    d = cohorts[(cohorts["scenario"] == base) & (cohorts["point"] == bpoint)]
    if len(d):
        cmap = plt.get_cmap("viridis")
        cs = sorted(d["cohort"].unique())
        norm = plt.Normalize(min(cs), max(max(cs), min(cs) + 1))
        for c in cs:
            e = d[d["cohort"] == c].sort_values("months_on_book")
            bx.plot(e["months_on_book"], e["mean"] * 100, color=cmap(norm(c)), lw=1.4, marker="o", ms=2.5)
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=bx, pad=0.01)
        cb.set_label("cohort (month of origination in the run, 0 = first 30 days)")
        bx.set_xlim(0, max(1.0, float(d["months_on_book"].max())))
    bx.set_xlabel("months on book (months since origination)")
    bx.set_ylabel("cumulative charge-off share (% of the cohort's loans)")
    blabel = res.label(base, bpoint, with_design=len(pts) > 1)
    bx.set_title(f"{blabel}:\none curve per cohort, mean over replicates", loc="left", fontsize=9)
    bx.grid(alpha=0.3)
    bx.set_ylim(bottom=0)
    fig.suptitle(f"Vintage curves: share of loans charged off within m months of origination "
                 f"(loans booked during the run)\n{_subtitle(res, pts)}", fontsize=10)
    return _save(fig, out, "vintages")


# --------------------------------------------------------------------------- (4) trust over time


def trust(res: Results, out: Path, points: Sequence[int] | None = None, baseline: str | None = None,
          column: str = "brand_trust") -> list[Path]:
    """Top: daily brand trust per series, mean over replicates with a 95% CI band. Bottom: the paired
    difference from the baseline (same seeds, same day) with its 95% CI band."""
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts)
    base = res.baseline(baseline)
    lvl = _window(analysis.daily_stats(res, [column]))
    dif = _window(analysis.daily_differences(res, [column], base))
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(11, 8.2), sharex=True, layout="constrained",
                                 gridspec_kw={"height_ratios": [1.2, 1]})
    for s in ss:
        for a, frame in ((ax, lvl), (bx, dif)):
            d = _pick(frame, s).sort_values("day")
            if d.empty:
                continue
            ls = "--" if s.scenario == base else "-"
            a.plot(d["day"], d["mean"], color=s.color, lw=1.6, ls=ls, label=s.label)
            a.fill_between(d["day"], d["ci_low"], d["ci_high"], color=s.color, alpha=0.13, lw=0)
    ax.set_ylabel("brand trust (market mean, 0–1)")
    ax.set_title("level: mean over replicates, 95% CI band", loc="left", fontsize=9)
    bx.set_ylabel(f"Δ trust vs {base} (0–1 scale)")
    bx.set_title(f"paired difference from {base} (same seeds, same day), 95% CI band", loc="left", fontsize=9)
    bx.axhline(0.0, color="0.3", lw=0.8)
    bx.set_xlabel(WINDOW_AXIS)
    for a in (ax, bx):
        a.grid(alpha=0.3)
    if len(lvl):
        ax.set_xlim(float(lvl["day"].min()), float(lvl["day"].max()))
    handles, labels = ax.get_legend_handles_labels()
    longest = max((len(t) for t in labels), default=0)
    fig.legend(handles, labels, loc="outside lower center", frameon=False,
               ncol=4 if longest <= 22 else (2 if longest <= 50 else 1))
    fig.suptitle(f"Brand trust over time\n{_subtitle(res, pts)}", fontsize=10)
    return _save(fig, out, "trust")


# --------------------------------------------------------------------------- (5) trade-off


def tradeoff(res: Results, out: Path, points: Sequence[int] | None = None) -> list[Path]:
    """Default rate (x) against mean stress (y) per series, 95% CI error bars on both; the marker's
    colour and size show brand trust (larger and greener = more trust)."""
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts)
    d = analysis.describe(res, ["default_rate", "mean_stress", "brand_trust"])
    keys = ("default_rate", "mean_stress", "brand_trust")
    wide = {k: d[d["outcome"] == k].set_index(["scenario", "point"]) for k in keys}
    rows = []
    for s in ss:
        key = (s.scenario, s.point)
        if key not in wide["default_rate"].index:
            continue
        x, y, z = (wide[k].loc[key] for k in ("default_rate", "mean_stress", "brand_trust"))
        rows.append((s, x, y, z))
    fig, ax = plt.subplots(figsize=(9.5, 6.6), layout="constrained")
    if rows:
        tz = np.array([float(r[3]["mean"]) for r in rows])
        lo, hi = float(np.nanmin(tz)), float(np.nanmax(tz))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.01, hi + 0.01
        norm = plt.Normalize(lo, hi)
        cmap = plt.get_cmap("RdYlGn")
        sizes = 60 + 340 * (tz - lo) / (hi - lo)
        # big markers first, so a small one at nearly the same place stays visible on top
        for rank, i in enumerate(np.argsort(-sizes, kind="stable")):
            (s, x, y, z), size = rows[i], sizes[i]
            xm, ym = float(x["mean"]) * 100, float(y["mean"])
            xe = [[xm - float(x["ci_low"]) * 100], [float(x["ci_high"]) * 100 - xm]]
            ye = [[ym - float(y["ci_low"])], [float(y["ci_high"]) - ym]]
            ax.errorbar(xm, ym, xerr=xe, yerr=ye, fmt="none", ecolor="0.35", elinewidth=1.1, capsize=3, zorder=2)
            ax.scatter(xm, ym, s=size, c=[cmap(norm(float(z["mean"])))], edgecolors=s.color, linewidths=2.2,
                       alpha=0.9, zorder=3 + rank * 0.01)
        _label_points(ax, [(float(x["mean"]) * 100, float(y["mean"]), s.label, math.sqrt(size) / 2 + 1.5,
                            (float(x["ci_low"]) * 100, float(x["ci_high"]) * 100),
                            (float(y["ci_low"]), float(y["ci_high"])))
                           for (s, x, y, _), size in zip(rows, sizes)])
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=ax, pad=0.01)
        cb.set_label("brand trust at the end (0–1); marker size grows with it too")
    ax.set_xlabel("default rate (% of loans charged off)")
    ax.set_ylabel("mean borrower stress over the run (0–1)")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title("error bars: 95% CI over replicates; marker edge: the strategy's colour in the other figures; "
                 "lower left is better", loc="left", fontsize=8.5)
    fig.suptitle(f"Trade-off between default rate, borrower stress and brand trust\n{_subtitle(res, pts)}",
                 fontsize=10)
    return _save(fig, out, "tradeoff")


def _label_points(ax, pts: list[tuple[float, float, str, float, tuple, tuple]]) -> None:
    """Name each point next to it, avoiding markers, error bars and the labels already placed.

    ``pts``: (x, y, text, marker radius in points, (x_low, x_high), (y_low, y_high)) in data units.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    xs = np.array([p[0] for p in pts] + [p[4][0] for p in pts] + [p[4][1] for p in pts], dtype=float)
    ys = np.array([p[1] for p in pts] + [p[5][0] for p in pts] + [p[5][1] for p in pts], dtype=float)
    xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
    xr = (xs.max() - xs.min()) or 1.0
    yr = (ys.max() - ys.min()) or 1.0
    ax.set_xlim(xs.min() - 0.08 * xr, xs.max() + 0.22 * xr)
    ax.set_ylim(ys.min() - 0.08 * yr, ys.max() + 0.1 * yr)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    to = ax.transData.transform
    obstacles = []
    for x, y, _t, r, (xl, xh), (yl, yh) in pts:
        cx, cy = to((x, y))
        obstacles.append(Bbox.from_extents(cx - r * px, cy - r * px, cx + r * px, cy + r * px))
        for a, b in (((xl, y), (xh, y)), ((x, yl), (x, yh))):
            if np.all(np.isfinite(a + b)):
                (x0, y0), (x1, y1) = to(a), to(b)
                obstacles.append(Bbox.from_extents(min(x0, x1) - 2, min(y0, y1) - 2, max(x0, x1) + 2, max(y0, y1) + 2))
    axbox = ax.get_window_extent(renderer)
    placed: list = []
    for x, y, text, r, _xe, _ye in pts:
        best, best_cost = None, None
        for ang in (45, 135, -45, -135, 90, -90, 20, 160, -20, -160, 0, 180):
            for dist in (r + 6, r + 14, r + 26):
                dx, dy = dist * math.cos(math.radians(ang)), dist * math.sin(math.radians(ang))
                ha = "left" if dx > 1 else ("right" if dx < -1 else "center")
                va = "bottom" if dy > 1 else ("top" if dy < -1 else "center")
                t = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8.5, ha=ha,
                                va=va, zorder=5)
                bb = t.get_window_extent(renderer).expanded(1.04, 1.2)
                t.remove()
                cost = sum(_overlap(bb, o) for o in obstacles + placed)
                if not (axbox.x0 <= bb.x0 and bb.x1 <= axbox.x1 and axbox.y0 <= bb.y0 and bb.y1 <= axbox.y1):
                    cost += 1e6
                cost += dist * 0.5  # prefer close labels
                if best_cost is None or cost < best_cost:
                    best, best_cost = (dx, dy, ha, va, bb), cost
        dx, dy, ha, va, bb = best
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8.5, ha=ha, va=va, zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
                    arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.7, "shrinkA": 1, "shrinkB": r})
        placed.append(bb)


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


# --------------------------------------------------------------------------- all


def _drawers() -> dict[str, Callable]:
    return {"dpd_composition": dpd_composition, "outcomes": outcomes, "vintages": vintages, "trust": trust,
            "tradeoff": tradeoff}


def plot_all(res: Results, out: str | Path, points: Sequence[int] | None = None,
             baseline: str | None = None) -> list[Path]:
    """Draw every figure of :data:`FIGURES` into ``out``; return the files written (PNG and SVG each)."""
    out = Path(out)
    base = res.baseline(baseline)
    paths: list[Path] = []
    for name, fn in _drawers().items():
        kw = {"baseline": base} if name in ("outcomes", "vintages", "trust") else {}
        paths += fn(res, out, points, **kw)
    return paths
