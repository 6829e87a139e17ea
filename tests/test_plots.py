"""The figures of a sweep (sim/plots.py) and `credsim plot`: one colour per strategy in every figure,
strategies in a logical order (also in `credsim compare`), outcomes against a design parameter, trade-off
labels that never overlap, axes that fit their data.

One tiny real sweep (4 scenarios x 2 replicates, 300 borrowers x 45 days) is built once for the figures
that read daily series and vintages; the other tests use small results folders written here with known
summaries (no simulation), so their expected numbers are computed directly from those values.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from scipy import stats
from typer.testing import CliRunner

from sim import analysis, plots
from sim.cli import app
from sim.execute import run_sweep
from sim.metrics import SUMMARY_KEYS
from sim.scenario import SCENARIO_DIR
from sim.store import ResultStore
from sim.sweep import plan

runner = CliRunner()

#: the logical order, written out: baseline, collection intensity, tone and plans, regulation, lender
#: tactics, the recession
LOGICAL = ["baseline", "no_collection", "reminders_only", "humane_visits", "flexible_plans", "education",
           "improvement_package", "contact_cap", "visit_ban", "fee_cap", "forbearance", "moratorium",
           "risk_based", "debt_sale", "bureau_reporting", "recession"]
SPEC_ORDER = ["recession", "humane_visits", "no_collection", "baseline"]  # deliberately not the logical order
TINY_ORDER = ["baseline", "no_collection", "humane_visits", "recession"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    spec = folder / "spec.toml"
    entries = ", ".join(f'{{file = "{s}"}}' for s in SPEC_ORDER)
    spec.write_text(f'name = "tiny"\nreplicates = 2\nseed = 3\nborrowers = 300\ndays = 45\nburn_in = 20\n'
                    f"scenarios = [{entries}]\n")
    out = folder / "results"
    outcome = run_sweep(plan(spec), ResultStore(out), executor="serial")
    assert outcome.failed == 0 and outcome.done == outcome.planned
    return out


@pytest.fixture
def figures(monkeypatch):
    """Keep every figure drawn (by name) instead of saving and closing it."""
    kept: dict = {}

    def keep(fig, out, name):
        kept[name] = fig
        return []

    monkeypatch.setattr(plots, "_save", keep)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept.values():
        plt.close(fig)


def synthetic(folder: Path, rows: list[dict], design: dict[str, str] | None = None, method: str = "grid") -> Path:
    """A results folder as `credsim sweep` writes it (manifest, runs, summaries) from given summary rows:
    each row has scenario, point, replicate, design values and outcomes; other summary keys are 0.5."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summaries").mkdir()
    keys = list(design or {})
    frame = pd.DataFrame(rows)
    frame.insert(0, "run_id", [f"{r['scenario']}__p{r['point']:04d}__r{r['replicate']:03d}" for r in rows])
    frame.insert(4, "seed", frame["replicate"] + 100)
    for k in SUMMARY_KEYS:
        if k not in frame.columns:
            frame[k] = 0.5
    frame[["run_id", "scenario", "point", "replicate", "seed", *keys]].to_parquet(folder / "runs.parquet")
    frame.to_parquet(folder / "summaries" / "all.parquet")
    scen = list(dict.fromkeys(frame["scenario"]))
    manifest = {"name": folder.name, "spec": {"replicates": int(frame["replicate"].max()) + 1,
                                              **({"design": {"method": method}} if design else {})},
                "scenarios": {s: {"name": s} for s in scen}, "design_parameters": keys,
                "runs_planned": len(frame)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


# --------------------------------------------------------------------------- order and colours


def test_strategy_order_is_baseline_first_then_groups():
    shuffled = LOGICAL[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != LOGICAL
    assert plots.strategy_order(shuffled) == LOGICAL
    # names it does not know follow, in the order given; a label made from a shipped scenario sits after it
    got = plots.strategy_order(["mine", "recession", "humane", "baseline", "zz"], sources={"humane": "humane_visits"})
    assert got == ["baseline", "humane", "recession", "mine", "zz"]
    # the comparison's baseline comes first, whatever it is
    assert plots.strategy_order(["baseline", "no_collection", "education"], baseline="education") == \
        ["education", "baseline", "no_collection"]


def test_every_shipped_scenario_has_a_place_and_a_colour_of_its_own():
    shipped = sorted(p.stem for p in Path(SCENARIO_DIR).glob("*.toml"))
    assert len(shipped) >= 15
    ordered = plots.strategy_order([*shipped, "not_shipped"])
    assert ordered[-1] == "not_shipped"  # every shipped one is placed before a name it does not know
    colors = plots.strategy_colors(shipped)
    assert len({to_hex(c) for c in colors.values()}) == len(shipped)
    # the same colour whatever else is drawn beside it
    for s in shipped:
        assert plots.strategy_colors([s, "x", "baseline"])[s] == plots.strategy_color(s) == colors[s]


def test_other_names_get_stable_distinct_colours_unlike_any_shipped_one():
    names = [f"variant_{i}" for i in range(12)]
    a = plots.strategy_colors(names)
    b = plots.strategy_colors(list(reversed(names)) + ["baseline"])
    assert all(a[n] == b[n] for n in names)
    assert len(set(a.values())) == len(names)
    assert not set(a.values()) & {to_hex(c) for c in plots.strategy_colors(LOGICAL).values()}


def _legend(ax_or_fig) -> dict[str, str]:
    leg = ax_or_fig.get_legend() if hasattr(ax_or_fig, "get_legend") else ax_or_fig.legends[0]
    return {t.get_text(): to_hex(h.get_color()) for t, h in zip(leg.get_texts(), leg.legend_handles)}


def test_every_figure_draws_each_strategy_in_its_colour_and_in_order(tiny, figures):
    res = analysis.load(tiny)
    plots.plot_all(res, tiny / "figs")
    want = {s: to_hex(plots.strategy_color(s)) for s in TINY_ORDER}
    assert set(figures) == set(plots.FIGURES)
    # DPD composition: one panel per strategy, titled in its colour, in order
    panels = [ax for ax in figures["dpd_composition"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == TINY_ORDER
    assert [to_hex(ax.title.get_color()) for ax in panels] == [want[s] for s in TINY_ORDER]
    # outcomes: rows in order; each row's marker in the strategy's colour
    rows = figures["outcomes"].axes
    assert [t.get_text() for t in rows[0].get_yticklabels()] == TINY_ORDER
    for ax in rows:
        markers = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        assert sorted((int(ln.get_ydata()[0]), to_hex(ln.get_color())) for ln in markers) == \
            [(i, want[s]) for i, s in enumerate(TINY_ORDER)]
    # trust over time and vintage curves: legend entries in order and in colour
    trust = _legend(figures["trust"])
    assert list(trust) == TINY_ORDER and trust == want
    vint = _legend(figures["vintages"].axes[0])
    assert list(vint) == TINY_ORDER and vint == want
    # trade-off: the marker edges are the strategies' colours
    edges = {to_hex(c.get_edgecolor()[0]) for c in figures["tradeoff"].axes[0].collections
             if isinstance(c, PathCollection)}
    assert edges == set(want.values())


def test_compare_lists_strategies_in_the_figures_order(tiny):
    out = invoke("compare", tiny, "--json", "--outcomes", "default_rate")
    assert out.exit_code == 0, out.stderr
    assert [e["scenario"] for e in json.loads(out.stdout)["results"]] == TINY_ORDER
    csv = invoke("compare", tiny, "--format", "csv", "--outcomes", "default_rate")
    assert [line.split(",")[0] for line in csv.stdout.strip().splitlines()[1:]] == TINY_ORDER


# --------------------------------------------------------------------------- trade-off labels


def _crowd(folder: Path, n: int = 16) -> Path:
    """n strategies: most of them within a hair of each other, two far away, 3 replicates each."""
    rng = np.random.default_rng(11)
    names = (LOGICAL + [f"extra_{i}" for i in range(n)])[:n]
    rows = []
    for i, s in enumerate(names):
        far = i in (3, 9)
        for r in range(3):
            rows.append({"scenario": s, "point": 0, "replicate": r,
                         "default_rate": (0.20 if far else 0.050 + 0.0004 * i) + 0.0005 * rng.standard_normal(),
                         "mean_stress": (0.45 if i == 3 else 0.300 + 0.0003 * i) + 0.0004 * rng.standard_normal(),
                         "brand_trust": 0.55 + 0.01 * i + 0.001 * r})
    return synthetic(folder, rows)


def _text_boxes(fig, ax) -> list:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [(t.get_text(), (t.get_bbox_patch() or t).get_window_extent(r)) for t in ax.texts]


@pytest.mark.parametrize("n", [16, 30])
def test_tradeoff_labels_never_overlap_and_stay_inside(tmp_path, figures, n):
    res = analysis.load(_crowd(tmp_path / "crowd", n))
    plots.tradeoff(res, tmp_path / "figs")
    fig = figures["tradeoff"]
    ax = fig.axes[0]
    for dpi in (fig.dpi, plots.DPI, 72):  # as placed, as in the PNG, as in the SVG (points)
        fig.set_dpi(dpi)
        boxes = _text_boxes(fig, ax)
        assert sorted(t for t, _ in boxes) == sorted(res.scenarios)  # every strategy is named
        inside = ax.get_window_extent(fig.canvas.get_renderer())
        for text, b in boxes:
            assert inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1, (dpi, text)
        for i, (ta, a) in enumerate(boxes):
            for tb, b in boxes[i + 1:]:
                assert not a.overlaps(b), (dpi, ta, tb)


# --------------------------------------------------------------------------- axes fit their data


def _check_fit(ax, what: str, axis: str) -> None:
    """Every data value is in view, and the view is at most 1.2 x the data's range (5% margins are 1.1 x)."""
    siblings = (ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()).get_siblings(ax)
    i = 0 if axis == "x" else 1
    lo = min(a.dataLim.get_points()[0][i] for a in siblings if a.get_visible())
    hi = max(a.dataLim.get_points()[1][i] for a in siblings if a.get_visible())
    v0, v1 = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    span = hi - lo
    tol = 1e-9 * max(1.0, abs(hi))
    assert v0 <= lo + tol and hi - tol <= v1, f"{what} {axis}: data [{lo}, {hi}] outside view [{v0}, {v1}]"
    if span > 1e-12:
        assert (v1 - v0) <= 1.2 * span + tol, f"{what} {axis}: view [{v0}, {v1}] too wide for data [{lo}, {hi}]"


def test_axes_fit_their_data(tiny, tmp_path, figures):
    res = analysis.load(tiny)
    plots.plot_all(res, tmp_path / "figs")
    plots.tradeoff(analysis.load(_crowd(tmp_path / "crowd")), tmp_path / "figs2")
    checks = {
        "dpd_composition": "xy", "vintages": "x", "trust": "xy", "tradeoff": "xy",
        "outcomes": "x",  # y: one row per strategy
    }
    for name, axes in checks.items():
        fig = figures[name]
        fig.canvas.draw()
        for ax in fig.axes:
            if not ax.get_visible() or ax.get_label() == "<colorbar>" or not ax.has_data():
                continue
            for a in axes:
                _check_fit(ax, name, a)


# --------------------------------------------------------------------------- outcome against a design parameter

START = "collection.visits.start_dpd"
HARSH = "collection.tone.harshness"


@pytest.fixture
def grid(tmp_path) -> Path:
    """2 strategies x start_dpd in (20, 40, 60) x 4 replicates; default rate falls with start_dpd."""
    rng = np.random.default_rng(5)
    rows = []
    for s, shift in (("humane_visits", -0.01), ("baseline", 0.0)):
        for p, v in enumerate((20, 40, 60)):
            for r in range(4):
                rows.append({"scenario": s, "point": p, "replicate": r, START: v,
                             "default_rate": 0.10 - 0.001 * v + shift + 0.004 * rng.standard_normal(),
                             "mean_stress": 0.3 + 0.001 * v + 0.01 * rng.standard_normal()})
    return synthetic(tmp_path / "grid", rows, {START: "DPD"})


def test_response_grid_draws_mean_and_ci_per_design_value(grid, tmp_path, figures):
    res = analysis.load(grid)
    plots.response(res, tmp_path / "figs", y=["default_rate"])
    fig = figures[f"response_{START}"]
    ax = fig.axes[0]
    assert START in ax.get_xlabel()
    s = res.summaries
    for name in ("baseline", "humane_visits"):
        line = next(c for c in ax.containers if c.get_label() == name).lines[0]
        assert to_hex(line.get_color()) == to_hex(plots.strategy_color(name))
        # one mean per design value, set a little apart from the other strategy but nearest its own value
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert np.allclose(np.round(xs / 20) * 20, [20, 40, 60]) and np.all(np.abs(xs - [20, 40, 60]) < 2)
        for v, ym in zip((20, 40, 60), ys):
            vals = s[(s["scenario"] == name) & (s[START] == v)]["default_rate"].to_numpy()
            assert ym == pytest.approx(vals.mean() * 100)
        # every run is drawn as a dot in the strategy's colour
        dots = [c for c in ax.collections if c.get_offsets().shape[0] == 12
                and to_hex(c.get_facecolor()[0][:3]) == to_hex(plots.strategy_color(name))]
        assert len(dots) == 1
    # the 95% interval at start_dpd = 40 for the baseline: a t interval on the logit scale (a rate)
    vals = s[(s["scenario"] == "baseline") & (s[START] == 40)]["default_rate"].to_numpy()
    m, sd = vals.mean(), vals.std(ddof=1)
    half = stats.t.ppf(0.975, len(vals) - 1) * sd / np.sqrt(len(vals)) / (m * (1 - m))
    lo, hi = (1 / (1 + np.exp(-(np.log(m / (1 - m)) + sign * half))) * 100 for sign in (-1, 1))
    segs = [seg for c in ax.collections if hasattr(c, "get_segments") for seg in c.get_segments()]
    assert any(np.allclose(sorted(np.asarray(seg)[:, 1]), [lo, hi]) for seg in segs)
    _check_fit(ax, "response", "x")
    _check_fit(ax, "response", "y")


def test_response_sampled_design_draws_binned_means(tmp_path, figures):
    rng = np.random.default_rng(2)
    rows = []
    x = rng.uniform(0, 1, 40)
    for i, v in enumerate(x):
        rows.append({"scenario": "baseline", "point": i, "replicate": 0, HARSH: float(v), START: int(20 + 40 * rng.random()),
                     "mean_stress": 0.2 + 0.1 * v + 0.003 * rng.standard_normal()})
    res = analysis.load(synthetic(tmp_path / "lhs", rows, {HARSH: "0..1", START: "DPD"}, method="lhs"))
    plots.response(res, tmp_path / "figs", x="harshness", y=["mean_stress"])
    assert set(figures) == {f"response_{HARSH}"}
    fig = figures[f"response_{HARSH}"]
    ax = fig.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "baseline")
    xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    assert 3 <= len(xs) <= 10 and np.all(np.diff(xs) > 0)
    assert np.all(np.diff(ys) > 0)  # stress rises with harshness in these data
    # each bin's mean is the mean of the runs nearest its x (the bins hold about the same number of runs)
    order = np.argsort(x)
    chunks = np.array_split(np.array([rows[i]["mean_stress"] for i in order]), len(xs))
    assert np.allclose(ys, [c.mean() for c in chunks], atol=0.01)
    assert "pooled over the other design parameter (start_dpd)" in fig._suptitle.get_text()


def test_plot_command_draws_outcome_against_the_parameter(grid, tmp_path, monkeypatch):
    out = invoke("plot", grid, "--y", "default_rate", "--out", tmp_path / "f")
    assert out.exit_code == 0, out.stderr
    files = out.stdout.split()
    assert files == [str(tmp_path / "f" / f"response_{START}.{e}") for e in ("png", "svg")]  # the only parameter
    assert all(Path(f).stat().st_size > 1000 for f in files)
    short = invoke("plot", grid, "--x", "start_dpd", "--out", tmp_path / "g")
    assert short.exit_code == 0, short.stderr
    assert len(short.stdout.split()) == 2
    # without --x or --y: every figure, and the response to each design parameter (the figures over time
    # need daily files, which this folder has not: only the trade-off is drawn beside it here)
    monkeypatch.setattr(plots, "_drawers", lambda: {"tradeoff": plots.tradeoff})
    everything = invoke("plot", grid, "--out", tmp_path / "h")
    assert everything.exit_code == 0, everything.stderr
    assert f"response_{START}.png" in everything.stdout and "tradeoff.png" in everything.stdout


@pytest.mark.parametrize("args, words", [
    (["--x", "nope"], ["--x", "nope", START]),
    (["--y", "nope"], ["--y", "nope", "default_rate", "brand_trust"]),
])
def test_plot_unknown_parameter_or_outcome_is_one_line_listing_what_exists(grid, tmp_path, args, words):
    out = invoke("plot", grid, *args, "--out", tmp_path / "f")
    assert out.exit_code == 2
    assert len(out.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in out.stderr
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("option", ["--x", "--y"])
def test_plot_x_or_y_without_a_design_is_refused_naming_the_folder_and_the_option(tiny, tmp_path, option):
    out = invoke("plot", tiny, option, "start_dpd" if option == "--x" else "default_rate", "--out", tmp_path / "f")
    assert out.exit_code == 2 and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith(f"{tiny}: {option}: a design sweep"), out.stderr
    assert not (tmp_path / "f").exists()


def test_plot_of_one_replicate_says_its_notes_in_one_line_each(tmp_path):
    """One replicate (no interval) and a window too short for any loan to reach a month on book (no vintage
    curve): the figures are drawn and every note is a `warning:` line, not a Python warning with its source."""
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "one"\nreplicates = 1\nseed = 3\nborrowers = 200\ndays = 20\nburn_in = 0\n'
                    'scenarios = [{file = "baseline"}]\n')
    out = tmp_path / "results"
    run_sweep(plan(spec), ResultStore(out), executor="serial")
    res = invoke("plot", out, "--out", tmp_path / "figs")
    assert res.exit_code == 0, res.stderr
    notes = res.stderr.strip().splitlines()
    assert notes and all(line.startswith("warning: ") for line in notes), notes
    assert (tmp_path / "figs" / "vintages.png").is_file()


def test_help_names_the_options():
    out = invoke("plot", "--help")
    assert out.exit_code == 0
    for w in ("--x", "--y", "PARAM", "OUTCOME", "design parameter"):
        assert w in out.stdout
