"""Malformed input never gives a traceback: one line ``FILE: key.path: what was expected``, exit 2,
nothing run and nothing written.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()
CREDSIM = Path(sys.executable).with_name("credsim")


@dataclass
class Case:
    id: str
    files: dict[str, str | bytes]  # name -> content; a content of None makes a directory
    key: str  # the key path the error must name
    entry: str = "s.toml"  # the file given on the command line
    source: str | None = None  # the file the error must name, if not the entry
    says: str = ""  # a piece of the explanation
    dirs: list[str] = field(default_factory=list)


CASES = [
    Case("unknown-top-level-key", {"s.toml": "foo = 1\n"}, "foo", says="unknown parameter"),
    Case("unknown-nested-key", {"s.toml": "[collection.visits]\nstart_dpdx = 3\n"}, "collection.visits.start_dpdx",
         says="unknown parameter"),
    Case("section-in-wrong-place", {"s.toml": "[recession]\nenabled = true\n"}, "recession", says="unknown parameter"),
    Case("string-for-int", {"s.toml": '[population]\nborrowers = "many"\n'}, "population.borrowers",
         says="valid integer"),
    Case("numeric-string-for-int", {"s.toml": '[population]\nborrowers = "2000"\n'}, "population.borrowers",
         says="valid integer"),
    Case("float-for-int", {"s.toml": "[collection.visits]\nstart_dpd = 4.5\n"}, "collection.visits.start_dpd",
         says="4.5"),
    Case("string-for-bool", {"s.toml": '[collection.visits]\non_broken_promise = "yes"\n'}, "collection.visits.on_broken_promise",
         says="boolean"),
    Case("int-for-string", {"s.toml": "name = 5\n"}, "name", says="string"),
    Case("negative-days", {"s.toml": "[simulation]\ndays = -5\n"}, "simulation.days", says="-5"),
    Case("probability-above-1", {"s.toml": "[collection.visits]\nverify_prob = 1.5\n"},
         "collection.visits.verify_prob", says="1.5"),
    Case("nan", {"s.toml": "[population]\nincome_median = nan\n"}, "population.income_median", says="finite"),
    Case("infinity-where-unbounded", {"s.toml": "[repayment]\nintercept = inf\n"}, "repayment.intercept",
         says="finite"),
    Case("invalid-toml", {"s.toml": "[population\nborrowers = 3\n"}, "toml", says="valid TOML"),
    Case("duplicate-key", {"s.toml": "[simulation]\ndays = 3\ndays = 4\n"}, "toml", says="valid TOML"),
    Case("unterminated-string", {"s.toml": 'name = "open\n'}, "toml", says="valid TOML"),
    Case("missing-extends-target", {"s.toml": 'extends = "nope.toml"\n'}, "extends", says="nope.toml"),
    Case("cyclic-extends", {"s.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "s.toml"\n'}, "extends",
         says="cycle"),
    Case("self-extends", {"s.toml": 'extends = "s.toml"\n'}, "extends", says="cycle"),
    Case("extends-not-a-string", {"s.toml": "extends = 5\n"}, "extends", says="string"),
    Case("extends-a-directory", {"s.toml": 'extends = "sub"\n'}, "extends", dirs=["sub"]),
    Case("bad-value-in-extended-file", {"s.toml": 'extends = "p.toml"\n[collection.visits]\nstart_dpd = 40\n',
                                        "p.toml": "[simulation]\ndays = 0\n"},
         "simulation.days", source="p.toml"),
    Case("bad-toml-in-extended-file", {"s.toml": 'extends = "p.toml"\n', "p.toml": "x = = 1\n"}, "toml",
         source="p.toml"),
    Case("channel-fax", {"s.toml": '[[collection.reminders.schedule]]\nday = 1\nchannel = "fax"\n'},
         "collection.reminders.schedule.0.channel", says="'fax'"),
    Case("schedule-item-not-a-table", {"s.toml": "[collection.reminders]\nschedule = [1, 2]\n"},
         "collection.reminders.schedule.0", says="table"),
    Case("schedule-not-a-list", {"s.toml": '[collection.reminders]\nschedule = "daily"\n'},
         "collection.reminders.schedule", says="list"),
    Case("schedule-item-unknown-key", {"s.toml": "[[collection.reminders.schedule]]\nday = 1\nwhen = 2\n"},
         "collection.reminders.schedule.0.when", says="unknown parameter"),
    Case("schedule-day-out-of-range", {"s.toml": "[[collection.reminders.schedule]]\nday = -40\n"},
         "collection.reminders.schedule.0.day", says="-40"),
    Case("product-shares-not-1", {"s.toml": "[products.cash]\nshare = 0.7\n"}, "products", says="must equal 1"),
    Case("section-given-as-value", {"s.toml": "population = 5\n"}, "population", says="table"),
    Case("nested-section-given-as-value", {"s.toml": "[collection]\nvisits = true\n"}, "collection.visits",
         says="table"),
    Case("value-given-as-section", {"s.toml": "[simulation.days]\nx = 1\n"}, "simulation.days", says="got a table"),
    Case("non-utf8", {"s.toml": b"[population]\nborrowers = 100\n# \xff\xfe caf\xe9\n"}, "file", says="UTF-8"),
    Case("missing-file", {}, "file", says="not found"),
    # nesting deep enough to crash a recursive parser: refused at a stated limit
    Case("array-nested-3000-deep", {"s.toml": "x = " + "[" * 3000 + "]" * 3000 + "\n"}, "toml",
         says="at most 32 levels"),
    Case("dotted-key-3000-deep", {"s.toml": ".".join(f"k{i}" for i in range(3000)) + " = 1\n"}, "toml",
         says="at most 32 levels"),
    Case("inline-tables-3000-deep", {"s.toml": "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"}, "toml",
         says="at most 32 levels"),
    Case("extends-chain-of-1500-files",
         {"s.toml": 'extends = "e1.toml"\n',
          **{f"e{i}.toml": f'extends = "e{i + 1}.toml"\n' for i in range(1, 1499)}, "e1499.toml": 'name = "end"\n'},
         "extends", source="e31.toml", says="at most 32 files"),
    Case("directory-not-file", {}, "file", dirs=["s.toml"]),
    Case("negative-fee-cap", {"s.toml": "[regulation]\nfee_cap = true\nmax_late_fee_share = -0.01\n"},
         "regulation.max_late_fee_share", says="greater than or equal to 0"),
    Case("rate-cap-above-range", {"s.toml": "[regulation]\nrate_cap = true\nmax_annual_rate = 5\n"},
         "regulation.max_annual_rate", says="less than or equal to 2"),
    Case("emergency-of-no-days", {"s.toml": "[regulation]\nforbearance = true\nemergency_days = 0\n"},
         "regulation.emergency_days", says="greater than or equal to 1"),
]


def materialize(case: Case, root: Path) -> tuple[Path, Path]:
    """Write a case's files under ``root``; return (entry path, path the error must name)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    for d in case.dirs:
        (root / d).mkdir()
    return root / case.entry, root / (case.source or case.entry)


