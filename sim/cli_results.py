"""`credsim compare` and `credsim plot`: look at a sweep's results folder (see sim/analysis.py, sim/plots.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_common import _check_out, app, bad_input, warnings_as_lines
from .scenario import ScenarioError

DirArg = Annotated[Path, typer.Argument(metavar="DIR", help="A sweep's results folder (credsim sweep --out DIR).",
                                        show_default=False)]
BaselineOpt = Annotated[Optional[str], typer.Option(
    "--baseline", "-b", metavar="NAME",
    help="The scenario to compare against [default: 'baseline' if the sweep has it, else the first scenario].")]


def _load(folder: Path):
    from .analysis import load

    try:
        return load(folder)
    except ScenarioError as e:
        bad_input(e)


def _need_runs(res) -> None:
    if res.finished == 0:
        bad_input(ScenarioError(res.root, "summaries", f"at least one finished run (0 of {res.planned} planned "
                                                       "runs have finished)"))


def _note(res) -> None:
    line = res.status()
    if line:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _finite(v):
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if not math.isfinite(f):
        return None
    return int(f) if isinstance(v, int) else f


def _plain(v):
    """A design value as JSON: numpy scalars to Python."""
    if hasattr(v, "item"):
        v = v.item()
    return _finite(v) if isinstance(v, float) else v


# --------------------------------------------------------------------------- compare


def _fmt(x: float, decimals: int, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0.0:
        return f"{0.0:.{decimals}f}"
    s = f"{x:{'+' if sign else ''},.{decimals}f}"
    if not sign and float(s.replace(",", "")) == 0.0:
        s = f"{0.0:.{decimals}f}"  # a mean is never "-0.00"; a difference keeps its sign ("-0.00": below 0)
    return s


def _interval(m: float, lo: float, hi: float, decimals: int, sign: bool = False) -> str:
    if not math.isfinite(m):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{_fmt(m, decimals, sign)} [n/a]"
    return f"{_fmt(m, decimals, sign)} [{_fmt(lo, decimals, sign)}, {_fmt(hi, decimals, sign)}]"


def _bracket(lo: float, hi: float, decimals: int, sign: bool = False) -> str:
    """``[lo, hi]``, or ``[n/a]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "[n/a]"
    return f"[{_fmt(lo, decimals, sign)}, {_fmt(hi, decimals, sign)}]"


def _header(res, base: str) -> list[str]:
    spec = res.manifest.get("spec") or {}
    npoints = max(len(res.points), 1)
    size = ""
    if spec.get("borrowers") or spec.get("days"):
        size = f", {spec.get('borrowers') or '?':,} borrowers x {spec.get('days') or '?'} days"
    reps = spec.get("replicates", "?")
    if res.has_posterior:
        post = res.manifest.get("posterior") or {}
        draws = len(post.get("draws") or [])
        return [
            f"sweep '{res.name}' ({res.root}): {res.finished}/{res.planned} runs finished, "
            f"{len(res.scenarios)} scenario(s) x {npoints} design point(s) x {draws} posterior draw(s) x "
            f"{reps} replicate(s){size}",
            f"posterior: {', '.join(res.posterior_keys)} drawn from {post.get('file', '?')} (generation "
            f"{post.get('generation', '?')}, {post.get('particles', '?')} particles)",
            "mean over draws and replicates; [seed 95%] = replicate noise only (Student t over the seeds' means "
            "over draws); [total 95%] = also the posterior's parameter uncertainty (docs/ODD.md, confidence "
            f"intervals); logit scale for rates; Δ = paired difference from '{base}' at the same draw and seed; "
            "* = the total interval of Δ excludes 0",
        ]
    return [
        f"sweep '{res.name}' ({res.root}): {res.finished}/{res.planned} runs finished, "
        f"{len(res.scenarios)} scenario(s) x "
        f"{npoints} design point(s) x {reps} replicate(s){size}",
        f"mean [95% CI] over replicates (Student t; logit scale for rates); Δ = paired difference from '{base}' at the same design point "
        f"and seed [95% CI]; * = the interval of Δ excludes 0",
    ]


