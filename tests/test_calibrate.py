"""`credsim calibrate` (sim.calibrate): the method of simulated moments recovers parameter values from
figures the model itself produced; the calibrated scenario it writes loads and holds the fit; bad
targets files are one line, exit 2, nothing written.

One small calibration (2,000 people x 240 days after a 60-day burn-in, 2 replicates, at most 20
evaluations on 2 workers) is run once per module, through the command line, and shared by the tests that
look at its output. Recovering known values needs no warmed-up book (the "published figures" come from the
same base), so its base scenario is the baseline with a short burn-in: that makes every run 300 days
instead of 605.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

import sim
from sim import calibrate as cal
from sim.analysis import SingleReplicateWarning
from sim.cli import app
from sim.rng import replicate_seed
from sim.regions import toml_region_re
from sim.state import CAUSES

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

# Known values, and how close the fit must come back to them. The moments that identify them:
# the willingness intercept sets the late-payment rate (thousands of instalments, smooth under
# common random numbers); word of mouth sets brand trust (everyone in the market).
TRUTH = {"repayment.intercept": 2.2, "trust.word_of_mouth": 0.35}
TOLERANCE = {"repayment.intercept": 0.1, "trust.word_of_mouth": 0.06}
START = {"repayment.intercept": 1.5, "trust.word_of_mouth": 0.1}
BOUNDS = {"repayment.intercept": (0.5, 3.5), "trust.word_of_mouth": (0.0, 0.6)}
SD = {"late_payment_rate": 0.005, "brand_trust": 0.003}
# Nelder-Mead from START is deterministic here (common random numbers): its best objective falls from 158
# to 1.6 by evaluation 12, 0.41 by 16 and 0.02 by 20 (2.210 and 0.352), each within TOLERANCE of TRUTH
BORROWERS, DAYS, REPLICATES, SEED, BUDGET = 2000, 240, 2, 0, 20
BURN_IN = 60
BASE_TEXT = f"""extends = "baseline.toml"
name = "quick_baseline"
description = "The baseline with a short burn-in, for a quick calibration"

[simulation]
burn_in = {BURN_IN}
"""

ODD_STUB = """# ODD

## Calibration

<!-- BEGIN GENERATED: validation -->
old
<!-- END GENERATED: validation -->
"""


def targets_text(values: dict[str, float]) -> str:
    lines = [
        'scenario = "base.toml"',
        f"borrowers = {BORROWERS}",
        f"days = {DAYS}",
        f"replicates = {REPLICATES}",
        f"seed = {SEED}",
        "validation_replicates = 2",
        "",
    ]
    for name, sd in SD.items():
        lines += ["[[targets]]", f'name = "{name}"', f"value = {values[name]!r}", f"sd = {sd}",
                  'source = "the model itself at known parameter values"', ""]
    lines.append("[parameters]")
    for k, (lo, hi) in BOUNDS.items():
        lines.append(f'"{k}" = {{ min = {lo}, max = {hi}, start = {START[k]} }}')
    lines += ["", "[optimizer]", 'method = "nelder-mead"', f"max_evaluations = {BUDGET}", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("calibrate")
    base = root / "base.toml"
    base.write_text(BASE_TEXT, encoding="utf-8")
    # the "published figures": the model's own moments at TRUTH, with the seeds the calibration uses
    summaries = [
        sim.run(base, borrowers=BORROWERS, days=DAYS, seed=replicate_seed(SEED, r), overrides=TRUTH).summary
        for r in range(REPLICATES)
    ]
    values = {name: float(np.mean([cal.moment(name, s) for s in summaries])) for name in SD}
    targets = root / "targets.toml"
    targets.write_text(targets_text(values), encoding="utf-8")
    odd = root / "ODD.md"
    odd.write_text(ODD_STUB, encoding="utf-8")
    out = root / "out"
    res = runner.invoke(app, ["calibrate", str(targets), "--out", str(out), "--workers", "2", "--docs", "--odd", str(odd)])
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    fit = json.loads((out / "fit.json").read_text())
    return SimpleNamespace(res=res, out=out, fit=fit, odd=odd, targets=targets, values=values, base=base)


# --------------------------------------------------------------------------- parameter recovery


def test_recovers_known_parameter_values(recovery):
    fitted = {k: v["fitted"] for k, v in recovery.fit["parameters"].items()}
    for k, truth in TRUTH.items():
        assert abs(fitted[k] - truth) <= TOLERANCE[k], (k, fitted[k], truth)
        assert abs(START[k] - truth) > 3 * TOLERANCE[k]  # it started well away from the truth
    history = recovery.fit["history"]
    assert 1 < len(history) <= BUDGET
    assert history[0]["parameters"] == START
    # from far off to a fit the targets' sds cannot tell from the truth
    assert history[0]["objective"] > 100
    assert recovery.fit["objective"] < 2.0
    assert recovery.fit["objective"] == min(h["objective"] for h in history)


def test_every_evaluation_runs_the_same_seeds(recovery):
    """Common random numbers: each evaluation has one moment per fit seed, and the seeds are the file's."""
    assert recovery.fit["seeds"] == [replicate_seed(SEED, r) for r in range(REPLICATES)]
    for h in recovery.fit["history"]:
        assert all(len(v) == REPLICATES for v in h["replicate_moments"].values())
    val = recovery.fit["validation"]
    assert val["seeds"] == [replicate_seed(SEED, REPLICATES + r) for r in range(2)]
    assert not set(val["seeds"]) & set(recovery.fit["seeds"])