def assert_one_line(stderr: str, prefix: str, says: str = "") -> str:
    assert stderr.endswith("\n"), repr(stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    assert len(line) > len(prefix), "no explanation after the key"
    assert says in line
    assert "Traceback" not in line and "Error:" not in line
    return line


def assert_clean_exit(res) -> None:
    """Exit 2 by our own hand, not by an escaping exception."""
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr, res.exception)
    assert isinstance(res.exception, SystemExit), repr(res.exception)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_run_rejects_bad_scenario(case: Case, tmp_path: Path):
    entry, source = materialize(case, tmp_path / "in")
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(entry), "--borrowers", "2000", "--days", "60", "--out", str(out)])
    assert_clean_exit(res)
    assert_one_line(res.stderr, f"{source}: {case.key}: ", case.says)
    assert res.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_rejects_bad_scenario(case: Case, tmp_path: Path):
    entry, source = materialize(case, tmp_path)
    res = runner.invoke(app, ["validate", str(entry)])
    assert_clean_exit(res)
    first, *more = res.stderr.splitlines()  # validate lists every problem of the file, the first first
    assert_one_line(first + "\n", f"{source}: {case.key}: ", case.says)
    assert all(line.startswith(f"{source}: ") for line in more), res.stderr
    assert res.stdout == ""


