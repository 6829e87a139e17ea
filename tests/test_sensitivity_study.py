"""The sensitivity study's foundations: which parameters are assumptions (sim/assumptions.py), their
plausible ranges, and a sweep design that says ``include = ["assumptions"]`` (sim/sweep.py).

The notebook itself (experiments/03_sensitivity.py) runs in its quick setting in tests/test_notebooks.py.
"""

from __future__ import annotations

import math
import textwrap

import pytest
from typer.testing import CliRunner

import sim
from sim import assumptions as A
from sim.cli import app
from sim.params import iter_parameters
from sim.scenario import ScenarioError
from sim.sweep import plan

runner = CliRunner()

#: the parameters a model review found to matter most, left out of the earlier ten-parameter study
REVIEW = ("shocks.benefit_share", "repayment.intercept", "repayment.pressure_weight", "repayment.attention_weight",
          "repayment.reconsider_message", "repayment.hope_intercept", "repayment.pressure_priority")
#: levers the lender or the regulator sets: never an assumption
LEVERS = ("collection.tactics", "collection.reminders.schedule", "collection.reminders.phone_capacity",
          "collection.visits.capacity", "collection.visits.start_dpd", "collection.visits.repeat_days",
          "collection.tone.harshness", "collection.tone.skill", "collection.plans.arrears_months",
          "collection.risk_based.dpd_weight", "regulation.call_cap", "regulation.max_annual_rate",
          "loans.late_fee_share", "loans.charge_off_dpd", "products.cash.annual_rate", "acquisition.cutoff",
          "education.enabled", "early_contact.channel")


def baseline_group() -> dict:
    return A.group("assumptions", [sim.load_scenario("baseline")])


def test_every_parameter_is_in_exactly_one_class():
    paths = [p for p, *_ in iter_parameters()]
    cls = A.classification()
    assert list(cls) == paths and len(paths) > 200
    assert set(cls.values()) == set(A.CLASSES)
    with pytest.raises(KeyError):
        A.classify("no.such.parameter")


def test_the_review_parameters_are_assumptions_and_varied_in_the_status_quo():
    g = baseline_group()
    for p in REVIEW:
        assert A.classify(p) == A.ASSUMPTION, p
        assert p in g, p


def test_policy_levers_accounting_and_setup_are_left_out():
    g = baseline_group()
    for p in LEVERS:
        assert A.classify(p) == A.POLICY, p
        assert p not in g
    for p in ("lender.discount_rate", "lender.provisions.lgd", "collection.visits.cost",
              "collection.reminders.sms_cost", "collection.recovery.cost_share"):
        assert A.classify(p) == A.ACCOUNTING, p
    for p in ("population.borrowers", "simulation.burn_in", "population.income_median", "stress.high_threshold",
              "macro.recession.job_loss_multiplier"):
        assert A.classify(p) == A.SETUP, p
    assert not set(g) & {p for p, c in A.classification().items() if c != A.ASSUMPTION}


def test_assumptions_of_mechanisms_a_scenario_does_not_run_are_inactive_there():
    base = sim.load_scenario("baseline")
    plans = sim.load_scenario("flexible_plans")
    for p in ("collection.plans.acceptance", "trust.plan_quality", "stress.plan_relief"):
        assert A.classify(p) == A.ASSUMPTION
        assert not A.is_active(p, base) and A.is_active(p, plans), p
    assert "collection.plans.acceptance" not in baseline_group()
    assert "collection.plans.acceptance" in A.group("assumptions", [base, plans])
    assert not A.is_active("education.literacy_gain", base)
    assert A.is_active("education.literacy_gain", sim.load_scenario("education"))


def test_an_inactive_assumption_really_changes_nothing():
    """The status quo runs no plans: an extreme plan acceptance gives the same run, value for value."""
    kw = dict(borrowers=200, days=40, seed=3, overrides={"simulation.burn_in": 20})
    a = sim.run("baseline", **kw).summary
    b = sim.run("baseline", **{**kw, "overrides": {**kw["overrides"], "collection.plans.acceptance": 1.0}}).summary
    same = lambda x, y: (isinstance(x, float) and math.isnan(x) and math.isnan(y)) or x == y  # noqa: E731
    assert all(same(a[k], b[k]) for k in a)


