"""Sweeps under posterior draws (`[posterior]`, `credsim sweep --posterior FILE --draws N`) and the
seed-only and total intervals of `credsim compare`.

Each test builds its own posterior.parquet by hand, with the columns sim/abc.py writes (generation,
particle, parameters, weight, distance, moment.*). Runs are tiny: 300 borrowers x 90 days without burn-in,
two strategies x 3 draws x 3 replicates.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import analysis
from sim.cli import app
from sim.execute import run_sweep
from sim.rng import replicate_seed
from sim.store import ResultStore
from sim.sweep import plan as make_plan, systematic_draws

runner = CliRunner()
DRAWS, REPLICATES, SEED = 3, 3, 4
WIDE = "repayment.intercept"  # willingness to pay: moves every delinquency outcome
INERT = "collection.settlement.discount"  # a tactic neither strategy uses: no effect at all


def write_posterior(path: Path, key: str, lo: float, hi: float, particles: int = 30) -> Path:
    """Two generations of weighted particles; the last spread uniformly over [lo, hi]."""
    rng = np.random.default_rng(7)
    rows = []
    for g in (0, 1):
        w = rng.uniform(0.5, 1.5, particles)
        for j in range(particles):
            rows.append({"generation": g, "particle": j, key: float(rng.uniform(lo, hi)), "weight": w[j] / w.sum(),
                         "distance": 1.0, "moment.late_payment_rate": 0.1})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def write_spec(folder: Path, posterior: str | None = 'file = "posterior.parquet"\ndraws = 3', scenarios: str | None = None,
               replicates: int = REPLICATES) -> Path:
    scenarios = scenarios or '[{file = "baseline"}, {file = "no_collection"}]'
    text = textwrap.dedent(f"""\
        name = "post"
        replicates = {replicates}
        seed = {SEED}
        borrowers = 300
        days = 90
        burn_in = 0
        scenarios = {scenarios}
        """)
    if posterior is not None:
        text += "\n[posterior]\n" + posterior + "\n"
    path = folder / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sweep(spec: Path, out: Path, *args: str):
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    return analysis.load(out)


def summaries(out: Path) -> pd.DataFrame:
    files = sorted((out / "summaries").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("run_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide")
    write_posterior(folder / "posterior.parquet", WIDE, 3.0, 6.0)
    spec = write_spec(folder)
    return spec, sweep(spec, folder / "out", "--serial")


@pytest.fixture(scope="module")
def inert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inert")
    write_posterior(folder / "posterior.parquet", INERT, 0.0, 1.0)
    spec = write_spec(folder)
    return spec, sweep(spec, folder / "out", "--serial")


def test_draws_are_paired_same_values_and_seeds_for_every_strategy(wide):
    spec, res = wide
    runs = res.runs
    assert len(runs) == 2 * DRAWS * REPLICATES
    assert set(runs["draw"]) == set(range(DRAWS))
    # replicate r runs with replicate_seed(seed, r) in every strategy and every draw
    assert (runs["seed"] == [replicate_seed(SEED, r) for r in runs["replicate"]]).all()
    # each draw has one parameter value, the same in every strategy, and it is what the runs recorded
    per_draw = runs.groupby("draw")[WIDE].nunique()
    assert (per_draw == 1).all()
    drawn = {d["draw"]: d["values"][WIDE] for d in res.manifest["posterior"]["draws"]}
    s = res.summaries
    assert np.allclose(s[WIDE], s["draw"].map(drawn))
    # the values come from the last generation's particles
    post = pd.read_parquet(spec.parent / "posterior.parquet")
    last = post[post.generation == 1]
    assert set(np.round(list(drawn.values()), 12)) <= set(np.round(last[WIDE], 12))
    # ... and differ between draws (a wide posterior)
    assert len(set(drawn.values())) == DRAWS


def test_paired_difference_is_taken_within_draw_and_seed(wide):
    _, res = wide
    s = res.summaries
    key = "late_payment_rate"
    b = s[s.scenario == "baseline"].set_index(["draw", "replicate"])[key]
    n = s[s.scenario == "no_collection"].set_index(["draw", "replicate"])[key]
    by_hand = float((n - b).mean())
    row = analysis.compare(res, outcomes=[key]).set_index("scenario").loc["no_collection"]
    assert row["diff"] == pytest.approx(by_hand, rel=1e-12)
    assert row["n_pairs"] == DRAWS * REPLICATES
    # the seed-only interval of a mean is the t interval over seeds of the means over draws
    seeds = s[s.scenario == "baseline"].groupby("replicate")[key].mean()
    from scipy import stats
    half = stats.t.ppf(0.975, REPLICATES - 1) * seeds.std(ddof=1) / np.sqrt(REPLICATES)
    base = analysis.compare(res, outcomes=[key]).set_index("scenario").loc["baseline"]
    # a rate: the interval is on the logit scale, with the same half-width at the mean (delta method)
    m = seeds.mean()
    expect_hi = 1 / (1 + np.exp(-(np.log(m / (1 - m)) + half / (m * (1 - m)))))
    assert base["ci_high"] == pytest.approx(expect_hi, rel=1e-9)


def test_an_inert_parameter_gives_total_equal_to_seed_only(inert):
    _, res = inert
    t = analysis.compare(res, outcomes=["late_payment_rate", "mean_stress", "brand_trust", "profit"])
    assert (t["sd_param"] == 0).all()
    assert np.allclose(t["total_low"], t["ci_low"]) and np.allclose(t["total_high"], t["ci_high"])
    assert np.allclose(t["diff_total_low"], t["diff_low"]) and np.allclose(t["diff_total_high"], t["diff_high"])
    assert (t["ci_high"] > t["ci_low"]).any()  # seed noise is there


def test_a_wide_influential_posterior_widens_the_total_interval(wide):
    _, res = wide
    t = analysis.compare(res, outcomes=["late_payment_rate", "default_rate"]).set_index(["scenario", "outcome"])
    for scenario in ("baseline", "no_collection"):
        r = t.loc[(scenario, "late_payment_rate")]
        assert r["total_low"] < r["ci_low"] and r["total_high"] > r["ci_high"]
        assert r["sd_param"] > 0
        assert (r["total_high"] - r["total_low"]) > 1.25 * (r["ci_high"] - r["ci_low"]), r
    # total intervals contain the seed-only ones, for differences too
    d = t.loc[("no_collection", "late_payment_rate")]
    assert d["diff_total_low"] <= d["diff_low"] and d["diff_total_high"] >= d["diff_high"]


def test_compare_shows_both_intervals_in_every_format(wide):
    spec, res = wide
    out = str(res.root)
    table = runner.invoke(app, ["compare", out, "--outcomes", "late_payment_rate"])
    assert table.exit_code == 0, table.output
    assert "[seed 95%]" in table.stdout and "[total 95%]" in table.stdout and "posterior draw(s)" in table.stdout
    doc = json.loads(runner.invoke(app, ["compare", out, "--json"]).stdout)
    o = doc["results"][0]["outcomes"]["late_payment_rate"]
    assert {"ci_low", "ci_high", "total_low", "total_high", "diff_total_low", "diff_total_high", "draws"} <= set(o)
    assert doc["posterior"]["parameters"] == [WIDE] and len(doc["posterior"]["draws"]) == DRAWS
    for fmt in ("csv", "markdown", "latex"):
        text = runner.invoke(app, ["compare", out, "--format", fmt, "--outcomes", "late_payment_rate"]).stdout
        assert "total" in text and "ci" in text, fmt
    csv = runner.invoke(app, ["compare", out, "--format", "csv", "--outcomes", "late_payment_rate"]).stdout
    from io import StringIO
    df = pd.read_csv(StringIO(csv))
    assert (df["total_high"] >= df["ci_high"]).all()


def test_without_a_posterior_compare_is_unchanged(tmp_path):
    spec = write_spec(tmp_path, posterior=None, scenarios='[{file = "baseline"}]', replicates=2)
    res = sweep(spec, tmp_path / "out", "--serial")
    assert not res.has_posterior and "draw" not in res.summaries.columns
    assert "__d" not in res.summaries["run_id"].iloc[0]
    t = analysis.compare(res, outcomes=["mean_stress"])
    assert "total_low" not in t.columns
    doc = json.loads(runner.invoke(app, ["compare", str(res.root), "--json"]).stdout)
    assert "total_low" not in doc["results"][0]["outcomes"]["mean_stress"] and "posterior" not in doc
    csv = runner.invoke(app, ["compare", str(res.root), "--format", "csv"]).stdout
    assert csv.splitlines()[0] == "scenario,outcome,n,mean,ci_low,ci_high,n_pairs,diff,diff_low,diff_high"


def test_two_workers_give_the_serial_results(wide, tmp_path):
    spec, res = wide
    other = sweep(spec, tmp_path / "out2", "--workers", "2")
    a, b = summaries(res.root), summaries(other.root)
    pd.testing.assert_frame_equal(a, b)
    assert other.manifest["spec_hash"] == res.manifest["spec_hash"]


def test_resume_redoes_only_unfinished_runs_and_gives_the_same_results(wide, tmp_path):
    spec, res = wide
    copy = tmp_path / "resume"
    shutil.copytree(res.root, copy)
    store = ResultStore(copy)
    gone = sorted(store.finished())[::4]
    store.unfinish(gone)
    outcome = run_sweep(make_plan(spec), store, executor="serial")
    assert outcome.done == len(gone) and outcome.skipped == 2 * DRAWS * REPLICATES - len(gone)
    pd.testing.assert_frame_equal(summaries(copy), summaries(res.root))


def test_extend_adds_replicates_under_the_same_draws(wide, tmp_path):
    spec, res = wide
    copy = tmp_path / "extend"
    shutil.copytree(res.root, copy)
    bigger = write_spec(tmp_path, replicates=REPLICATES + 1)
    shutil.copy(spec.parent / "posterior.parquet", tmp_path / "posterior.parquet")
    ext = sweep(bigger, copy, "--serial", "--extend")
    assert ext.finished == 2 * DRAWS * (REPLICATES + 1)
    old = summaries(res.root).set_index("run_id")
    new = summaries(copy).set_index("run_id").loc[old.index]
    pd.testing.assert_frame_equal(new, old)


def test_cli_posterior_and_draws_override_the_spec(tmp_path):
    """--posterior FILE --draws N on a spec without [posterior]: the plan runs N draws from FILE."""
    write_posterior(tmp_path / "elsewhere" / "p.parquet", WIDE, 3.0, 6.0)
    spec = write_spec(tmp_path, posterior=None)
    from sim.sweep import posterior_changes
    p = make_plan(spec, changes=posterior_changes(spec, tmp_path / "elsewhere" / "p.parquet", 2))
    assert p.spec.posterior.draws == 2 and len(p.jobs) == 2 * 2 * REPLICATES
    assert {j.run_id.split("__")[2] for j in p.jobs} == {"d000", "d001"}


def test_systematic_resampling_follows_the_weights():
    w = np.array([0.5, 0.25, 0.125, 0.125])
    idx = systematic_draws(w, 8, seed=3)
    assert np.bincount(idx, minlength=4).tolist() == [4, 2, 1, 1]
    assert (systematic_draws(w, 8, seed=3) == idx).all()
    # uneven: every particle drawn floor or ceil of n * w times
    w = np.random.default_rng(0).dirichlet(np.ones(20))
    counts = np.bincount(systematic_draws(w, 7, seed=1), minlength=20)
    assert counts.sum() == 7 and (np.abs(counts - 7 * w) < 1).all()


BAD = [
    ("missing-file", 'file = "nowhere.parquet"\ndraws = 3', None, [], "posterior.file", "not found"),
    ("draws-below-1", 'file = "posterior.parquet"\ndraws = 0', None, [], "posterior.draws", "greater than or equal to 1"),
    ("scenario-sets-it", 'file = "posterior.parquet"\ndraws = 2',
     f'[{{file = "baseline", overrides = {{"{WIDE}" = 4.0}}}}]', [], "posterior", "override_scenarios = true"),
    ("unknown-key", 'file = "posterior.parquet"\ndrawz = 2', None, [], "posterior.drawz", "unknown key"),
]


@pytest.mark.parametrize("table,scenarios,args,key,says", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_posterior_spec_is_one_line_exit_2_nothing_written(tmp_path, table, scenarios, args, key, says):
    write_posterior(tmp_path / "posterior.parquet", WIDE, 3.0, 6.0)
    spec = write_spec(tmp_path, posterior=table, scenarios=scenarios)
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"{spec}: {key}: ") and says in lines[0], lines[0]
    assert not out.exists()


@pytest.mark.parametrize("args,key,says", [
    (["--draws", "3"], "--draws: 3", "--posterior FILE, or a [posterior] table"),
    (["--posterior", "missing.parquet"], "--posterior: missing.parquet", "an existing posterior.parquet"),
    (["--posterior", "posterior.parquet", "--draws", "0"], "--draws: 0", "at least 1"),
    (["--posterior", "not_parquet.toml"], "not_parquet.toml: file", "a Parquet file"),
])
def test_bad_posterior_flags_are_one_line_exit_2_nothing_written(tmp_path, monkeypatch, args, key, says):
    monkeypatch.chdir(tmp_path)
    write_posterior(tmp_path / "posterior.parquet", WIDE, 3.0, 6.0)
    (tmp_path / "not_parquet.toml").write_text("x = 1\n")
    spec = write_spec(tmp_path, posterior=None)
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert key in lines[0] and says in lines[0], lines[0]
    assert not out.exists()


def test_a_draw_replaces_the_installed_estimate_but_not_a_value_a_strategy_file_sets(tmp_path):
    """The baseline carries the calibrated estimate of the posterior's parameters (its generated
    'calibrated' region); a draw is meant to replace that estimate. A strategy file that sets one of them
    itself is still refused, naming the file."""
    from sim.scenario import SCENARIO_DIR, calibrated_keys

    write_posterior(tmp_path / "posterior.parquet", WIDE, 3.0, 6.0)
    own = tmp_path / "own.toml"
    own.write_text(f'extends = "{SCENARIO_DIR / "baseline.toml"}"\nname = "own"\n[repayment]\nintercept = 4.5\n',
                   encoding="utf-8")
    ok = write_spec(tmp_path, scenarios='[{file = "baseline"}]')
    if WIDE in calibrated_keys():
        assert make_plan(ok).posterior_keys == [WIDE]  # set in baseline.toml, by the installed fit: accepted
    bad = write_spec(tmp_path, scenarios=f'[{{file = "{own}"}}]')
    res = runner.invoke(app, ["sweep", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "own.toml" in res.stderr and "override_scenarios = true" in res.stderr, res.output
    assert not (tmp_path / "out").exists()