def test_console_script_validate_reports_every_bad_file(tmp_path: Path):
    """Through the installed script: a line per problem of each bad file, no traceback, exit 2."""
    entries, expected = [], []
    for i, case in enumerate(CASES):
        entry, source = materialize(case, tmp_path / f"c{i}")
        entries.append(str(entry))
        expected.append(f"{source}: {case.key}: ")
    res = subprocess.run([str(CREDSIM), "validate", *entries], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) >= len(CASES), res.stderr
    found = iter(lines)  # in the order of the files; each file's first problem is its case's
    for prefix in expected:
        assert any(line.startswith(prefix) for line in found), (prefix, res.stderr)


def test_console_script_run_bad_file_writes_nothing(tmp_path: Path):
    entry, source = materialize(CASES[0], tmp_path / "in")
    out = tmp_path / "out"
    res = subprocess.run([str(CREDSIM), "run", str(entry), "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stdout == ""
    assert_one_line(res.stderr, f"{source}: foo: ", "unknown parameter")
    assert not out.exists()


# --------------------------------------------------------------------------- command-line values

OPTION_CASES = [
    # (id, extra arguments, expected prefix, a piece of the explanation)
    ("set-missing-equals", ["--set", "collection.visits.start_dpd"], "--set: collection.visits.start_dpd: ",
     "KEY=VALUE"),
    ("set-empty-key", ["--set", "=5"], "--set: =5: ", "KEY=VALUE"),
    ("set-empty-part", ["--set", "collection..start_dpd=5"], "--set: collection..start_dpd: ", "dotted"),
    ("set-unknown-top-key", ["--set", "foo=1"], "--set: foo: ", "unknown parameter"),
    ("set-unknown-nested-key", ["--set", "collection.visits.start_dpdx=1"], "--set: collection.visits.start_dpdx: ",
     "unknown parameter"),
    ("set-unknown-section", ["--set", "foo.bar=1"], "--set: foo.bar: ", "'foo' is unknown"),
    ("set-out-of-range", ["--set", "collection.visits.start_dpd=0"], "--set: collection.visits.start_dpd: ",
     "greater than or equal to 1"),
    ("set-probability-above-1", ["--set", "collection.visits.verify_prob=2"], "--set: collection.visits.verify_prob: ",
     "less than or equal to 1"),
    ("set-wrong-type", ["--set", "collection.visits.start_dpd=abc"], "--set: collection.visits.start_dpd: ",
     "valid integer"),
    ("set-string-for-bool", ["--set", "collection.visits.on_broken_promise=yes"], "--set: collection.visits.on_broken_promise: ",
     "boolean"),
    ("set-nan", ["--set", "repayment.intercept=nan"], "--set: repayment.intercept: ", "finite"),
    ("set-below-a-value", ["--set", "simulation.days.x=1"], "--set: simulation.days.x: ", "not a section"),
    ("set-section-to-value", ["--set", "population=5"], "--set: population: ", "table"),
    ("set-bad-channel", ["--set", 'collection.reminders.schedule=[{day=1, channel="fax"}]'],
     "--set: collection.reminders.schedule.0.channel: ", "'fax'"),
    ("set-shares", ["--set", "products.pos.share=0.9"], "--set: products: ", "must equal 1"),
    ("set-array-nested-3000-deep", ["--set", "collection.visits.cost=" + "[" * 3000 + "]" * 3000],
     "--set: collection.visits.cost: ", "at most 32 levels"),
    ("set-dotted-key-3000-deep", ["--set", ".".join(f"k{i}" for i in range(3000)) + "=1"], "--set: k0.k1.",
     "at most 32 parts"),
    ("set-unterminated-string", ["--set", 'name="unterminated'], "--set: name: ", "TOML syntax"),
    ("set-unclosed-list", ["--set", "collection.reminders.schedule=[{day=1}"], "--set: collection.reminders.schedule: ",
     "TOML syntax"),
    # every number has a range in which the run's arithmetic stays finite
    ("set-visit-cost-1e308", ["--set", "collection.visits.cost=1e308"], "--set: collection.visits.cost: ",
     "less than or equal to 1000000"),
    ("set-origination-cost-1e308", ["--set", "lender.origination_cost=1e308"], "--set: lender.origination_cost: ",
     "less than or equal to 1000000"),
    ("set-weight-1e308", ["--set", "repayment.attention_weight=1e308"], "--set: repayment.attention_weight: ",
     "less than or equal to 30"),
    ("set-weight-minus-1e308", ["--set", "repayment.trust_weight=-1e308"], "--set: repayment.trust_weight: ",
     "greater than or equal to -30"),
    ("set-halflife-5e-324", ["--set", "repayment.attention_halflife=5e-324"], "--set: repayment.attention_halflife: ",
     "greater than or equal to 1"),
    ("set-stress-halflife-5e-324", ["--set", "stress.halflife=5e-324"], "--set: stress.halflife: ",
     "greater than or equal to 1"),
    ("set-phone-capacity-1e308", ["--set", "collection.reminders.phone_capacity=1e308"],
     "--set: collection.reminders.phone_capacity: ", "less than or equal to 1000"),
    ("set-visit-capacity-1e308", ["--set", "collection.visits.capacity=1e308"], "--set: collection.visits.capacity: ",
     "less than or equal to 1000"),
    ("set-cooldown-int64-max", ["--set", "acquisition.cooldown_days=9223372036854775807"],
     "--set: acquisition.cooldown_days: ", "less than or equal to 36500"),
    ("set-recession-start-huge", ["--set", "macro.recession.start_day=9223372036854775807"],
     "--set: macro.recession.start_day: ", "less than or equal to 36500"),
    ("set-later-bad-after-good", ["--set", "collection.visits.start_dpd=45", "--set", "nope=1"], "--set: nope: ", ""),
    ("borrowers-not-a-number", ["--borrowers", "lots"], "--borrowers: population.borrowers: ", "whole number"),
    ("borrowers-float", ["--borrowers", "2000.5"], "--borrowers: population.borrowers: ", "whole number"),
    ("borrowers-too-few", ["--borrowers", "5"], "--borrowers: population.borrowers: ", "greater than or equal to 10"),
    ("borrowers-negative", ["--borrowers", "-100"], "--borrowers: population.borrowers: ", "-100"),
    ("days-zero", ["--days", "0"], "--days: simulation.days: ", "greater than or equal to 1"),
    ("days-not-a-number", ["--days", "2y"], "--days: simulation.days: ", "whole number"),
    ("days-too-many", ["--days", "100000"], "--days: simulation.days: ", "less than or equal to"),
    ("seed-negative", ["--seed", "-1"], "--seed: seed: ", ">= 0"),
    ("seed-not-a-number", ["--seed", "abc"], "--seed: seed: ", "whole number"),
]


@pytest.mark.parametrize("args, prefix, says", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_run_rejects_bad_option(args, prefix, says, tmp_path: Path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "baseline", "--borrowers", "2000", "--days", "60", *args, "--out", str(out)])
    assert_clean_exit(res)
    assert_one_line(res.stderr, prefix, says)
    assert res.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("args, prefix", [
    (["run", "baseline", "--meta"], "--meta: --json: "),
    (["sweep", "SPEC", "--serial", "--workers", "2"], "--serial: --workers: "),
    (["sweep", "SPEC", "--serial", "--scheduler", "tcp://127.0.0.1:1"], "--serial: --scheduler: "),
    (["optimize", "SPEC", "--serial", "--workers", "2"], "--serial: --workers: "),
])
def test_options_that_contradict_each_other_are_refused(args, prefix, tmp_path: Path):
    """Two options of which one would be ignored: one line naming both, exit 2, nothing run or written
    (--serial --workers 2 ran serially; --meta without --json was dropped)."""
    out = tmp_path / "out"
    args = [str(tmp_path / "spec.toml") if a == "SPEC" else a for a in args]
    (tmp_path / "spec.toml").write_text('name = "s"\nscenarios = [{file = "baseline"}]\n')
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert_clean_exit(res)
    assert_one_line(res.stderr, prefix, "not both" if "--serial" in args else "with --json")
    assert not out.exists()


def test_out_is_an_existing_file(tmp_path: Path):
    f = tmp_path / "taken"
    f.write_text("x")
    res = runner.invoke(app, ["run", "baseline", "--borrowers", "2000", "--days", "60", "--out", str(f)])
    assert_clean_exit(res)
    assert_one_line(res.stderr, f"--out: {f}: ", "existing file")
    assert f.read_text() == "x"


def test_out_below_a_file(tmp_path: Path):
    f = tmp_path / "taken"
    f.write_text("x")
    res = runner.invoke(app, ["run", "baseline", "--borrowers", "2000", "--days", "60", "--out", str(f / "sub")])
    assert_clean_exit(res)
    assert_one_line(res.stderr, f"--out: {f / 'sub'}: ", "is a file")


def test_bad_file_reported_before_bad_set(tmp_path: Path):
    bad = tmp_path / "s.toml"
    bad.write_text("foo = 1\n")
    res = runner.invoke(app, ["run", str(bad), "--set", "nope", "--out", str(tmp_path / "out")])
    assert_clean_exit(res)
    assert_one_line(res.stderr, f"{bad}: foo: ")


def test_unknown_shipped_name_lists_the_shipped_ones(tmp_path: Path):
    res = runner.invoke(app, ["run", "baselin", "--out", str(tmp_path / "out")])
    assert_clean_exit(res)
    line = assert_one_line(res.stderr, "baselin: file: ", "not found")
    assert "baseline" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args",
    [["run"], ["run", "baseline", "--bogus"], ["validate"], ["bogus"], ["run", "baseline", "--json", "extra"]],
    ids=["run-no-scenario", "unknown-option", "validate-no-file", "unknown-command", "extra-argument"],
)
def test_usage_errors_exit_2(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_every_numeric_parameter_has_a_finite_range():
    """No number is open-ended: each has a lower and an upper bound (documented in docs/ODD.md)."""
    import annotated_types as at
    from pydantic import BaseModel

    from sim.params import Scenario
    from sim.tactics.reminders import ReminderStep

    open_ended = []

    def walk(model, prefix=""):
        for name, f in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                walk(value, f"{prefix}{name}.")
            elif f.annotation in (int, float):
                lo = any(isinstance(c, (at.Ge, at.Gt)) for c in f.metadata)
                hi = any(isinstance(c, (at.Le, at.Lt)) for c in f.metadata)
                if not (lo and hi):
                    open_ended.append(prefix + name)

    walk(Scenario())
    walk(ReminderStep(), "collection.reminders.schedule[].")
    assert open_ended == []


def test_json_never_holds_a_non_finite_number(tmp_path):
    """An infinite summary value is written as null with a warning; the file is strict JSON."""
    import json
    import math

    import sim
    from sim.store import NonFiniteWarning

    res = sim.run("baseline", borrowers=200, days=5, seed=1, overrides={"simulation.burn_in": 0})
    res.summary["profit"] = -math.inf
    with pytest.warns(NonFiniteWarning, match="profit is -inf"):
        res.save(tmp_path / "out")

    def refuse(name):
        raise AssertionError(f"{name} in JSON")

    doc = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=refuse)
    assert doc["summary"]["profit"] is None


def test_a_run_out_of_memory_says_how_much_it_needs(tmp_path):
    """Under a 3 GB address-space limit, 20 million people do not fit: one line, exit 2, nothing written."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "sim", "run", "baseline", "--borrowers", "20000000", "--days", "10",
                          "--burn-in", "0", "--out", str(out)], capture_output=True, text=True, timeout=300,
                         preexec_fn=limit, cwd=Path(__file__).resolve().parent.parent)
    assert res.returncode == 2, res.stderr[-2000:]
    line = assert_one_line(res.stderr, "--borrowers: population.borrowers: ", "ran out of memory")
    assert "20,000,000 people need at least" in line and "GB" in line
    assert res.stdout == ""
    assert not out.exists()