def test_plausible_range_rule():
    # half to twice the default, by hand
    assert A.plausible_range("repayment.pressure_weight") == pytest.approx((0.6, 2.4))
    assert A.plausible_range("stress.visit") == pytest.approx((0.025, 0.1))
    # clipped to the validity bound (a probability of 0.9 cannot double)
    assert A.plausible_range("collection.visits.attention") == pytest.approx((0.45, 1.0))
    # a negative default: the interval is ordered; a logit intercept: default +- 1
    assert A.plausible_range("repayment.intercept") == pytest.approx((2.7, 4.7))
    assert A.plausible_range("repayment.hope_intercept") == pytest.approx((-3.0, -1.0))
    with pytest.raises(ValueError):
        A.plausible_range("collection.tactics")


def test_every_varied_range_is_valid_and_contains_the_default():
    defaults = {p: v for p, _u, v, _d, _a in iter_parameters()}
    g = baseline_group()
    assert len(g) > 90
    for p, (lo, hi) in g.items():
        vlo, vhi = A.validity_bounds(p)
        assert vlo <= lo < hi <= vhi, p
        assert lo <= defaults[p] <= hi, p
    # the design's extremes are valid scenarios
    extremes = {p: (lo if isinstance(defaults[p], float) else round(lo)) for p, (lo, hi) in g.items()}
    sim.scenario.with_overrides(sim.load_scenario("baseline"), extremes, strict=True)


def spec(tmp_path, body: str):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def test_include_assumptions_expands_the_design(tmp_path):
    g = baseline_group()
    p = plan(spec(tmp_path, """
        borrowers = 200
        days = 10
        [design]
        method = "morris"
        samples = 2
        include = ["assumptions"]
        [design.parameters]
        "repayment.intercept" = { min = 3.0, max = 4.0 }
        """))
    assert p.design_keys == list(g)
    assert len(p.jobs) == 2 * (len(g) + 1)
    assert (p.spec.design.parameters["repayment.intercept"].min, p.spec.design.parameters["repayment.intercept"].max) == (3.0, 4.0)
    assert (p.spec.design.parameters["shocks.benefit_share"].min,
            p.spec.design.parameters["shocks.benefit_share"].max) == pytest.approx(g["shocks.benefit_share"])
    for job in p.jobs[:4]:  # every value inside its range
        for k, v in job.design_values.items():
            b = p.spec.design.parameters[k]
            assert b.min - 1e-9 <= v <= b.max + 1e-9


def test_include_leaves_out_what_a_scenario_sets(tmp_path):
    p = plan(spec(tmp_path, """
        scenarios = [{ file = "baseline", overrides = { "shocks.benefit_share" = 0.4 } }]
        [design]
        method = "lhs"
        samples = 2
        include = ["assumptions"]
        """))
    assert "shocks.benefit_share" not in p.design_keys and "repayment.intercept" in p.design_keys
    assert all(j.params.shocks.benefit_share == 0.4 for j in p.jobs)


@pytest.mark.parametrize("body,key,says", [
    ('[design]\nmethod = "morris"\ninclude = ["assumption"]\n', "design.include.0", "a parameter group (assumptions)"),
    ('[design]\nmethod = "grid"\ninclude = ["assumptions"]\n', "design.include.0", "not for a grid"),
    ('[design]\nmethod = "sobol"\ninclude = "assumptions"\n', "design.include", "list"),
])
def test_bad_include_is_one_line_exit_2_nothing_written(tmp_path, body, key, says):
    path = spec(tmp_path, body)
    with pytest.raises(ScenarioError):
        plan(path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(path), "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"{path}: {key}: ") and says in lines[0], lines[0]
    assert not out.exists()
