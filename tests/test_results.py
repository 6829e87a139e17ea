"""Looking at a sweep's results: sim.analysis (means, t intervals, paired differences), sim.plots, and the
`credsim compare` / `credsim plot` commands. Tiny sweeps (600 borrowers x 60 days after a 30-day burn-in) are built once per
module with sim.sweep.plan + sim.execute.run_sweep (serial)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from sim import analysis, plots
from sim.cli import app
from sim.execute import run_sweep
from sim.metrics import RATE_KEYS, SUMMARY_KEYS
from sim.store import ResultStore
from sim.sweep import plan

runner = CliRunner()
SCENARIOS = ["baseline", "humane_visits", "no_collection"]


def _sweep(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.toml"
    spec.write_text(body)
    out = folder / "results"
    outcome = run_sweep(plan(spec), ResultStore(out), executor="serial")
    assert outcome.failed == 0 and outcome.done == outcome.planned
    return out


@pytest.fixture(scope="module")
def strategies(tmp_path_factory) -> Path:
    """3 scenarios x 3 paired replicates."""
    entries = ", ".join(f'{{file = "{s}"}}' for s in SCENARIOS)
    return _sweep(tmp_path_factory.mktemp("strategies"), f"""
name = "tiny"
replicates = 3
seed = 5
borrowers = 600
days = 60
burn_in = 30
scenarios = [{entries}]
""")


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> Path:
    """2 scenarios x 2 design points x 2 replicates."""
    return _sweep(tmp_path_factory.mktemp("design"), """