def test_progress_is_printed_per_evaluation(recovery):
    lines = [ln for ln in recovery.res.stderr.splitlines() if re.match(r"evaluation +\d+/\d+: ", ln)]
    assert len(lines) == len(recovery.fit["history"])
    assert "objective" in lines[0] and "repayment.intercept=1.5" in lines[0]


# --------------------------------------------------------------------------- outputs


def test_calibrated_scenario_loads_and_holds_the_fit(recovery):
    path = recovery.out / "calibrated.toml"
    sc = sim.load_scenario(path)
    base = sim.load_scenario(recovery.base)
    assert base.simulation.burn_in == BURN_IN
    fitted = {k: v["fitted"] for k, v in recovery.fit["parameters"].items()}
    assert sc.repayment.intercept == fitted["repayment.intercept"]
    assert sc.trust.word_of_mouth == fitted["trust.word_of_mouth"]
    assert sc.name == "quick_baseline_calibrated"
    # everything else is the base scenario's (the calibration size is not a parameter of the fit)
    rest = sim.load_scenario(path, overrides={"repayment.intercept": base.repayment.intercept,
                                              "trust.word_of_mouth": base.trust.word_of_mouth})
    assert rest.model_dump(exclude={"name", "description"}) == base.model_dump(exclude={"name", "description"})
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 0 and res.stdout.strip() == f"{path}: ok"


def test_validation_table_is_written_and_put_in_the_docs(recovery):
    table = (recovery.out / "validation.md").read_text()
    assert "| Target | Role | Target value | Source | Base scenario | Calibrated | Model quantity |" in table
    assert all("| fitted |" in line for line in table.splitlines() if line.startswith("| ") and "`" in line
               and any(f"`{n}`" in line for n in SD))
    for name in SD:
        assert f"`{name}`" in table
    assert "the model itself at known parameter values" in table
    odd = recovery.odd.read_text()
    assert table.strip() in odd and "\nold\n" not in odd
    assert odd.startswith("# ODD\n\n## Calibration\n\n<!-- BEGIN GENERATED: validation -->\n")
    val = recovery.fit["validation"]["fitted"]
    for name in SD:
        lo, hi = val[name]["ci95"]
        assert lo <= val[name]["mean"] <= hi


# --------------------------------------------------------------------------- the objective, moments, the file