def print_tables(res, table, base: str, keys: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .analysis import unit
    from .metrics import SUMMARY

    console = Console() if sys.stdout.isatty() else Console(width=160)
    for line in _header(res, base):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    multi = len(res.points) > 1
    dkeys = res.design_keys if multi else []
    for key in keys:
        u = unit(key)
        t = table[table["outcome"] == key]
        dunit = f" ({u.diff_label})" if u.diff_label else ""
        tab = Table(title=f"{key} ({u.label}): {SUMMARY.get(key, '')}", title_justify="left", title_style="bold",
                    header_style="bold")
        tab.add_column("scenario", no_wrap=True)
        for k in dkeys:
            tab.add_column(k.rsplit(".", 1)[-1], justify="right", no_wrap=True)
        post = res.has_posterior
        tab.add_column("n", justify="right", no_wrap=True)
        if post:
            # Text, not markup: "[seed 95%]" would be read as a style
            tab.add_column(Text("mean [seed 95%]"), justify="right", no_wrap=True)
            tab.add_column(Text("[total 95%]"), justify="right", no_wrap=True)
            tab.add_column(Text(f"Δ vs {base}{dunit} [seed 95%]"), justify="right", no_wrap=True)
            tab.add_column(Text("Δ [total 95%]"), justify="right", no_wrap=True)
        else:
            tab.add_column("mean [95% CI]", justify="right", no_wrap=True)
            tab.add_column(f"Δ vs {base}{dunit} [95% CI]", justify="right", no_wrap=True)
        for _, r in t.iterrows():
            sc = u.scale
            mean = _interval(r["mean"] * sc, r["ci_low"] * sc, r["ci_high"] * sc, u.decimals)
            low, high = ("diff_total_low", "diff_total_high") if post else ("diff_low", "diff_high")
            dtotal = ""
            if r["scenario"] == base:
                diff = "(baseline)"
            elif r["n_pairs"] == 0:
                diff = "n/a (no pairs)"
            else:
                diff = _interval(r["diff"] * sc, r["diff_low"] * sc, r["diff_high"] * sc, u.decimals, sign=True)
                if post:
                    dtotal = _bracket(r["diff_total_low"] * sc, r["diff_total_high"] * sc, u.decimals, sign=True)
                mark = " *" if math.isfinite(r[low]) and math.isfinite(r[high]) and (r[low] > 0 or r[high] < 0) else "  "
                if post:
                    dtotal += mark
                else:
                    diff += mark
            design = [str(_plain(r[k])) if not isinstance(r[k], float) else f"{r[k]:.4g}" for k in dkeys]
            # Text, not markup: "[n/a]" and "[0.1, 0.2]" are data
            cells = [Text(mean)]
            if post:
                cells.append(Text(_bracket(r["total_low"] * sc, r["total_high"] * sc, u.decimals)))
            cells.append(Text(diff, style="dim" if r["scenario"] == base else ""))
            if post:
                cells.append(Text(dtotal))
            tab.add_row(Text(str(r["scenario"])), *map(Text, design), str(int(r["n"])), *cells)
        console.print(tab)


def json_doc(res, table, base: str, keys: list[str]) -> dict:
    from .analysis import CONFIDENCE

    results = []
    runs = res.summaries.groupby(["scenario", "point"]).size().to_dict() if len(res.summaries) else {}
    for (scenario, point), g in table.groupby(["scenario", "point"], sort=False):
        first = g.iloc[0]
        entry = {
            "scenario": scenario,
            "point": int(point),
            "design": {k: _plain(first[k]) for k in res.design_keys if k in g.columns},
            "n": int(runs.get((scenario, point), 0)),  # finished runs; each outcome's n: runs defining it
            "outcomes": {},
        }
        for _, r in g.iterrows():
            entry["outcomes"][r["outcome"]] = {
                "n": int(r["n"]),
                "mean": _finite(r["mean"]),
                "ci_low": _finite(r["ci_low"]),
                "ci_high": _finite(r["ci_high"]),
                "n_pairs": int(r["n_pairs"]),
                "diff": _finite(r["diff"]),
                "diff_low": _finite(r["diff_low"]),
                "diff_high": _finite(r["diff_high"]),
            }
            if res.has_posterior:  # the seed-only interval is ci_*/diff_*; with parameter uncertainty: total_*
                entry["outcomes"][r["outcome"]].update({
                    k: (int(r[k]) if k in ("draws", "replicates") else _finite(r[k])) for k in POSTERIOR_COLUMNS})
        results.append(entry)
    doc = {
        "dir": str(res.root),
        "sweep": res.name,
        "baseline": base,
        "confidence": CONFIDENCE,
        "interval": "Student t over replicates (on the logit scale for rates, inside [0, 1]); diff = mean "
                    "paired difference scenario - baseline (same design point and replicate seed), Student t; "
                    "an undefined outcome (a run could not define it) is left out of n, and null when no run did",
        "runs_planned": res.planned,
        "runs_finished": res.finished,
        "runs_failed": len(res.failures),
        "design_parameters": res.design_keys,
        "scenarios": res.scenarios,
        "outcomes": keys,
        "results": results,
    }
    if res.has_posterior:
        post = res.manifest.get("posterior") or {}
        doc["interval"] = (
            "ci_low/ci_high and diff_low/diff_high: seed-only, the Student t interval over replicate seeds of the "
            "mean over posterior draws (logit scale for rates); total_low/total_high and diff_total_low/"
            "diff_total_high: also the parameter uncertainty, sqrt(h_seed^2 + h_param^2) with h_param = "
            "t(D-1) * sd_param * sqrt(1 + 1/D) and sd_param the two-way ANOVA estimate of the spread over draws "
            "(docs/ODD.md); diff = mean paired difference scenario - baseline (same draw and replicate seed)")
        doc["posterior"] = {"file": post.get("file"), "sha256": post.get("sha256"), "generation": post.get("generation"),
                            "parameters": res.posterior_keys, "method": post.get("method"), "seed": post.get("seed"),
                            "draws": post.get("draws")}
    return doc


@app.command()
def compare(
    folder: DirArg,
    baseline: BaselineOpt = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object on stdout (every summary key), nothing else.")] = False,
    every: Annotated[bool, typer.Option("--all", help="Show every summary key, not only the key outcomes.")] = False,
    by: Annotated[Optional[str], typer.Option(
        "--by", metavar="SEGMENT",
        help="Outcomes by segment of the loans instead: income_quintile, literacy_tercile, age_band, product "
             "or cause.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="FORMAT",
        help="table (for reading), or csv, markdown or latex: one row per scenario, design point and outcome "
             "(and segment, with --by), for papers and spreadsheets.")] = "table",
    outcomes: Annotated[Optional[list[str]], typer.Option(
        "--outcomes", metavar="KEY", help="Only these summary keys, or with --by these outcomes by segment (repeat "
                                          "the option for several).")] = None,
) -> None:
    """Per scenario (and design point): each outcome's mean and 95% CI over replicates, and the paired
    difference from the baseline with its 95% CI; or, with --by, loan outcomes by segment."""
    from .analysis import (KEY_OUTCOMES, SEGMENT_OUTCOMES, SingleReplicateWarning, check_segment,
                           compare as compare_table)

    res = _load(folder)
    try:
        base = res.baseline(baseline)
        if by is not None:
            check_segment(by)
        if fmt not in FORMATS:
            raise ScenarioError("--format", fmt, f"one of {', '.join(FORMATS)}")
        if as_json and fmt != "table":
            raise ScenarioError("--format", fmt, "--json or --format, not both (--json prints JSON)")
    except ScenarioError as e:
        bad_input(e)
    _need_runs(res)  # before the outcomes: a sweep with no finished run has no summary keys to name
    try:
        for k in outcomes or []:
            if by is not None and k not in SEGMENT_OUTCOMES:
                raise ScenarioError("--outcomes", k, f"an outcome by segment: {', '.join(SEGMENT_OUTCOMES)}")
            if by is None and k not in res.outcomes:
                raise ScenarioError("--outcomes", k, "a summary key of this sweep (credsim compare DIR --all lists them)")
    except ScenarioError as e:
        bad_input(e)
    if by is not None:
        _segments(res, by, base, as_json, fmt, list(dict.fromkeys(outcomes)) if outcomes else list(SEGMENT_OUTCOMES))
        return
    if outcomes:
        keys = list(dict.fromkeys(outcomes))
    else:
        keys = res.outcomes if (every or as_json or fmt != "table") else [k for k in KEY_OUTCOMES if k in res.outcomes]
    with warnings_as_lines(SingleReplicateWarning):
        table = in_order(compare_table(res, base, keys), res, base)
    _note(res)
    if as_json:
        sys.stdout.write(json.dumps(json_doc(res, table, base, keys), allow_nan=False) + "\n")
        sys.stdout.flush()
        return
    if fmt != "table":
        sys.stdout.write(export_table(table, res.design_keys if len(res.points) > 1 else [], fmt))
        sys.stdout.flush()
        return
    print_tables(res, table, base, keys)


def in_order(table, res, base: str):
    """Rows by scenario in the figures' order (sim.plots.scenario_order: baseline first, then the groups
    of shipped strategies), keeping the order of points and outcomes within each."""
    from .plots import scenario_order

    rank = {s: i for i, s in enumerate(scenario_order(res, base))}
    return table.sort_values("scenario", key=lambda c: c.map(rank), kind="stable").reset_index(drop=True)


FORMATS = ("table", "csv", "markdown", "latex")
EXPORT_COLUMNS = ["outcome", "n", "mean", "ci_low", "ci_high", "n_pairs", "diff", "diff_low", "diff_high"]
#: What a sweep with a posterior adds to each row (``ci_*`` and ``diff_low/high`` are then seed-only).
POSTERIOR_COLUMNS = ["draws", "replicates", "sd_param", "total_low", "total_high", "diff_sd_param",
                     "diff_total_low", "diff_total_high"]


def export_table(table, design_keys: list[str], fmt: str, columns: list[str] | None = None) -> str:
    """The comparison as text for other tools: ``scenario``, the design values, then ``columns``
    (default ``EXPORT_COLUMNS`` and, from a sweep with a posterior, ``POSTERIOR_COLUMNS`` after them)."""
    if columns is None:
        columns = [*EXPORT_COLUMNS, *[c for c in POSTERIOR_COLUMNS if c in table.columns]]
    cols = ["scenario", *design_keys, *columns]
    df = table[cols]
    if fmt == "csv":
        return df.to_csv(index=False)

    def cell(v) -> str:
        if isinstance(v, float):
            return "" if not math.isfinite(v) else f"{v:.6g}"
        return str(v)

    rows = [[cell(v) for v in r] for r in df.itertuples(index=False)]
    if fmt == "markdown":
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join(lines) + "\n"

    def tex(text: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
            text = text.replace(a, b)
        return text

    lines = [r"\begin{tabular}{" + "l" * (1 + len(design_keys)) + "l" + "r" * (len(cols) - len(design_keys) - 2) + "}",
             r"\hline", " & ".join(tex(c) for c in cols) + r" \\", r"\hline"]
    lines += [" & ".join(tex(c) for c in r) + r" \\" for r in rows]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


#: the columns of ``compare --by SEGMENT --format csv|markdown|latex`` after ``scenario`` and the design values
SEGMENT_COLUMNS = ["segment", "outcome", "n", "mean", "ci_low", "ci_high"]


def _segments(res, by: str, base: str, as_json: bool, fmt: str, keys: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .analysis import SEGMENT_OUTCOMES, SEGMENT_RATES, SingleReplicateWarning, _with_design, segments

    with warnings_as_lines(SingleReplicateWarning):
        table = in_order(segments(res, by), res, base)
    table = table[table["outcome"].isin(keys)].reset_index(drop=True)
    _note(res)
    if as_json:
        rows = [{"scenario": r.scenario, "point": int(r.point), "segment": _plain(r.segment), "outcome": r.outcome,
                 "n": int(r.n), "mean": _finite(r.mean), "ci_low": _finite(r.ci_low), "ci_high": _finite(r.ci_high)}
                for r in table.itertuples()]
        doc = {"dir": str(res.root), "by": by, "outcomes": {k: SEGMENT_OUTCOMES[k] for k in keys}, "results": rows}
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
        sys.stdout.flush()
        return
    if fmt != "table":
        design = res.design_keys if len(res.points) > 1 else []
        table = _with_design(table, res) if design else table
        sys.stdout.write(export_table(table, design, fmt, SEGMENT_COLUMNS))
        sys.stdout.flush()
        return
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(f"sweep '{res.name}' ({res.root}): window loans by {by}; mean [95% CI] over replicates "
                  "(logit-scale t for rates)", highlight=False, markup=False, soft_wrap=True)
    multi = len(res.points) > 1
    for key in keys:
        definition = SEGMENT_OUTCOMES[key]
        t = table[table["outcome"] == key]
        rate = key in SEGMENT_RATES
        tab = Table(title=f"{key} ({'%' if rate else 'count'}): {definition}", title_justify="left",
                    title_style="bold", header_style="bold")
        tab.add_column("scenario", no_wrap=True)
        tab.add_column(by, no_wrap=True)
        tab.add_column("n", justify="right")
        tab.add_column("mean [95% CI]", justify="right", no_wrap=True)
        for r in t.itertuples():
            sc = 100.0 if rate else 1.0
            label = res.label(r.scenario, r.point) if multi else r.scenario
            tab.add_row(Text(label), Text(str(r.segment)), str(int(r.n)),
                        Text(_interval(r.mean * sc, r.ci_low * sc, r.ci_high * sc, 2 if rate else 1)))
        console.print(tab)


# --------------------------------------------------------------------------- plot


@app.command()
def plot(
    folder: DirArg,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", metavar="FIGDIR", help="Where to write the figures [default: DIR/figures].")] = None,
    baseline: BaselineOpt = None,
    points: Annotated[Optional[list[int]], typer.Option(
        "--point", "-p", metavar="N", min=0,
        help="Design point(s) to draw (repeatable) [default: every point if that makes at most 16 series, "
             "else point 0].")] = None,
    x: Annotated[Optional[str], typer.Option(
        "--x", "-x", metavar="PARAM",
        help="Design sweeps: draw only outcomes against this design parameter (its dotted name, or the last "
             "part if unique), figure response_PARAM [default with --y: every design parameter].")] = None,
    y: Annotated[Optional[list[str]], typer.Option(
        "--y", "-y", metavar="OUTCOME",
        help="Design sweeps: draw only these summary keys against the design parameter, one panel each "
             "(repeatable) [default: default_rate, mean_stress, brand_trust].")] = None,
) -> None:
    """Draw the figures of a sweep (PNG and SVG): DPD composition over time, default / stress / trust with
    CIs, vintage curves, trust over time, the default-stress-trust trade-off and, in a design sweep, the
    outcomes against each design parameter. With --x or --y: only the outcomes against the parameter."""
    from . import plots

    res = _load(folder)
    figdir = out if out is not None else res.root / "figures"
    try:
        base = res.baseline(baseline)
        only_response = x is not None or bool(y)
        if only_response:
            plots.design_parameter(res, x, option="--x" if x is not None else "--y")
            plots.response_outcomes(res, y)
        _check_out(figdir)
        chosen, note = plots.select_points(res, points)
    except ScenarioError as e:
        bad_input(e)
    _need_runs(res)
    _note(res)
    if note and not only_response:
        sys.stderr.write(note + "\n")
    from .analysis import SingleReplicateWarning

    try:
        with warnings_as_lines(SingleReplicateWarning):  # one line each, as compare says them
            if only_response:
                paths = plots.response(res, figdir, x, y, baseline=base)
            else:
                paths = plots.plot_all(res, figdir, chosen, baseline=base)
    except OSError as e:
        bad_input(ScenarioError("--out", str(figdir), f"a directory that can be written ({e.strerror or e})"))
    for p in paths:
        typer.echo(str(p))