name = "tiny_design"
replicates = 2
borrowers = 600
days = 60
burn_in = 30
scenarios = [{file = "baseline"}, {file = "no_collection"}]
[design]
method = "grid"
[design.parameters]
"collection.visits.start_dpd" = [20, 40]
""")


@pytest.fixture(scope="module")
def res(strategies) -> analysis.Results:
    return analysis.load(strategies)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _t_interval(x) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=float)
    m = x.mean()
    if x.std(ddof=1) == 0:
        return m, m, m
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=m, scale=stats.sem(x))
    return m, lo, hi


# --------------------------------------------------------------------------- loading


def test_load_reads_every_finished_run(res):
    assert res.complete and res.status() is None
    assert res.scenarios == SCENARIOS
    assert res.finished == res.planned == 9
    assert set(SUMMARY_KEYS) <= set(res.summaries.columns)
    direct = pd.concat([pd.read_parquet(f) for f in sorted((res.root / "summaries").glob("*.parquet"))])
    merged = direct.merge(res.summaries, on="run_id", suffixes=("", "_loaded"))
    assert len(merged) == 9
    for k in SUMMARY_KEYS:
        np.testing.assert_array_equal(merged[k].to_numpy(float), merged[f"{k}_loaded"].to_numpy(float))


def test_a_run_read_back_from_its_files_is_the_run(res):
    """The files of a run (written from Arrow tables, without pandas' metadata) read back as the run's
    own tables with the id columns in front, dtypes included: the same frames as pandas' own writer
    gives, also for a table with no rows."""
    import sim
    from sim.store import encode_run, run_ids

    job = next(j for j in plan(res.root.parent / "spec.toml").jobs if j.replicate == 1)
    r = sim.run(job.params, seed=job.seed)
    out = {"summary": r.summary, "daily": r.daily, "vintages": r.vintages, "loans": r.loans, "roll": r.roll_matrix}
    out["roll"] = out["roll"].iloc[:0]  # a table with no rows keeps its columns and their types
    files = encode_run(job, out)
    ids = run_ids(job)
    for kind in ("daily", "vintages", "loans", "roll"):
        expected = out[kind].copy()
        for col in reversed(list(ids)):
            expected.insert(0, col, pd.Series([ids[col]] * len(expected), dtype=type(ids[col])))
        via_pandas = pd.read_parquet(io.BytesIO(expected.to_parquet(index=False)))
        got = pd.read_parquet(io.BytesIO(files[kind]))
        pd.testing.assert_frame_equal(got, via_pandas, check_dtype=True)
        assert len(got) == len(out[kind]) and list(got.columns) == [*ids, *out[kind].columns]
    summary = pd.read_parquet(io.BytesIO(files["summaries"]))
    assert len(summary) == 1 and list(summary.columns[: len(ids)]) == list(ids)
    for k, v in r.summary.items():
        assert summary[k].iloc[0] == v or (v != v and summary[k].isna().all()), k


def test_sql_views(res):
    df = res.sql("SELECT scenario, count(*) AS n, avg(default_rate) AS d FROM summaries GROUP BY 1")
    assert dict(zip(df["scenario"], df["n"])) == {s: 3 for s in SCENARIOS}
    days = res.sql("SELECT count(DISTINCT day) AS d FROM daily")["d"].iloc[0]
    assert days == 91  # day 0, 30 days of burn-in, 60 of the window


# --------------------------------------------------------------------------- statistics


def _logit_t_interval(x) -> tuple[float, float, float]:
    """The t interval of a mean rate on the logit scale (delta method), from scipy's pieces."""
    from scipy.special import expit, logit

    x = np.asarray(x, dtype=float)
    m = x.mean()
    if x.std(ddof=1) == 0:
        return m, m, m
    half = stats.t.ppf(0.975, len(x) - 1) * stats.sem(x) / (m * (1 - m))
    return m, expit(logit(m) - half), expit(logit(m) + half)


def test_means_and_cis_equal_direct_scipy(res):
    table = analysis.describe(res)
    s = res.summaries
    checked = 0
    for scen in SCENARIOS:
        for key in SUMMARY_KEYS:
            x = s.loc[s["scenario"] == scen, key].to_numpy(float)
            row = table[(table["scenario"] == scen) & (table["outcome"] == key)].iloc[0]
            x = x[np.isfinite(x)]  # an undefined metric (NaN) is left out, never counted as 0
            assert row["n"] == len(x)
            if len(x) < 2:
                assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
                continue
            m, lo, hi = _logit_t_interval(x) if key in RATE_KEYS else _t_interval(x)
            assert row["mean"] == pytest.approx(m, rel=1e-12, abs=1e-12)
            assert row["ci_low"] == pytest.approx(lo, rel=1e-9, abs=1e-12)
            assert row["ci_high"] == pytest.approx(hi, rel=1e-9, abs=1e-12)
            if key in RATE_KEYS:
                assert 0.0 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 1.0
            checked += 1
    assert checked > 2 * len(SUMMARY_KEYS)


def test_rate_intervals_stay_inside_0_1():
    x = [0.0, 0.0, 0.004, 0.0]  # a rare event: the plain t interval goes below 0
    n, m, lo, hi = analysis.mean_ci(x)
    assert lo < 0
    n, m, lo, hi = analysis.mean_ci(x, rate=True)
    assert n == 4 and 0.0 < lo < m < hi < 1.0
    assert (lo, hi) == pytest.approx(_logit_t_interval(x)[1:])
    assert analysis.mean_ci([0.0, 0.0, 0.0], rate=True) == (3, 0.0, 0.0, 0.0)
    assert analysis.mean_ci([1.0, 1.0], rate=True) == (2, 1.0, 1.0, 1.0)
    n, m, lo, hi = analysis.mean_ci([0.98, 0.999, 1.0], rate=True)
    assert lo < m < hi <= 1.0
    n, m, lo, hi = analysis.mean_ci([np.nan, np.nan], rate=True)
    assert n == 0 and np.isnan(m)


def test_mean_ci_helper():
    n, m, lo, hi = analysis.mean_ci([1.0, 2.0, 4.0])
    ref = stats.t.interval(0.95, 2, loc=7 / 3, scale=stats.sem([1.0, 2.0, 4.0]))
    assert n == 3 and m == pytest.approx(7 / 3) and (lo, hi) == pytest.approx(ref)
    assert analysis.mean_ci([5.0, 5.0, 5.0]) == (3, 5.0, 5.0, 5.0)
    n, m, lo, hi = analysis.mean_ci([2.0])
    assert n == 1 and m == 2.0 and np.isnan(lo) and np.isnan(hi)


def test_paired_differences_equal_direct_computation(res):
    table = analysis.paired_differences(res, "baseline")
    s = res.summaries
    base = s[s["scenario"] == "baseline"].set_index("replicate")
    for scen in ["humane_visits", "no_collection"]:
        other = s[s["scenario"] == scen].set_index("replicate")
        assert list(other["seed"]) == list(base["seed"])  # common random numbers
        for key in ["default_rate", "mean_stress", "brand_trust", "complaints", "profit"]:
            d = (other[key].astype(float) - base[key].astype(float)).to_numpy()
            row = table[(table["scenario"] == scen) & (table["outcome"] == key)].iloc[0]
            m, lo, hi = _t_interval(d)
            assert row["n_pairs"] == 3
            assert row["diff"] == pytest.approx(m, rel=1e-12, abs=1e-12)
            assert row["diff_low"] == pytest.approx(lo, rel=1e-9, abs=1e-12)
            assert row["diff_high"] == pytest.approx(hi, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_difference_of_a_scenario_with_itself_is_exactly_zero(res, scenario):
    table = analysis.paired_differences(res, scenario)
    own = table[table["scenario"] == scenario]
    assert len(own) == len(res.outcomes)
    s = res.summaries[res.summaries["scenario"] == scenario]
    defined = own["outcome"].map(lambda k: int(np.isfinite(s[k].to_numpy(float)).sum()))
    assert (own["n_pairs"] == defined).all()  # a pair counts where the metric is defined
    ok = own[defined >= 2]
    assert len(ok) > len(own) // 2
    assert (ok["diff"] == 0.0).all()
    assert (ok["diff_low"] == 0.0).all() and (ok["diff_high"] == 0.0).all()
    assert own.loc[defined == 0, "diff"].isna().all()  # undefined everywhere: no difference, not 0


def test_compare_joins_both(res):
    table = analysis.compare(res)
    assert set(table["baseline"]) == {"baseline"}
    assert len(table) == len(SCENARIOS) * len(res.outcomes)
    assert {"mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high", "n", "n_pairs"} <= set(table.columns)
    ci = table.dropna(subset=["ci_low"])  # an interval needs two runs that define the metric
    assert len(ci) > len(table) // 2
    assert (ci["ci_low"] <= ci["mean"] + 1e-12).all() and (ci["mean"] <= ci["ci_high"] + 1e-12).all()


def test_baseline_default_and_unknown(res, design):
    assert res.baseline() == "baseline"
    assert res.baseline("no_collection") == "no_collection"
    with pytest.raises(analysis.ResultsError):
        res.baseline("nope")


def test_daily_and_vintage_statistics(res):
    daily = res.daily(["brand_trust", "active_loans"])
    st = analysis.daily_stats(res, ["brand_trust"])
    d = daily[(daily["scenario"] == "humane_visits") & (daily["day"] == 60)]["brand_trust"].to_numpy(float)
    row = st[(st["scenario"] == "humane_visits") & (st["day"] == 60)].iloc[0]
    m, lo, hi = _t_interval(d)
    assert row["n"] == 3 and row["mean"] == pytest.approx(m) and row["ci_low"] == pytest.approx(lo)

    diff = analysis.daily_differences(res, ["brand_trust"], "baseline")
    own = diff[diff["scenario"] == "baseline"]
    assert (own["mean"] == 0).all() and (own["ci_low"] == 0).all() and (own["ci_high"] == 0).all()

    comp = analysis.dpd_composition(res)
    total = comp[list(analysis.DPD_BUCKETS)].sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-9)

    vin = analysis.vintage_curves(res)
    raw = res.vintages()
    b = raw[(raw["scenario"] == "baseline") & (raw["months_on_book"] == 0)]
    per_run = b.groupby("replicate").apply(lambda g: (g["charged_off"] * g["loans"]).sum() / g["loans"].sum(),
                                           include_groups=False)
    row = vin[(vin["scenario"] == "baseline") & (vin["months_on_book"] == 0)].iloc[0]
    assert row["mean"] == pytest.approx(per_run.mean())  # month 0: every cohort observed, a plain pooled share


def test_design_sweep_pairs_at_the_same_point(design):
    r = analysis.load(design)
    assert r.design_keys == ["collection.visits.start_dpd"]
    table = analysis.compare(r, outcomes=["default_rate", "brand_trust"])
    pairs = {(s, p) for s in ["baseline", "no_collection"] for p in (0, 1)}
    assert set(zip(table["scenario"], table["point"])) == pairs
    assert set(table["collection.visits.start_dpd"]) == {20, 40}
    s = r.summaries
    for p in (0, 1):
        a = s[(s["scenario"] == "no_collection") & (s["point"] == p)].set_index("replicate")["brand_trust"]
        b = s[(s["scenario"] == "baseline") & (s["point"] == p)].set_index("replicate")["brand_trust"]
        m, lo, hi = _t_interval((a - b).to_numpy(float))
        row = table[(table["scenario"] == "no_collection") & (table["point"] == p)
                    & (table["outcome"] == "brand_trust")].iloc[0]
        assert row["diff"] == pytest.approx(m) and row["diff_low"] == pytest.approx(lo)


def test_incomplete_sweep(strategies, tmp_path):
    """A missing summary: the run does not count (its daily file is ignored), and stderr says so."""
    folder = tmp_path / "partial"
    shutil.copytree(strategies, folder)
    (folder / "summaries" / "humane_visits__p0000__r001.parquet").unlink()
    (folder / "summaries" / ".tmp-1-humane_visits__p0000__r001.parquet").write_bytes(b"half a file")
    r = analysis.load(folder)
    assert r.finished == 8 and not r.complete and "8 of 9" in r.status()
    st = analysis.daily_stats(r, ["brand_trust"])
    assert set(st.loc[st["scenario"] == "humane_visits", "n"]) == {2}
    always = ["default_rate", "brand_trust", "profit"]  # defined in every run
    assert set(analysis.describe(r, always).query("scenario == 'humane_visits'")["n"]) == {2}

    out = invoke("compare", folder, "--json")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["runs_finished"] == 8 and doc["runs_planned"] == 9
    assert "incomplete sweep" in out.stderr and len(out.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- credsim compare


def test_an_outcome_with_a_single_value_is_one_warning_line_naming_it(strategies, tmp_path):
    """Where only one replicate gives a value (the others never finished here), compare says once, as one
    line, which scenario's outcomes have no interval; not a Python warning per table."""
    folder = tmp_path / "thin"
    shutil.copytree(strategies, folder)
    for r in ("r001", "r002"):
        (folder / "summaries" / f"humane_visits__p0000__{r}.parquet").unlink()
    out = invoke("compare", folder)
    assert out.exit_code == 0, out.stderr
    said = [line for line in out.stderr.splitlines() if line.startswith("warning: ")]
    assert len(said) == 1 and "SingleReplicateWarning" not in out.stderr, out.stderr
    assert said[0].startswith("warning: no 95% interval (NaN) where a single replicate gives a value (humane_visits: ")
    assert "default_rate" in said[0] and "baseline:" not in said[0] and "no_collection:" not in said[0]
    row = analysis.compare(analysis.load(folder), "baseline", ["default_rate"]).set_index("scenario").loc["humane_visits"]
    assert row["n"] == 1 and np.isnan(row["ci_low"]) and np.isnan(row["diff_low"])

    for sc in ("baseline", "no_collection"):  # now one replicate of everything
        for r in ("r001", "r002"):
            (folder / "summaries" / f"{sc}__p0000__{r}.parquet").unlink()
    said = [line for line in invoke("compare", folder).stderr.splitlines() if line.startswith("warning: ")]
    assert said == ["warning: no 95% interval (NaN) anywhere: a single replicate gives each value; run at least 2 replicates"]


def test_compare_json_is_one_object_with_every_scenario(strategies):
    out = invoke("compare", strategies, "--json")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.count("\n") == 1
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict)
    assert doc["baseline"] == "baseline"
    assert [e["scenario"] for e in doc["results"]] == ["baseline", "no_collection", "humane_visits"]  # figures' order
    undefined = 0
    for e in doc["results"]:
        assert list(e["outcomes"]) == SUMMARY_KEYS
        assert e["n"] == 3  # finished runs
        for v in e["outcomes"].values():
            assert set(v) == {"n", "mean", "ci_low", "ci_high", "n_pairs", "diff", "diff_low", "diff_high"}
            assert 0 <= v["n"] <= 3  # the runs that define the outcome
            assert (v["mean"] is None) == (v["n"] == 0)  # undefined: null, never 0
            undefined += v["n"] == 0
    assert undefined  # a 60-day window leaves ever_30dpd_rate undefined
    base = doc["results"][0]["outcomes"]["default_rate"]
    assert base["diff"] == base["diff_low"] == base["diff_high"] == 0.0
    assert out.stderr == ""


def test_compare_json_with_baseline_and_design(design):
    out = invoke("compare", design, "--json", "--baseline", "no_collection")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["baseline"] == "no_collection"
    assert {(e["scenario"], e["point"]) for e in doc["results"]} == {
        (s, p) for s in ["baseline", "no_collection"] for p in (0, 1)}
    assert {e["design"]["collection.visits.start_dpd"] for e in doc["results"]} == {20, 40}


def test_compare_table(strategies):
    out = invoke("compare", strategies)
    assert out.exit_code == 0, out.stderr
    for s in SCENARIOS:
        assert s in out.stdout
    for k in analysis.KEY_OUTCOMES:
        assert k in out.stdout
    assert "dpd90_rate" not in out.stdout
    assert "mean [95% CI]" in out.stdout and "Δ vs baseline" in out.stdout
    every = invoke("compare", strategies, "--all", "--baseline", "humane_visits")
    assert every.exit_code == 0, every.stderr
    assert "dpd90_rate" in every.stdout and "cost_per_cure" in every.stdout and "Δ vs humane_visits" in every.stdout


def test_compare_design_table_shows_design_values(design):
    out = invoke("compare", design)
    assert out.exit_code == 0, out.stderr
    assert "start_dpd" in out.stdout


@pytest.mark.parametrize("command", ["compare", "plot"])
def test_bad_dir_is_one_line_exit_2(command, tmp_path, strategies):
    for folder in [tmp_path / "missing", tmp_path]:  # no such folder; a folder without manifest.json
        out = invoke(command, folder)
        assert out.exit_code == 2
        assert out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert str(folder) in out.stderr and "Traceback" not in out.stderr
    out = invoke(command, strategies, "--baseline", "nope")
    assert out.exit_code == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "nope" in out.stderr


# --------------------------------------------------------------------------- credsim plot


def test_plot_writes_five_figures(strategies, tmp_path):
    figdir = tmp_path / "figs"
    out = invoke("plot", strategies, "--out", figdir)
    assert out.exit_code == 0, out.stderr
    listed = out.stdout.split()
    assert len(listed) == 10
    for name in plots.FIGURES:
        for ext in ("png", "svg"):
            f = figdir / f"{name}.{ext}"
            assert str(f) in listed
            assert f.is_file() and f.stat().st_size > 1000
    assert (figdir / "outcomes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (figdir / "trust.svg").read_text()[:2000]


def test_plot_design_point_selection(design, tmp_path):
    r = analysis.load(design)
    assert plots.select_points(r, None) == ([0, 1], None)
    assert plots.select_points(r, [1]) == ([1], None)
    out = invoke("plot", design, "--point", "7", "--out", tmp_path / "x")
    assert out.exit_code == 2 and len(out.stderr.strip().splitlines()) == 1
    files = plots.plot_all(r, tmp_path / "figs", points=[1])
    assert len(files) == 12 and all(f.stat().st_size > 0 for f in files)  # the five, and outcomes vs start_dpd


def test_too_many_series_draws_the_first_point(design, monkeypatch):
    r = analysis.load(design)
    monkeypatch.setattr(plots, "MAX_SERIES", 3)
    points, note = plots.select_points(r, None)
    assert points == [0] and "--point" in note


# --------------------------------------------------------------------------- loans, roll rates, segments


def test_pooled_vintage_curves_never_decrease(res):
    vin = analysis.vintage_curves(res)
    assert len(vin)
    for _, g in vin.groupby(["scenario", "point"]):
        assert (np.diff(g.sort_values("months_on_book")["mean"].to_numpy()) >= -1e-15).all()


def test_roll_matrix_sums_the_runs(res):
    rm = analysis.roll_matrix(res)
    raw = res.roll()
    assert len(rm) == len(SCENARIOS) * 6 * 8
    b = rm[(rm["scenario"] == "baseline") & (rm["from"] == "1-29") & (rm["to"] == "current")].iloc[0]
    rows = raw[(raw["scenario"] == "baseline") & (raw["from"] == "1-29")]
    assert b["count"] == rows.loc[rows["to"] == "current", "count"].sum()
    assert b["share"] == pytest.approx(b["count"] / rows["count"].sum())
    ok = rm.dropna(subset=["ci_low"])
    assert len(ok) and ((ok["ci_low"] >= 0) & (ok["ci_high"] <= 1)).all()


def test_segments_over_replicates_match_each_run(res):
    seg = analysis.segments(res, "income_quintile")
    assert set(seg["segment"]) == {1, 2, 3, 4, 5}
    loans = res.loans(where="in_window")
    per_run = analysis.segment_table(loans, "income_quintile", groups=["scenario", "replicate"])
    x = per_run[(per_run["scenario"] == "baseline") & (per_run["segment"] == 3)]["loans"]
    row = seg[(seg["scenario"] == "baseline") & (seg["segment"] == 3) & (seg["outcome"] == "loans")].iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(x.mean())
    rates = seg[seg["outcome"] != "loans"].dropna(subset=["ci_low"])
    assert ((rates["ci_low"] >= 0) & (rates["ci_high"] <= 1)).all()


def test_compare_by_segment_and_an_unknown_one(strategies):
    out = invoke("compare", strategies, "--by", "age_band")
    assert out.exit_code == 0, out.stderr
    assert "default_rate" in out.stdout and "18-24" in out.stdout and "25-34" in out.stdout
    js = invoke("compare", strategies, "--by", "product", "--json")
    doc = json.loads(js.stdout)
    assert doc["by"] == "product" and {r["segment"] for r in doc["results"]} <= {"cash", "pos"}
    bad = invoke("compare", strategies, "--by", "shoe_size")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "shoe_size" in bad.stderr and "income_quintile" in bad.stderr


def test_compare_by_segment_takes_format_outcomes_and_baseline(strategies, res):
    """--by with --format csv: one row per scenario, segment and outcome, the numbers of the segment table;
    --outcomes picks some (or refuses a key that is not a segment outcome); --baseline orders the rows."""
    out = invoke("compare", strategies, "--by", "product", "--format", "csv", "--outcomes", "default_rate",
                 "--outcomes", "loans", "--baseline", "humane_visits")
    assert out.exit_code == 0, out.stderr
    df = pd.read_csv(io.StringIO(out.stdout))
    assert list(df.columns) == ["scenario", "segment", "outcome", "n", "mean", "ci_low", "ci_high"]
    assert df.scenario.iloc[0] == "humane_visits" and set(df.outcome) == {"default_rate", "loans"}
    seg = analysis.segments(res, "product")
    for r in df.itertuples():
        want = seg[(seg.scenario == r.scenario) & (seg.segment == r.segment) & (seg.outcome == r.outcome)].iloc[0]
        assert r.mean == pytest.approx(want["mean"], rel=1e-6) and r.n == want["n"]
    md = invoke("compare", strategies, "--by", "cause", "--format", "markdown", "--outcomes", "ever_30dpd_rate")
    assert md.exit_code == 0 and md.stdout.splitlines()[0].startswith("| scenario | segment | outcome |")
    bad = invoke("compare", strategies, "--by", "product", "--outcomes", "mean_stress")
    assert bad.exit_code == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "--outcomes: mean_stress: an outcome by segment: loans, default_rate" in bad.stderr
    both = invoke("compare", strategies, "--json", "--format", "csv")
    assert both.exit_code == 2 and both.stdout == "" and "--format: csv: --json or --format, not both" in both.stderr


def test_compare_exports_csv_markdown_and_latex(strategies):
    out = invoke("compare", strategies, "--format", "csv", "--outcomes", "default_rate", "--outcomes", "mean_stress")
    assert out.exit_code == 0, out.stderr
    df = pd.read_csv(io.StringIO(out.stdout))
    assert list(df.columns[:2]) == ["scenario", "outcome"]
    assert list(df.scenario.unique()) == ["baseline", "no_collection", "humane_visits"] and set(df.outcome) == {"default_rate", "mean_stress"}
    doc = json.loads(invoke("compare", strategies, "--json").stdout)  # the same numbers as --json
    for r in df.itertuples():
        want = next(e for e in doc["results"] if e["scenario"] == r.scenario)["outcomes"][r.outcome]
        assert r.mean == pytest.approx(want["mean"], rel=1e-5) and r.n == want["n"]
    md = invoke("compare", strategies, "--format", "markdown", "--outcomes", "default_rate").stdout.splitlines()
    assert md[0].startswith("| scenario | outcome | n | mean |") and md[1].startswith("| --- |")
    assert len(md) == 2 + len(SCENARIOS)
    tex = invoke("compare", strategies, "--format", "latex", "--outcomes", "default_rate").stdout
    assert tex.startswith(r"\begin{tabular}") and r"default\_rate" in tex and tex.count(r" \\") == 1 + len(SCENARIOS)


@pytest.mark.parametrize("args, key", [(["--format", "xls"], "--format"), (["--outcomes", "nosuch"], "--outcomes")])
def test_compare_bad_format_or_outcome_is_one_line(strategies, args, key):
    out = invoke("compare", strategies, *args)
    assert out.exit_code == 2 and out.stderr.startswith(f"{key}: ") and len(out.stderr.strip().splitlines()) == 1