def test_docs_read_the_fit_from_its_saved_output(recovery, tmp_path):
    """The validation table is rebuilt from fit.json exactly as credsim calibrate wrote it, and only
    while the targets file is the one fitted: a changed targets file is refused."""
    from sim import docs
    from sim.scenario import ScenarioError

    written = (recovery.out / "validation.md").read_text(encoding="utf-8").rstrip("\n")
    assert docs.validation_from_fit(recovery.out / "fit.json") == written
    assert "| `repayment.intercept` |" in written
    changed = tmp_path / "targets.toml"
    changed.write_text(recovery.targets.read_text(encoding="utf-8").replace("sd = 0.005", "sd = 0.006"), encoding="utf-8")
    doc = json.loads((recovery.out / "fit.json").read_text())
    doc["targets_file"] = str(changed)
    (tmp_path / "fit.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ScenarioError, match="targets_sha256"):
        docs.validation_from_fit(tmp_path / "fit.json")


def test_one_replicate_gives_no_interval_and_says_so():
    """One behaviour everywhere: an interval from one replicate is NaN with a warning, never zero width
    (calibration, docs and sweeps share sim.analysis.mean_ci)."""
    from sim import analysis, docs

    assert cal.mean_ci is analysis.mean_ci and not hasattr(docs, "mean_ci")
    with pytest.warns(analysis.SingleReplicateWarning):
        n, m, lo, hi = cal.mean_ci([0.2], rate=True)
    assert n == 1 and m == 0.2 and math.isnan(lo) and math.isnan(hi)
    with pytest.warns(analysis.SingleReplicateWarning):
        assert cal._ci_text([0.2], True) == "20.00%"  # the mean alone: no interval
    lo2 = cal.mean_ci([0.2, 0.2], rate=True)[2]
    assert lo2 == 0.2  # identical values: a zero-width interval, from two replicates


def test_objective_weights_and_one_sided_targets():
    t = [cal.TargetSpec(name="ever_30dpd_rate", value=0.08, sd=0.01),
         cal.TargetSpec(name="roll_30_60", value=0.5, weight=4.0),
         cal.TargetSpec(name="default_to_ever30", value=1.0, sd=0.1, relation="<=")]
    f = cal.objective(t, {"ever_30dpd_rate": 0.1, "roll_30_60": 0.4, "default_to_ever30": 0.3})
    assert f == pytest.approx(4.0 + 4.0 * 0.01 + 0.0)
    f = cal.objective(t, {"ever_30dpd_rate": 0.08, "roll_30_60": 0.5, "default_to_ever30": 1.2})
    assert f == pytest.approx(4.0)
    assert cal.objective(t, {"ever_30dpd_rate": math.nan, "roll_30_60": 0.5, "default_to_ever30": 1}) == math.inf


def test_derived_moments():
    s = {"recoveries": 30.0, "credit_loss": 120.0, "late_payment_rate": 0.2, "default_rate": 0.01,
         "ever_30dpd_rate": 0.08}
    assert cal.moment("recovery_share", s) == pytest.approx(0.25)
    assert cal.moment("on_time_rate", s) == pytest.approx(0.8)
    assert cal.moment("default_to_ever30", s) == pytest.approx(0.125)
    assert cal.moment("recovery_share", {**s, "credit_loss": 0.0}) == 0.0


def test_shape_moments_are_ratios_of_neighbouring_buckets():
    s = {"roll_30_60": 0.4, "roll_60_90": 0.5, "roll_90_120": 0.6, "cure_1_29": 0.6, "cure_30_59": 0.3,
         "cure_60_89": 0.15, **{f"cause_{c}": 0.0 for c in CAUSES}}
    s.update(cause_job_loss=0.45, cause_spending=0.3, cause_emergency=0.25)
    assert cal.moment("roll_60_90_to_30_60", s) == pytest.approx(1.25)
    assert cal.moment("roll_90_120_to_60_90", s) == pytest.approx(1.2)
    assert cal.moment("cure_30_59_to_1_29", s) == pytest.approx(0.5)
    assert cal.moment("cure_60_89_to_30_59", s) == pytest.approx(0.5)
    assert cal.moment("largest_cause_share", s) == pytest.approx(0.45)
    # an empty lower bucket, or no loan reaching 30+ DPD, shows no shape: undefined, never 0
    assert math.isnan(cal.moment("roll_60_90_to_30_60", {**s, "roll_30_60": 0.0}))
    assert math.isnan(cal.moment("cure_30_59_to_1_29", {**s, "cure_1_29": math.nan}))
    assert math.isnan(cal.moment("largest_cause_share", {**s, "cause_strategic": math.nan}))
    # ratios of rates are not percentages; the largest share is one
    assert not cal.is_percent("roll_60_90_to_30_60") and cal.is_percent("largest_cause_share")
    # an undefined moment makes the objective infinite (the particle or evaluation is rejected)
    t = [cal.TargetSpec(name="roll_60_90_to_30_60", value=1.0, sd=0.1, relation=">=")]
    assert cal.objective(t, {"roll_60_90_to_30_60": math.nan}) == math.inf
    assert cal.objective(t, {"roll_60_90_to_30_60": 0.8}) == pytest.approx(4.0)
    assert cal.objective(t, {"roll_60_90_to_30_60": 1.3}) == 0.0


def test_shape_moments_of_a_real_run_match_its_summary():
    s = sim.run("baseline", borrowers=1500, days=240, seed=3).summary
    assert cal.moment("roll_60_90_to_30_60", s) == pytest.approx(s["roll_60_90"] / s["roll_30_60"])
    shares = [s[k] for k in s if k.startswith("cause_")]
    assert cal.moment("largest_cause_share", s) == max(shares)
    assert sum(shares) == pytest.approx(1.0)  # every loan reaching 30+ DPD has one cause


def test_shipped_targets_hold_some_back_and_cite_every_source():
    p = cal.load_targets(ROOT / "experiments" / "calibration" / "targets.toml")
    held = [t for t in p.targets if t.holdout]
    fitted = [t for t in p.targets if not t.holdout]
    assert held and len(fitted) >= len(p.keys)
    assert "high_stress_odds_ratio" in {t.name for t in held}  # a published figure no fitted parameter drives
    assert all(t.source for t in p.targets)
    # a shape without a published figure is one-sided and says so
    for t in p.targets:
        if t.source.startswith("No published figure"):
            assert t.relation in ("<=", ">="), t.name


def test_shipped_targets_file_is_valid():
    p = cal.load_targets(ROOT / "experiments" / "calibration" / "targets.toml")
    assert p.name == "baseline" and p.base.name == "baseline"
    assert {t.name for t in p.targets} >= {"ever_30dpd_rate", "roll_30_60", "recovery_share"}
    assert np.all((p.lo <= p.start) & (p.start <= p.hi))
    assert len(p.validation_seeds) > 0


def test_parameters_may_be_nested_tables(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('[[targets]]\nname = "ever_30dpd_rate"\nvalue = 0.08\nsd = 0.01\n'
                 "[parameters.shocks.job_loss_rate]\nmin = 0.05\nmax = 0.4\n"
                 '[parameters]\n"collection.recovery.pay_prob" = { min = 0.01, max = 0.2, start = 0.1 }\n')
    p = cal.load_targets(f)
    assert p.keys == ["shocks.job_loss_rate", "collection.recovery.pay_prob"]
    base = sim.load_scenario("baseline").shocks.job_loss_rate
    assert list(p.start) == [base, 0.1]  # no start: the base scenario's value


def test_runner_runs_through_the_sweep_executor_whatever_the_workers(tmp_path, monkeypatch):
    """calibrate.Runner hands its runs to sim.execute (serial with one worker, local worker processes
    with two); the objective and every replicate's moment are the same either way, and equal to sim.run's."""
    import sim.execute

    f = tmp_path / "t.toml"
    f.write_text('scenario = "baseline"\nborrowers = 300\ndays = 60\nreplicates = 2\n'
                 '[[targets]]\nname = "late_payment_rate"\nvalue = 0.1\nsd = 0.01\n'
                 '[[targets]]\nname = "brand_trust"\nvalue = 0.5\nsd = 0.01\n'
                 '[parameters]\n"repayment.intercept" = { min = 0.5, max = 3.5, start = 1.5 }\n', encoding="utf-8")
    problem = cal.load_targets(f)
    opened = []
    real = sim.execute.open_executor

    def spy(executor="local", workers=None, scheduler=None, fn=sim.execute.execute_run):
        opened.append((executor, workers, fn.__name__))
        return real(executor, workers, scheduler, fn)

    monkeypatch.setattr(sim.execute, "open_executor", spy)
    u = problem.to_unit(np.array([2.0]))
    fits = []
    for workers in (1, 2):
        with cal.Runner(workers) as r:
            f_ = cal.Objective(problem, r)
            fits.append((f_(u), f_.history[0].replicates))
    assert opened == [("serial", 1, "execute_summary"), ("local", 2, "execute_summary")]
    assert fits[0] == fits[1] and math.isfinite(fits[0][0])
    direct = [sim.run("baseline", borrowers=300, days=60, seed=s, overrides={"repayment.intercept": 2.0}).summary
              for s in problem.seeds]
    assert fits[0][1]["late_payment_rate"] == [d["late_payment_rate"] for d in direct]


# --------------------------------------------------------------------------- bad targets files

GOOD = """scenario = "baseline"
[[targets]]
name = "ever_30dpd_rate"
value = 0.08
sd = 0.01
[parameters]
"shocks.job_loss_rate" = { min = 0.05, max = 0.4 }
"""

BAD = [
    ("unknown-key", "foo = 1\n" + GOOD, "foo", "unknown key"),
    ("unknown-parameter", GOOD.replace("job_loss_rate", "job_loss_ratex"), "parameters.shocks.job_loss_ratex",
     "parameter name"),
    ("section-not-parameter", GOOD.replace('"shocks.job_loss_rate"', '"shocks"'), "parameters.shocks", "parameter name"),
    ("min-equals-max", GOOD.replace("max = 0.4", "max = 0.05"), "parameters.shocks.job_loss_rate", "min < max"),
    ("min-above-max", GOOD.replace("max = 0.4", "max = 0.01"), "parameters.shocks.job_loss_rate", "min < max"),
    ("start-outside", GOOD.replace("max = 0.4", "max = 0.4, start = 0.5"), "parameters.shocks.job_loss_rate",
     "start"),
    ("bound-outside-valid-range", GOOD.replace('"shocks.job_loss_rate" = { min = 0.05, max = 0.4 }',
                                               '"collection.recovery.pay_prob" = { min = 0.0, max = 1.5 }'),
     "parameters.collection.recovery.pay_prob.max", "1.5"),
    ("integer-parameter", GOOD.replace('"shocks.job_loss_rate" = { min = 0.05, max = 0.4 }',
                                       '"collection.visits.start_dpd" = { min = 10.0, max = 60.0 }'),
     "parameters.collection.visits.start_dpd", "real-valued"),
    ("unknown-target", GOOD.replace("ever_30dpd_rate", "ever_30_rate"), "targets.0.name", "summary key"),
    ("no-weighting", GOOD.replace("sd = 0.01\n", ""), "targets.0", "sd or weight"),
    ("value-not-a-number", GOOD.replace("value = 0.08", 'value = "8%"'), "targets.0.value", "number"),
    ("value-nan", GOOD.replace("value = 0.08", "value = nan"), "targets.0.value", "finite"),
    ("bad-relation", GOOD.replace("sd = 0.01", 'sd = 0.01\nrelation = "<"'), "targets.0.relation", "'<='"),
    ("no-targets", GOOD.split("[[targets]]")[0] + "targets = []\n" + GOOD.split("sd = 0.01\n")[1],
     "targets", "at least 1"),
    ("unknown-method", GOOD + '[optimizer]\nmethod = "bfgs"\n', "optimizer.method", "nelder-mead"),
    ("unknown-scenario", GOOD.replace('"baseline"', '"nosuch"'), "scenario", "not found"),
    ("tiny-population", "borrowers = 5\n" + GOOD, "borrowers", "10"),
    ("invalid-toml", GOOD.replace("[parameters]", "[parameters"), "toml", "valid TOML"),
    ("nested-3000-deep", GOOD + "x = " + "[" * 3000 + "]" * 3000 + "\n", "toml", "at most 32 levels"),
    ("no-parameters-table", GOOD.split("[parameters]")[0], "parameters", "a [parameters] table"),
    ("rate-target-above-1", GOOD.replace("value = 0.08", "value = 5.0"), "targets.0.value", "between 0 and 1"),
    ("rate-target-negative", GOOD.replace("value = 0.08", "value = -0.1"), "targets.0.value", "between 0 and 1"),
    ("share-target-above-1", GOOD.replace('"ever_30dpd_rate"', '"largest_cause_share"').replace("value = 0.08", "value = 5.0"),
     "targets.0.value", "between 0 and 1"),
    ("ratio-target-negative", GOOD.replace('"ever_30dpd_rate"', '"roll_60_90_to_30_60"').replace("value = 0.08", "value = -1.0"),
     "targets.0.value", "what roll_60_90_to_30_60 can take"),
    ("empty-parameters", GOOD.split("[parameters]")[0] + "[parameters]\n", "parameters", "at least 1"),
    # the [abc] table is checked whichever method runs (the default is msm), as `credsim validate` does
    ("abc-table-wrong-under-msm", GOOD + "[abc]\npopulation = 0\n", "abc.population", "greater than or equal to 2"),
    ("prior-below-range", GOOD.replace('"shocks.job_loss_rate" = { min = 0.05, max = 0.4 }',
                                       '"repayment.family_help" = { min = -0.1, max = 0.5 }'),
     "parameters.repayment.family_help.min", "-0.1"),
]


@pytest.mark.parametrize("text, key, says", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_targets_file_is_one_line_exit_2_nothing_written(tmp_path, text, key, says):
    f = tmp_path / "targets.toml"
    f.write_text(text, encoding="utf-8")
    odd = tmp_path / "ODD.md"
    odd.write_text(ODD_STUB, encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["calibrate", str(f), "--out", str(out), "--docs", "--odd", str(odd)])
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    assert isinstance(res.exception, SystemExit)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"{f}: {key}: "), lines[0]
    assert says in lines[0] and "Traceback" not in lines[0]
    assert res.stdout == ""
    assert not out.exists()
    assert odd.read_text(encoding="utf-8") == ODD_STUB


def test_undefined_moments_and_one_replicate_still_write_a_fit_that_loads(tmp_path):
    """A target undefined in every run (no loan reaches 60 DPD in 20 days) and one validation replicate
    (no interval): the fit is written, fit.json holds null for what is undefined (it was a traceback:
    NaN is not JSON), and the single-replicate note is one line, not a Python warning."""
    f = tmp_path / "targets.toml"
    f.write_text(GOOD.replace('"ever_30dpd_rate"', '"late_payment_rate"')  # defined in a 20-day window
                 .replace('scenario = "baseline"', 'scenario = "baseline"\nborrowers = 200\ndays = 20\n'
                              'replicates = 1\nvalidation_replicates = 1')
                 .replace("[parameters]", '[[targets]]\nname = "roll_60_90_to_30_60"\nvalue = 1.0\nsd = 0.1\n'
                          '[parameters]') + '[optimizer]\nmax_evaluations = 2\n', encoding="utf-8")
    res = runner.invoke(app, ["calibrate", str(f), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert res.exit_code == 0, (res.stderr, res.exception)
    assert "Traceback" not in res.stderr and "SingleReplicateWarning" not in res.stderr
    assert "warning: a 95% interval from a single value is undefined" in res.stderr
    doc = json.loads((tmp_path / "out" / "fit.json").read_text(encoding="utf-8"))
    assert doc["validation"]["fitted"]["roll_60_90_to_30_60"]["mean"] is None
    fit, val = cal.load_fit(tmp_path / "out" / "fit.json")
    assert math.isnan(val.fitted["roll_60_90_to_30_60"][0])
    with pytest.warns(SingleReplicateWarning):  # the library says it as a warning; the command as one line
        table = cal.validation_table(fit, val)
    assert table + "\n" == (tmp_path / "out" / "validation.md").read_text(encoding="utf-8")


def test_missing_targets_file_and_bad_out(tmp_path):
    res = runner.invoke(app, ["calibrate", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and res.stderr.startswith(f"{tmp_path / 'nope.toml'}: file: ")
    f = tmp_path / "t.toml"
    f.write_text(GOOD)
    res = runner.invoke(app, ["calibrate", str(f), "--out", str(f)])
    assert res.exit_code == 2 and res.stderr.startswith(f"--out: {f}: ") and len(res.stderr.splitlines()) == 1
    res = runner.invoke(app, ["calibrate", str(f), "--out", str(tmp_path / "out"), "--docs", "--odd", str(f)])
    assert res.exit_code == 2 and "validation" in res.stderr and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- installing a fit


def test_install_puts_a_quick_fit_into_the_baseline_and_the_check_sees_edits(recovery, tmp_path):
    """The quick fit above installed into a copy of the baseline: values, provenance, record, and the check."""
    base = tmp_path / "scenarios" / "baseline.toml"
    base.parent.mkdir()
    original = (ROOT / "scenarios" / "baseline.toml").read_text(encoding="utf-8")
    base.write_text(toml_region_re().sub("", original), encoding="utf-8")  # as if never installed
    record = tmp_path / "record"
    assert cal.installed_mismatch(base, record) == []  # no record: nothing to disagree with
    paths = cal.install(recovery.out, base, record)
    assert record / "fit.json" in paths and base in paths
    fitted = recovery.fit["parameters"]
    sc = sim.load_scenario(base)
    assert sc.repayment.intercept == fitted["repayment.intercept"]["fitted"]
    assert sc.trust.word_of_mouth == fitted["trust.word_of_mouth"]["fitted"]
    text = base.read_text(encoding="utf-8")
    assert recovery.fit["targets_sha256"] in text and "never edit by hand" in text
    assert text.count("# BEGIN GENERATED: calibrated") == 1
    assert cal.installed_mismatch(base, record) == []
    # installing again replaces the region, it does not add a second one
    cal.install(recovery.out, base, record)
    assert base.read_text(encoding="utf-8") == text
    # a value edited by hand, or a region removed, is caught
    v = fitted["repayment.intercept"]["fitted"]
    base.write_text(text.replace(f"intercept = {v!r}", "intercept = 9.0"), encoding="utf-8")
    assert cal.installed_mismatch(base, record)
    base.write_text(toml_region_re().sub("", text), encoding="utf-8")
    assert "no 'calibrated' region" in cal.installed_mismatch(base, record)[0]


def test_install_refuses_a_section_the_baseline_already_has(recovery, tmp_path):
    base = tmp_path / "baseline.toml"
    base.write_text('name = "baseline"\n[trust]\nword_of_mouth = 0.2\n', encoding="utf-8")
    with pytest.raises(sim.ScenarioError, match="trust"):
        cal.install(recovery.out, base, tmp_path / "record")
    assert base.read_text(encoding="utf-8") == 'name = "baseline"\n[trust]\nword_of_mouth = 0.2\n'


def test_shipped_baseline_carries_the_committed_fit():
    """Every strategy extends scenarios/baseline.toml, which holds the installed fit's values."""
    assert cal.installed_mismatch() == []
    doc = json.loads((cal.FIT_DIR / "fit.json").read_text(encoding="utf-8"))
    sc = sim.load_scenario(ROOT / "scenarios" / "baseline.toml")
    for k, v in cal.fitted_values(doc).items():
        node = sc
        for part in k.split("."):
            node = getattr(node, part)
        assert node == v, k
    for f in (ROOT / "scenarios").glob("*.toml"):
        if f.name != "baseline.toml":
            assert "extends" in f.read_text(encoding="utf-8"), f.name


def test_msm_validation_marks_held_back_targets_and_leaves_them_out_of_the_objective(tmp_path):
    f = tmp_path / "targets.toml"
    held = '[[targets]]\nname = "cure_rate"\nvalue = 0.5\nsd = 0.01\nholdout = true\nsource = "s"\n'
    f.write_text(GOOD.replace("[parameters]", held + "[parameters]"), encoding="utf-8")
    p = cal.load_targets(f)
    assert [t.holdout for t in p.targets] == [False, True]
    moments = {"ever_30dpd_rate": 0.09, "cure_rate": 0.9}
    ev = cal.Evaluation(1, {"shocks.job_loss_rate": 0.1}, moments, {k: [v] for k, v in moments.items()},
                        cal.objective(p.targets, moments), 0.0)
    assert ev.objective == pytest.approx(1.0)  # the held-back cure rate, 40 sd off, does not count
    fit = cal.Fit(p, ev, {"shocks.job_loss_rate": 0.1}, [ev], "nelder-mead", "done", 0.0, "2026-01-01T00:00:00")
    val = cal.Validation([1, 2], {k: [v, v] for k, v in moments.items()}, {k: [v, v] for k, v in moments.items()})
    table = cal.validation_table(fit, val)
    rows = [line for line in table.splitlines() if "`ever_30dpd_rate`" in line or "`cure_rate`" in line]
    assert "| fitted |" in rows[0] and "`ever_30dpd_rate`" in rows[0]
    assert "| held back (not fitted) |" in rows[1] and "`cure_rate`" in rows[1]
