"""The figures of a sweep, for a paper: PNG (for screens) and SVG (for print), axes labelled with units.

Each figure is a function taking the loaded results (:func:`sim.analysis.load`) and an output folder;
it saves ``NAME.png`` and ``NAME.svg`` there and returns both paths. :func:`plot_all` draws them all::

    from sim import analysis, plots

    res = analysis.load("results/strategies")
    plots.plot_all(res, "results/strategies/figures")

A *series* is one (scenario, design point). In a sweep without a design there is one point and a series
is a strategy; with a design, ``points=[...]`` picks the design points to draw (default: all of them if
that makes at most :data:`MAX_SERIES` series, else the first point), and :func:`response` draws the
outcomes against each design parameter. Means and 95% Student-t intervals are over replicates;
differences from the baseline are paired (same seeds), see :mod:`sim.analysis`.

Every figure draws a strategy in its colour (:func:`strategy_colors`: fixed for the shipped scenarios)
and lists strategies in one order (:func:`strategy_order`: the baseline, then the shipped scenarios by
group), the order of ``credsim compare`` too.
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


# --------------------------------------------------------------------------- strategies: order and colour

#: The shipped strategies in their logical order: the status quo, then one group of scenarios after
#: another (what each changes from the baseline is in README.md, "The strategies").
STRATEGY_GROUPS: dict[str, list[str]] = {
    "status quo": ["baseline"],
    "collection intensity": ["no_collection", "reminders_only"],
    "tone and plans": ["humane_visits", "flexible_plans", "education", "improvement_package"],
    "regulation": ["contact_cap", "visit_ban", "fee_cap", "forbearance", "moratorium"],
    "lender tactics": ["risk_based", "debt_sale", "bureau_reporting"],
    "macroeconomy": ["recession"],
}
STRATEGY_ORDER: list[str] = [s for group in STRATEGY_GROUPS.values() for s in group]

#: One colour per shipped strategy, the same in every figure: a hue family per group, dark enough for
#: lines and text on white.
STRATEGY_COLORS: dict[str, str] = {
    "baseline": "#1a1a1a",
    "no_collection": "#8c8c8c",
    "reminders_only": "#8c564b",
    "humane_visits": "#2ca02c",
    "flexible_plans": "#17becf",
    "education": "#bcbd22",
    "improvement_package": "#005a32",
    "contact_cap": "#1f77b4",
    "visit_ban": "#9467bd",
    "fee_cap": "#393b79",
    "forbearance": "#e377c2",
    "moratorium": "#7b4173",
    "risk_based": "#ff7f0e",
    "debt_sale": "#c49c00",
    "bureau_reporting": "#b35806",
    "recession": "#d62728",
}

#: Colours for any other name (a renamed or overridden scenario, a scenario file of one's own): none
#: of them is a shipped strategy's colour. A name keeps its colour from figure to figure (chosen by a
#: hash of the name, moving on to the next free colour only when two names of one sweep collide).
FALLBACK_COLORS: list[str] = [
    "#e6550d", "#3182bd", "#31a354", "#756bb1", "#636363", "#843c39", "#637939", "#d6616b",
    "#6b6ecf", "#e7ba52", "#ce6dbd", "#9c9ede", "#74c476", "#fd8d3c", "#969696", "#a55194",
]


def _rank(name: str, source: str | None = None) -> int | None:
    for n in (name, source):
        if n in STRATEGY_ORDER:
            return STRATEGY_ORDER.index(n)
    return None


def strategy_order(names: Sequence[str], baseline: str | None = None,
                   sources: dict[str, str] | None = None) -> list[str]:
    """``names`` in the logical order: ``baseline`` (default: "baseline" if present) first, then the
    shipped strategies by :data:`STRATEGY_GROUPS`, then every other name in the order given.

    ``sources`` maps a label to the shipped scenario it was made from (a sweep entry ``{file =
    "baseline", name = "baseline_calm"}``): such a label sorts beside its scenario, after it.
    The compare table and every figure list strategies in this order.
    """
    names = list(dict.fromkeys(names))
    sources = sources or {}
    if baseline is None and "baseline" in names:
        baseline = "baseline"
    end = len(STRATEGY_ORDER)

    def key(item):
        i, n = item
        r = _rank(n, sources.get(n))
        exact = n in STRATEGY_ORDER
        return (n != baseline, end if r is None else r, not exact, i)

    return [n for _, n in sorted(enumerate(names), key=key)]


def scenario_order(res: Results, baseline: str | None = None) -> list[str]:
    """The sweep's scenario labels in :func:`strategy_order` (each label's source scenario from the manifest)."""
    trees = res.manifest.get("scenarios") or {}
    sources = {k: v.get("name") for k, v in trees.items() if isinstance(v, dict) and v.get("name")}
    return strategy_order(res.scenarios, res.baseline(baseline) if res.scenarios else None, sources)


def strategy_colors(names: Sequence[str]) -> dict[str, str]:
    """The colour of each name: a shipped strategy's own (:data:`STRATEGY_COLORS`), else one of
    :data:`FALLBACK_COLORS` picked by a stable hash of the name (the next free one if two names of
    ``names`` would share it, while free ones remain)."""
    import zlib

    out: dict[str, str] = {}
    taken: set[str] = set()
    others = []
    for n in dict.fromkeys(names):
        if n in STRATEGY_COLORS:
            out[n] = STRATEGY_COLORS[n]
        else:
            others.append(n)
    for n in sorted(others):  # sorted: the result does not depend on the order of ``names``
        k = len(FALLBACK_COLORS)
        start = zlib.crc32(n.encode("utf-8")) % k
        free = [FALLBACK_COLORS[(start + j) % k] for j in range(k) if FALLBACK_COLORS[(start + j) % k] not in taken]
        out[n] = free[0] if free else FALLBACK_COLORS[start]
        taken.add(out[n])
    return out


def strategy_color(name: str) -> str:
    """The colour of one strategy, alone: :func:`strategy_colors` of ``[name]``."""
    return strategy_colors([name])[name]


@dataclass(frozen=True)
class Series:
    scenario: str
    point: int
    label: str
    color: str
    linestyle: str = "-"


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


#: Line styles of the design points of one strategy (its colour stays the strategy's)
POINT_STYLES = ["-", "--", ":", "-."]


def series(res: Results, points: Sequence[int], baseline: str | None = None) -> list[Series]:
    """The (scenario, point) series that have finished runs, strategies in :func:`scenario_order`, each
    in its strategy's colour (:func:`strategy_colors`). Line style: dashed for the baseline, or with
    several design points one style per point."""
    done = set(zip(res.summaries["scenario"], res.summaries["point"].astype(int)))
    base = res.baseline(baseline) if res.scenarios else None
    order = scenario_order(res, base)
    colors = strategy_colors(res.scenarios)  # the whole sweep's names: the same colours in every figure
    with_design = len(points) > 1
    out = []
    for s in order:
        for j, p in enumerate(points):
            if (s, p) not in done:
                continue
            ls = POINT_STYLES[j % len(POINT_STYLES)] if with_design else ("--" if s == base else "-")
            out.append(Series(s, p, res.label(s, p, with_design=with_design), colors[s], ls))
    return out


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


def dpd_composition(res: Results, out: Path, points: Sequence[int] | None = None,
                    baseline: str | None = None) -> list[Path]:
    """Small multiples, one per series (panel title in the strategy's colour): stacked shares of active
    loans by delinquent DPD bucket over time.

    Most loans are current, so only the delinquent buckets are drawn, stacked from the bottom; current
    loans are the rest up to 100% (the y axis, shared by all panels, fits the largest delinquent share).
    """
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts, baseline)
    comp = _window(analysis.dpd_composition(res))
    keys = list(DPD_BUCKETS)
    late = keys[1:]
    n = max(len(ss), 1)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol + 0.6, 2.7 * nrow + 1.3), sharex=True, sharey=True,
                             layout="constrained", squeeze=False)
    top = 0.0
    for ax, s in zip(axes.flat, ss):
        d = _pick(comp, s).sort_values("day")
        ys = [d[b].fillna(0.0).to_numpy() * 100.0 for b in late]
        ax.stackplot(d["day"], *ys, colors=BUCKET_COLORS[1:], linewidth=0)
        ax.set_title(s.label, fontsize=9, color=s.color, fontweight="bold")
        ax.set_xlim(float(d["day"].min()), float(d["day"].max()))
        top = max(top, float(np.sum(ys, axis=0).max()) if len(d) else 0.0)
        ax.grid(alpha=0.25, lw=0.6)
        ax.set_axisbelow(False)
        total = float(sum(y[-1] for y in ys)) if len(d) else math.nan
        ax.text(0.98, 0.95, f"past due at end: {total:.1f}%", transform=ax.transAxes, ha="right", va="top",
                fontsize=7.5, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    axes[0, 0].set_ylim(0, top * 1.04 if top > 0 else 1.0)  # shared by every panel
    for ax in list(axes.flat)[len(ss):]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel(WINDOW_AXIS)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of active loans past due (%)")
    # after hiding panels, the bottom visible panel of each column gets the x label
    for c in range(ncol):
        col = [axes[r, c] for r in range(nrow) if axes[r, c].get_visible()]
        if col:
            col[-1].set_xlabel(WINDOW_AXIS)
            col[-1].xaxis.set_tick_params(labelbottom=True)
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=DPD_BUCKETS[k]) for k, c in zip(late, BUCKET_COLORS[1:])]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False,
               title="days past due (DPD) of active loans; current loans are the rest up to 100%")
    fig.suptitle(f"Delinquency composition of active loans over time (mean over replicates)\n"
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
    """One row per series: its value with the 95% CI as a bar, in the strategy's colour; the value is
    written just above the marker, so the axis needs no extra room beyond its data."""
    y = np.arange(len(ss))
    labels = []
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
        labels.append((m, yi, text))
    ax.set_yticks(y, [s.label for s in ss])
    ax.set_ylim(len(ss) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.autoscale_view(scalex=True, scaley=False)
    lo_, hi_ = ax.get_xlim()
    for m, yi, text in labels:
        at = (m - lo_) / ((hi_ - lo_) or 1.0)  # near an edge, the value stays inside the axes
        ha = "left" if at < 0.1 else ("right" if at > 0.9 else "center")
        ax.annotate(text, (m, yi), xytext=(0, 4.5), textcoords="offset points", ha=ha, va="bottom",
                    fontsize=7, color="0.25", zorder=4)


def outcomes(res: Results, out: Path, points: Sequence[int] | None = None, baseline: str | None = None,
             keys: Sequence[tuple[str, str]] = OUTCOME_PANELS) -> list[Path]:
    """Top row: each outcome's mean per series with its 95% CI. Bottom row: the paired difference from
    the baseline (same design point) with its 95% CI; an interval clear of the zero line is an effect."""
    plt = _plt()
    pts, _ = select_points(res, points)
    base = res.baseline(baseline)
    ss = series(res, pts, base)
    table = analysis.compare(res, base, [k for k, _ in keys])
    h = max(2.6, 0.36 * len(ss) + 1.0)
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
    base = res.baseline(baseline)
    ss = series(res, pts, base)
    pooled = analysis.vintage_curves(res)
    cohorts = analysis.vintage_curves(res, by_cohort=True)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained", gridspec_kw={"width_ratios": [1.35, 1]})
    for s in ss:
        d = _pick(pooled, s).sort_values("months_on_book")
        if d.empty:
            continue
        ax.plot(d["months_on_book"], d["mean"] * 100, color=s.color, lw=1.8, marker="o", ms=3, label=s.label,
                ls=s.linestyle)
        ax.fill_between(d["months_on_book"], d["ci_low"] * 100, d["ci_high"] * 100, color=s.color, alpha=0.12, lw=0)
    ax.set_xlabel("months on book (months since origination)")
    ax.set_ylabel("cumulative charge-off share (% of the cohort's loans)")
    ax.set_title("all cohorts pooled (weighted by loans), mean over replicates, 95% CI band", loc="left", fontsize=9)
    if ax.get_legend_handles_labels()[0]:  # none when no loan lived a month on book: nothing to name
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
    base = res.baseline(baseline)
    ss = series(res, pts, base)
    lvl = _window(analysis.daily_stats(res, [column]))
    dif = _window(analysis.daily_differences(res, [column], base))
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(11, 8.2), sharex=True, layout="constrained",
                                 gridspec_kw={"height_ratios": [1.2, 1]})
    for s in ss:
        for a, frame in ((ax, lvl), (bx, dif)):
            d = _pick(frame, s).sort_values("day")
            if d.empty:
                continue
            a.plot(d["day"], d["mean"], color=s.color, lw=1.6, ls=s.linestyle, label=s.label)
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


def tradeoff(res: Results, out: Path, points: Sequence[int] | None = None, baseline: str | None = None) -> list[Path]:
    """Default rate (x) against mean stress (y) per series, 95% CI error bars on both; the marker's
    colour and size show brand trust (larger and greener = more trust), its edge the strategy's colour.
    Each point is named by a label that overlaps no other label and stays inside the axes
    (:func:`place_labels`), joined to its point by a thin line."""
    plt = _plt()
    pts, _ = select_points(res, points)
    ss = series(res, pts, baseline)
    d = analysis.describe(res, ["default_rate", "mean_stress", "brand_trust"])
    keys = ("default_rate", "mean_stress", "brand_trust")
    wide = {k: d[d["outcome"] == k].set_index(["scenario", "point"]) for k in keys}
    rows = []
    for s in ss:
        key = (s.scenario, s.point)
        if key not in wide["default_rate"].index:
            continue
        x, y, z = (wide[k].loc[key] for k in ("default_rate", "mean_stress", "brand_trust"))
        if not (np.isfinite(float(x["mean"])) and np.isfinite(float(y["mean"]))):
            continue
        rows.append((s, x, y, z))
    fig, ax = plt.subplots(figsize=(9.5, 6.6), layout="constrained")
    ax.set_xlabel("default rate (% of loans charged off)")
    ax.set_ylabel("mean borrower stress over the run (0–1)")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title("error bars: 95% CI over replicates; marker edge: the strategy's colour in the other figures; "
                 "lower left is better", loc="left", fontsize=8.5)
    fig.suptitle(f"Trade-off between default rate, borrower stress and brand trust\n{_subtitle(res, pts)}",
                 fontsize=10)
    if rows:
        tz = np.array([float(r[3]["mean"]) for r in rows])
        ok = np.isfinite(tz)
        lo, hi = (float(tz[ok].min()), float(tz[ok].max())) if ok.any() else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.01, hi + 0.01
        norm = plt.Normalize(lo, hi)
        cmap = plt.get_cmap("RdYlGn")
        sizes = np.where(ok, 60 + 340 * (np.where(ok, tz, lo) - lo) / (hi - lo), 60.0)
        # big markers first, so a small one at nearly the same place stays visible on top
        for rank, i in enumerate(np.argsort(-sizes, kind="stable")):
            (s, x, y, z), size = rows[i], sizes[i]
            xm, ym = float(x["mean"]) * 100, float(y["mean"])
            xe = [[xm - float(x["ci_low"]) * 100], [float(x["ci_high"]) * 100 - xm]]
            ye = [[ym - float(y["ci_low"])], [float(y["ci_high"]) - ym]]
            ax.errorbar(xm, ym, xerr=xe, yerr=ye, fmt="none", ecolor="0.35", elinewidth=1.1, capsize=3, zorder=2)
            face = cmap(norm(float(z["mean"]))) if ok[i] else "white"
            ax.scatter(xm, ym, s=size, c=[face], edgecolors=s.color, linewidths=2.2,
                       alpha=0.9, zorder=3 + rank * 0.01)
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=ax, pad=0.01)  # before the labels: it takes room from the axes
        cb.set_label("brand trust at the end (0–1); marker size grows with it too")
        place_labels(ax, [(float(x["mean"]) * 100, float(y["mean"]), s.label, math.sqrt(size) / 2 + 1.5,
                           (float(x["ci_low"]) * 100, float(x["ci_high"]) * 100),
                           (float(y["ci_low"]), float(y["ci_high"])))
                          for (s, x, y, _), size in zip(rows, sizes)])
    return _save(fig, out, "tradeoff")


#: Distances (in points) from a marker's edge to its label that :func:`place_labels` tries, nearest first
LABEL_DISTANCES = (3, 7, 12, 18, 25, 33, 43, 55, 70, 88, 110, 135, 165, 200, 240, 290, 350, 420, 500)
LABEL_ANGLES = tuple(range(0, 360, 15))


def fit_limits(ax, xs, ys, margin: float = 0.05) -> None:
    """Set the axes' limits to the finite data ``xs`` and ``ys`` with ``margin`` of their range on each side."""
    for values, setter in ((xs, ax.set_xlim), (ys, ax.set_ylim)):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if not len(v):
            continue
        lo, hi = float(v.min()), float(v.max())
        span = hi - lo
        pad = margin * span if span > 0 else max(abs(lo) * 0.05, 1e-3)
        setter(lo - pad, hi + pad)


def _overlaps(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Area of overlap of every box (n x 4: x0, y0, x1, y1) with every other box (m x 4): n x m."""
    if not len(others):
        return np.zeros((len(boxes), 0))
    w = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    h = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def place_labels(ax, pts: list[tuple[float, float, str, float, tuple, tuple]], fontsize: float = 8.5,
                 fit: bool = True) -> list:
    """Name each point with a label that overlaps no other label and stays inside the axes; a thin line
    joins it to its point. Returns the annotations.

    ``pts``: (x, y, text, marker radius in points, (x_low, x_high), (y_low, y_high)) in data units. With
    ``fit``, the axes' limits are first fitted to the points and their intervals (:func:`fit_limits`).
    Placement is greedy and deterministic, in pixels measured with the renderer's text extents: the
    points with most neighbours are labelled first, each at the candidate position (every 15 degrees,
    at growing distances) that is inside the axes and clear of every label already placed, and costs
    least: distance, plus overlap with markers (heavily) and error bars (lightly).
    """
    fig = ax.figure
    if fit:
        fit_limits(ax, [v for p in pts for v in (p[0], *p[4])], [v for p in pts for v in (p[1], *p[5])])
    fig.canvas.draw()  # final layout (constrained) and limits, before measuring
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    to = ax.transData.transform
    axb = ax.get_window_extent(renderer)
    inner = (axb.x0 + 2, axb.y0 + 2, axb.x1 - 2, axb.y1 - 2)
    centres = np.array([to((p[0], p[1])) for p in pts], dtype=float).reshape(-1, 2)
    radius = np.array([p[3] for p in pts], dtype=float) * px
    markers = np.c_[centres - radius[:, None], centres + radius[:, None]]
    bars = []
    for (x, y, _t, _r, (xl, xh), (yl, yh)) in pts:
        for a, b in (((xl, y), (xh, y)), ((x, yl), (x, yh))):
            if np.all(np.isfinite(a + b)):
                (x0, y0), (x1, y1) = to(a), to(b)
                bars.append((min(x0, x1) - 1.5, min(y0, y1) - 1.5, max(x0, x1) + 1.5, max(y0, y1) + 1.5))
    bars = np.array(bars, dtype=float).reshape(-1, 4)
    pad = 0.15 * fontsize * px  # the label's box: boxstyle pad is a fraction of the font size
    sizes = []
    for p in pts:
        t = ax.text(0, 0, p[2], fontsize=fontsize)
        bb = t.get_window_extent(renderer)
        t.remove()
        # a little spare: text extents differ slightly between the PNG's and the SVG's resolution
        sizes.append((bb.width * 1.06 + 2 * pad + 2.0 * px, bb.height * 1.06 + 2 * pad + 1.5 * px))
    ang, dist = np.meshgrid(np.radians(LABEL_ANGLES), np.array(LABEL_DISTANCES, dtype=float) * px)
    ang, dist = ang.ravel(), dist.ravel()
    ux, uy = np.cos(ang), np.sin(ang)
    ux = np.where(np.abs(ux) < 1e-9, 0.0, ux)
    uy = np.where(np.abs(uy) < 1e-9, 0.0, uy)
    near = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1)) < 60 * px
    order = np.argsort(-near.sum(axis=1), kind="stable")
    placed = np.empty((0, 4))
    leaders = np.empty((0, 4))  # point -> label centre of each label placed
    boxes_of: dict[int, tuple] = {}
    for i in order:
        (cx, cy), (w, h), r = centres[i], sizes[i], radius[i]
        # the label's corner (or edge midpoint) nearest the point sits at distance r + dist from it
        bx = cx + ux * (r + dist) + np.sign(ux) * w / 2
        by = cy + uy * (r + dist) + np.sign(uy) * h / 2
        boxes = np.c_[bx - w / 2, by - h / 2, bx + w / 2, by + h / 2]
        inside = (boxes[:, 0] >= inner[0]) & (boxes[:, 1] >= inner[1]) & (boxes[:, 2] <= inner[2]) & \
                 (boxes[:, 3] <= inner[3])
        clash = _overlaps(boxes, placed + np.array([-1.5, -1.5, 1.5, 1.5]) * px).sum(axis=1)
        cost = dist + 4.0 * _overlaps(boxes, markers).sum(axis=1) + 0.5 * _overlaps(boxes, bars).sum(axis=1)
        if len(placed):  # leader lines that cross labels: this one across those placed, theirs across it
            t = np.linspace(0.1, 0.9, 9)
            sx, sy = cx + (bx[:, None] - cx) * t, cy + (by[:, None] - cy) * t  # candidates x samples
            hit = ((sx[..., None] > placed[:, 0]) & (sx[..., None] < placed[:, 2]) &
                   (sy[..., None] > placed[:, 1]) & (sy[..., None] < placed[:, 3])).any(axis=1).sum(axis=1)
            lx, ly = leaders[:, 0:1] + (leaders[:, 2:3] - leaders[:, 0:1]) * t, \
                leaders[:, 1:2] + (leaders[:, 3:4] - leaders[:, 1:2]) * t  # placed x samples
            cut = ((lx[None] > boxes[:, 0, None, None]) & (lx[None] < boxes[:, 2, None, None]) &
                   (ly[None] > boxes[:, 1, None, None]) & (ly[None] < boxes[:, 3, None, None])).any(axis=2).sum(axis=1)
            cost = cost + 60.0 * (hit + cut)
        ok = inside & (clash == 0)
        j = int(np.argmin(np.where(ok, cost, np.inf))) if ok.any() else \
            int(np.argmin(cost + 1e4 * clash + 1e9 * ~inside))  # no free place: the least bad one
        placed = np.vstack([placed, boxes[j]])
        leaders = np.vstack([leaders, [cx, cy, bx[j], by[j]]])
        boxes_of[int(i)] = (bx[j] - cx, by[j] - cy)
    notes = []
    for i, p in enumerate(pts):
        dx, dy = boxes_of[i]
        notes.append(ax.annotate(
            p[2], (p[0], p[1]), xytext=(dx / px, dy / px), textcoords="offset points", fontsize=fontsize,
            ha="center", va="center", zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.7, "shrinkA": 0, "shrinkB": p[3]}))
    return notes


# --------------------------------------------------------------------------- all


def _drawers() -> dict[str, Callable]:
    return {"dpd_composition": dpd_composition, "outcomes": outcomes, "vintages": vintages, "trust": trust,
            "tradeoff": tradeoff}


def plot_all(res: Results, out: str | Path, points: Sequence[int] | None = None,
             baseline: str | None = None) -> list[Path]:
    """Draw every figure of :data:`FIGURES` into ``out`` and, in a design sweep, the outcomes against
    each design parameter (:func:`response`); return the files written (PNG and SVG each)."""
    out = Path(out)
    base = res.baseline(baseline)
    paths: list[Path] = []
    for fn in _drawers().values():
        paths += fn(res, out, points, baseline=base)
    for key in res.design_keys:
        paths += response(res, out, key, baseline=base)
    return paths


# --------------------------------------------------------------------------- (6) outcome against a design parameter

#: The outcomes :func:`response` draws unless told (one panel each)
RESPONSE_OUTCOMES = [k for k, _ in OUTCOME_PANELS]


def design_parameter(res: Results, x: str | None = None, *, option: str = "--x") -> list[str]:
    """The design parameters to draw against: ``[x]`` (a dotted name, or its last part if that is unique
    among the sweep's design parameters), or every design parameter when ``x`` is None. Raises
    :class:`ResultsError` naming the ones that exist (and, for a sweep without a design, ``option``: the
    option that asked for a design parameter)."""
    keys = res.design_keys
    if not keys:
        raise analysis.ResultsError(str(res.root), option, "a design sweep (a spec with [design]) for it; this "
                                                           "sweep has no design parameters")
    if x is None:
        return list(keys)
    if x in keys:
        return [x]
    short = [k for k in keys if k.rsplit(".", 1)[-1] == x]
    if len(short) == 1:
        return short
    raise analysis.ResultsError("--x", x, f"a design parameter of this sweep: {', '.join(keys)}")


def response_outcomes(res: Results, y: Sequence[str] | None = None) -> list[str]:
    """The outcomes to draw (default :data:`RESPONSE_OUTCOMES`); raises :class:`ResultsError` for a key
    that is not a summary key of the sweep, listing those that are."""
    if not y:
        return [k for k in RESPONSE_OUTCOMES if k in res.outcomes] or res.outcomes[:1]
    for k in y:
        if k not in res.outcomes:
            raise analysis.ResultsError("--y", k, f"a summary key of this sweep: {', '.join(res.outcomes)}")
    return list(dict.fromkeys(y))


def _param_label(key: str) -> str:
    from .params import iter_parameters

    for path, unit, *_ in iter_parameters():
        if path == key:
            return f"{key} ({unit})" if unit else key
    return key


def _bins(x: np.ndarray, n: int) -> np.ndarray:
    """Bin edges at quantiles of ``x``: about the same number of runs in each of at most ``n`` bins."""
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n + 1)))
    return edges if len(edges) >= 2 else np.array([x.min(), x.max() + 1e-12])


def response(res: Results, out: Path, x: str | None = None, y: Sequence[str] | None = None,
             baseline: str | None = None) -> list[Path]:
    """Each outcome (one panel per key of ``y``) against design parameter ``x``: one colour per strategy,
    a dot per run, and the mean with its 95% CI (Student t over the runs; logit scale for rates).

    A grid (few distinct values, each run several times) shows the mean and CI at each design value;
    strategies are set slightly apart along x so that they do not hide one another. A sampled design
    (LHS, Morris, Sobol: values all different) shows binned means: the runs cut into bins of about
    equal size at quantiles of x, the mean and CI band of each bin drawn at its runs' mean x. Other
    design parameters are pooled. Writes ``response_<x>`` (``x`` dotted) for each parameter.
    """
    plt = _plt()
    keys = response_outcomes(res, y)
    base = res.baseline(baseline)
    order = scenario_order(res, base)
    colors = strategy_colors(res.scenarios)
    s = res.summaries
    paths: list[Path] = []
    for param in design_parameter(res, x):
        raw = s[param]
        xnum = pd.to_numeric(raw.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v), errors="coerce")
        categories = None
        if xnum.isna().any():  # values that are not numbers (e.g. lists): evenly spaced categories
            categories = list(dict.fromkeys(map(str, res.points[param]))) if param in res.points else \
                list(dict.fromkeys(map(str, raw)))
            xnum = raw.map(str).map({c: float(i) for i, c in enumerate(categories)})
        xv_all = xnum.to_numpy(dtype=float)
        values = np.unique(xv_all[np.isfinite(xv_all)])
        per_value = s.groupby([xnum, s["scenario"]]).size()
        grid = categories is not None or (len(values) <= 12 and len(per_value) and per_value.min() >= 2) or \
            ((res.manifest.get("spec") or {}).get("design") or {}).get("method") == "grid"
        gap = float(np.diff(values).min()) if len(values) > 1 else 1.0
        n = len(order)
        step = min(0.06, 0.5 / max(n, 1)) * gap if grid and n > 1 else 0.0
        fig, axes = plt.subplots(1, len(keys), figsize=(4.7 * len(keys) + 0.4, 4.9), layout="constrained",
                                 squeeze=False)
        for ax, key in zip(axes[0], keys):
            u = analysis.unit(key)
            rate = key in analysis.RATE_KEYS
            for i, name in enumerate(order):
                m = (s["scenario"] == name).to_numpy()
                xv = xv_all[m]
                yv = pd.to_numeric(s.loc[m, key], errors="coerce").to_numpy(dtype=float)
                ok = np.isfinite(xv) & np.isfinite(yv)
                xv, yv = xv[ok], yv[ok]
                if not len(xv):
                    continue
                c = colors[name]
                dodge = (i - (n - 1) / 2) * step
                ax.scatter(xv + dodge, yv * u.scale, s=9, color=c, alpha=0.35, lw=0, zorder=2)
                if grid:
                    groups = [(v, yv[xv == v]) for v in np.unique(xv)]
                    mx = np.array([v for v, _ in groups]) + dodge
                else:
                    edges = _bins(xv, int(np.clip(round(math.sqrt(len(xv))), 2, 10)))
                    idx = np.clip(np.searchsorted(edges, xv, side="right") - 1, 0, len(edges) - 2)
                    groups = [(float(xv[idx == b].mean()), yv[idx == b]) for b in range(len(edges) - 1)
                              if (idx == b).any()]
                    mx = np.array([v for v, _ in groups])
                stats = np.array([analysis.mean_ci(g, rate=rate)[1:] for _, g in groups]) * u.scale
                mean, lo, hi = stats[:, 0], stats[:, 1], stats[:, 2]
                ls = "--" if name == base else "-"
                if grid:
                    err = np.vstack([mean - lo, hi - mean])
                    err = np.where(np.isfinite(err), err, 0.0)
                    ax.errorbar(mx, mean, yerr=err, fmt="o", ls=ls, color=c, ms=4.5, lw=1.5, capsize=3,
                                label=name, zorder=3)
                else:
                    ax.plot(mx, mean, ls=ls, marker="o", ms=3.5, color=c, lw=1.6, label=name, zorder=3)
                    band = np.isfinite(lo) & np.isfinite(hi)
                    ax.fill_between(mx[band], lo[band], hi[band], color=c, alpha=0.15, lw=0, zorder=1)
            ax.set_ylabel(dict(OUTCOME_PANELS).get(key) or analysis.axis_label(key))
            ax.set_xlabel(_param_label(param))
            if categories is not None:
                ax.set_xticks(range(len(categories)), categories, rotation=20, ha="right")
            elif grid and len(values) <= 12:
                ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.grid(alpha=0.3)
            ax.set_axisbelow(True)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if handles:
            longest = max(len(t) for t in labels)
            fig.legend(handles, labels, loc="outside lower center", frameon=False,
                       ncol=min(len(labels), 6 if longest <= 16 else 3))
        how = ("dots: runs; markers and bars: mean and 95% CI over the runs at each design value" if grid else
               "dots: runs; line and band: mean and 95% CI over the runs in bins of about equal size (quantiles of x)")
        others = [k for k in res.design_keys if k != param]
        if others:
            how += f"; pooled over the other design parameter{'s' if len(others) > 1 else ''} " \
                   f"({', '.join(k.rsplit('.', 1)[-1] for k in others)})"
        fig.suptitle(f"Outcomes against {param}\n{how}\n{_subtitle(res, [int(p) for p in res.points['point']])}",
                     fontsize=10)
        paths += _save(fig, out, f"response_{param}")
    return paths
