"""The ``credsim`` command line: run, validate, scenarios, --version.

Most tests call the Typer app in-process (fast); a few go through the installed console script and
``python -m sim`` in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import cli
from sim.cli import app, format_value
from sim.metrics import SUMMARY_KEYS
from sim.params import Scenario
from sim.scenario import load_scenario, shipped_scenarios

SMALL = ["--borrowers", "2000", "--days", "60", "--burn-in", "30"]
CREDSIM = Path(sys.executable).with_name("credsim")

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def run_json(*args: str) -> dict:
    res = invoke("run", "baseline", *SMALL, "--json", *args)
    assert res.exit_code == 0, res.stderr or res.output
    return json.loads(res.stdout)


# --------------------------------------------------------------------------- run --json


@pytest.fixture(scope="module")
def script_json() -> subprocess.CompletedProcess:
    """One run through the real console script."""
    assert CREDSIM.exists(), f"console script missing: {CREDSIM}"
    return subprocess.run(
        [str(CREDSIM), "run", "baseline", *SMALL, "--seed", "3", "--json"],
        capture_output=True, text=True, timeout=120,
    )


def test_console_script_json_is_one_object_with_every_key(script_json):
    assert script_json.returncode == 0, script_json.stderr
    doc = json.loads(script_json.stdout)  # fails if anything but one JSON value is on stdout
    assert isinstance(doc, dict)
    assert list(doc) == SUMMARY_KEYS
    assert script_json.stdout.count("\n") == 1
    assert "Traceback" not in script_json.stderr


def test_in_process_json_matches_console_script(script_json):
    assert run_json("--seed", "3") == json.loads(script_json.stdout)


def test_json_values_are_numbers_or_null_when_undefined():
    doc = run_json("--seed", "1")
    assert all(v is None or isinstance(v, (int, float)) for v in doc.values())
    assert doc["loans"] >= doc["originations"] > 0
    # 60 days of window: no loan booked in it has been observed 365 days, so the rate is undefined
    assert doc["ever_30dpd_rate"] is None
    assert doc["default_rate"] is not None


def test_same_seed_same_output_different_seed_different():
    a = invoke("run", "baseline", *SMALL, "--seed", "7", "--json")
    b = invoke("run", "baseline", *SMALL, "--seed", "7", "--json")
    c = invoke("run", "baseline", *SMALL, "--seed", "8", "--json")
    assert a.exit_code == b.exit_code == c.exit_code == 0
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_json_with_out_keeps_stdout_pure(tmp_path):
    out = tmp_path / "res"
    res = invoke("run", "baseline", *SMALL, "--json", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    assert list(json.loads(res.stdout)) == SUMMARY_KEYS
    assert (out / "summary.json").exists()
    assert str(out) in res.stderr  # where it wrote goes to stderr, not stdout


# --------------------------------------------------------------------------- --out, --set


def test_out_writes_parquet_and_summary(tmp_path):
    out = tmp_path / "a" / "b"
    res = invoke("run", "baseline", *SMALL, "--seed", "2", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    assert str(out) in res.stdout
    daily = pd.read_parquet(out / "daily.parquet")
    assert len(daily) == 91  # day 0, 30 days of burn-in and 60 of the window
    assert daily["day"].tolist() == list(range(91))
    assert daily["burn_in"].sum() == 30 and not daily["burn_in"].iloc[30:].any()
    loans = pd.read_parquet(out / "loans.parquet")
    assert loans["loan_id"].is_unique and len(loans) >= json.loads((out / "summary.json").read_text())["summary"]["loans"]
    roll = pd.read_parquet(out / "roll.parquet")
    assert list(roll.columns) == ["from", "to", "count", "share"] and len(roll) == 6 * 8  # from 5 DPD buckets and on_plan; to those, charged off, repaid
    assert list(pd.read_parquet(out / "vintages.parquet").columns) == ["cohort", "months_on_book", "loans", "charged_off"]
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"] == "baseline"
    assert doc["seed"] == 2
    assert list(doc["summary"]) == SUMMARY_KEYS
    assert doc["parameters"]["population"]["borrowers"] == 2000
    assert doc["parameters"]["simulation"]["days"] == 60
    # the file agrees with what --json prints for the same run
    assert doc["summary"] == run_json("--seed", "2")


def test_set_takes_effect(tmp_path):
    """An override changes what the model does, not only what is recorded: with visits starting at
    119 DPD (and none after broken promises), no loan of a 90-day-old run is old enough to be visited."""
    base = run_json("--seed", "2")
    late = run_json("--seed", "2", "--set", "collection.visits.start_dpd=119",
                    "--set", "collection.visits.on_broken_promise=false")
    assert base["visits"] > 0 and late["visits"] == 0
    out = tmp_path / "o"
    res = invoke("run", "baseline", *SMALL, "--set", "collection.visits.start_dpd=45", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    params = json.loads((out / "summary.json").read_text())["parameters"]
    assert params["collection"]["visits"]["start_dpd"] == 45
    assert params["collection"]["visits"]["repeat_days"] == load_scenario("baseline").collection.visits.repeat_days


def test_set_repeats_and_accepts_toml_values(tmp_path):
    out = tmp_path / "o"
    res = invoke(
        "run", "baseline", *SMALL, "--out", str(out),
        "--set", 'collection.tactics=["reminders", "promises", "recovery"]',
        "--set", "collection.tone.harshness=0.25",
        "--set", 'collection.reminders.schedule=[{day = 2, channel = "phone"}]',
        "--set", "name=my run",  # a bare string
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "summary.json").read_text())
    params = doc["parameters"]
    assert params["collection"]["tactics"] == ["reminders", "promises", "recovery"]
    assert params["collection"]["tone"]["harshness"] == 0.25
    assert params["collection"]["reminders"]["schedule"] == [{"day": 2, "channel": "phone"}]
    assert doc["scenario"] == "my run"
    assert doc["summary"]["visits"] == 0


def test_set_changes_results():
    base = run_json("--seed", "4")
    no_visits = run_json("--seed", "4", "--set", 'collection.tactics=["reminders", "promises", "recovery"]')
    assert no_visits["visits"] == 0
    assert base != no_visits


def test_set_inline_table_keeps_other_parameters(tmp_path):
    out = tmp_path / "o"
    res = invoke("run", "humane_visits", *SMALL, "--out", str(out), "--set", "collection.tone={pressure_bonus = 0.1}")
    assert res.exit_code == 0, res.stderr
    tone = json.loads((out / "summary.json").read_text())["parameters"]["collection"]["tone"]
    assert tone["pressure_bonus"] == 0.1
    assert tone["harshness"] == 0.1  # from humane_visits.toml, not reset to the default


def test_scenario_given_as_path(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(f'extends = "{(shipped_scenarios()[0]).as_posix()}"\n[collection.visits]\nstart_dpd = 60\n')
    out = tmp_path / "o"
    res = invoke("run", str(f), *SMALL, "--out", str(out))
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"] == "mine"
    assert doc["parameters"]["collection"]["visits"]["start_dpd"] == 60


# --------------------------------------------------------------------------- the table


def test_table_lists_every_key_formatted():
    res = invoke("run", "baseline", *SMALL)
    assert res.exit_code == 0, res.stderr
    for key in SUMMARY_KEYS:
        assert key in res.stdout
    assert "%" in res.stdout
    assert "CU" in res.stdout
    # not a terminal: no progress bar; only one warning line per metric the run cannot define
    cells = [[c for c in line.split() if c not in "│┃"] for line in res.stdout.splitlines()]
    shown = {c[0]: c[1] for c in cells if len(c) > 1 and c[0] in SUMMARY_KEYS}
    undefined = sorted(k for k, v in shown.items() if v == "NaN")
    assert "ever_30dpd_rate" in undefined  # a 60-day window: no loan booked in it was observed 365 days
    lines = res.stderr.splitlines()
    assert all(line.startswith("warning: ") and "is undefined (NaN): " in line for line in lines), lines
    assert sorted(line.split()[1] for line in lines) == undefined


def test_progress_bar_on_a_terminal(monkeypatch):
    seen = []

    class FakeBar:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def add_task(self, name, total):
            seen.append(("total", total))
            return 0

        def update(self, task, completed, total):
            seen.append((completed, total))

    monkeypatch.setattr(cli, "_interactive", lambda: True)
    monkeypatch.setattr(cli, "_progress_bar", FakeBar)
    res = invoke("run", "baseline", "--borrowers", "2000", "--days", "3", "--burn-in", "2")
    assert res.exit_code == 0, res.stderr
    assert seen == [("total", 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]  # the burn-in counts

    seen.clear()
    res = invoke("run", "baseline", "--borrowers", "2000", "--days", "5", "--json")
    assert res.exit_code == 0
    assert seen == []  # --json: never a progress bar
    json.loads(res.stdout)


def test_progress_without_a_terminal_is_a_line_a_tenth(capsys):
    """For a log file or a batch job: a plain line each time another tenth of the work is done (not one per
    run), and the last at 100% without a time left."""
    from sim.cli_common import Progress

    with Progress("runs", interactive=False) as p:
        p.start(40, done=4)  # resumed: 4 already finished
        for k in range(36):
            p.update(advance=1, failed=int(k >= 30))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"runs {n}/40" for n in range(8, 41, 4)]
    assert lines[0].startswith("runs 8/40 (20%), 0 failed, 0:0") and "left" in lines[0]
    assert lines[-1].startswith("runs 40/40 (100%), 1 failed, 0:0") and "left" not in lines[-1]

    with Progress("trials", interactive=False, failures=False, every=0.0) as p:  # and after a while, whatever the share
        p.start(1000)
        p.update(done=1)
        p.update(done=1)  # nothing new done: nothing said
        p.update(done=2)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["trials 1/1000", "trials 2/1000"]
    assert lines[0].startswith("trials 1/1000 (0%), 0:00 elapsed, about ")


def test_real_progress_bar_renders(monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    res = invoke("run", "baseline", "--borrowers", "2000", "--days", "5")
    assert res.exit_code == 0, res.stderr
    assert "default_rate" in res.stdout


@pytest.mark.parametrize(
    "key, value, text",
    [
        ("default_rate", 0.12345, "12.35%"),
        ("roll_30_60", 0.5, "50.00%"),
        ("high_stress_share", 0.01, "1.00%"),
        ("profit", 1234567.891, "1,234,567.89 CU"),
        ("cost_per_cure", 4.5, "4.50 CU"),
        ("applications", 12345, "12,345"),
        ("brand_trust", 0.59312, "0.593"),
    ],
)
def test_format_value(key, value, text):
    assert format_value(key, value) == text


# --------------------------------------------------------------------------- scenarios, validate, version


def test_scenarios_lists_every_shipped_scenario():
    res = invoke("scenarios")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == len(shipped_scenarios()) > 0
    for path, line in zip(shipped_scenarios(), lines):
        name, _, description = line.partition(" ")
        assert name == path.stem
        assert description.strip() == load_scenario(path).description
        assert description.strip()


def test_validate_every_shipped_scenario():
    paths = [str(p) for p in shipped_scenarios()]
    res = invoke("validate", *paths)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == [f"{p}: ok" for p in paths]
    assert res.stderr == ""


def test_validate_shipped_names():
    res = invoke("validate", "baseline", "recession.toml")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["baseline: ok", "recession.toml: ok"]


def test_validate_mixed_good_and_bad(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[collection.visits]\nstart_dpd = -1\n")
    res = invoke("validate", "baseline", str(bad), "education")
    assert res.exit_code == 2
    assert res.stdout.splitlines() == ["baseline: ok", "education: ok"]
    expected = f"{bad}: collection.visits.start_dpd: expected greater than or equal to 1, got -1"
    assert res.stderr.splitlines() == [expected]


def test_validate_reads_specs_and_targets_files_as_the_commands_that_take_them(tmp_path):
    """A sweep spec, an optimisation spec and a targets file are checked by their own loaders (not as
    scenarios, which would call every spec key an unknown parameter), and a bad one is one line naming
    the file and key."""
    exp = ROOT / "experiments"
    files = [exp / "strategies.toml", exp / "05_best_strategy.toml", exp / "calibration" / "targets.toml"]
    res = invoke("validate", *map(str, files))
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    spec = tomllib.loads(files[0].read_text())  # every shipped strategy, each replicated
    assert spec["scenarios"] == "shipped"
    assert lines[0] == f"{files[0]}: ok (sweep spec, {len(shipped_scenarios()) * spec['replicates']:,} runs)"
    assert lines[1].startswith(f"{files[1]}: ok (optimisation spec, ")
    assert lines[2].startswith(f"{files[2]}: ok (targets file, ")
    bad = tmp_path / "sweep.toml"
    bad.write_text('name = "x"\nreplicates = 2\nborrowers = "many"\nscenarios = [{ file = "baseline" }]\n')
    res = invoke("validate", str(bad))
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [f"{bad}: borrowers: expected a valid integer, unable to parse string as an "
                                       "integer, got 'many'"]


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0
    assert res.stdout.strip() == "credsim 0.1.0"


def test_console_script_validate_and_module_entry_point():
    paths = [str(p) for p in shipped_scenarios()]
    res = subprocess.run([str(CREDSIM), "validate", *paths], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == len(shipped_scenarios())
    res = subprocess.run([sys.executable, "-m", "sim", "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "credsim 0.1.0"


def test_usage_errors_exit_2():
    res = invoke()  # no command: help, as a usage error
    assert res.exit_code == 2
    assert "Usage" in res.output
    assert invoke("run").exit_code == 2
    assert invoke("run", "baseline", "--no-such-option").exit_code == 2
    assert invoke("validate").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


# --------------------------------------------------------------------------- validate, params, help


def test_validate_reports_every_problem_of_a_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "baseline.toml"\n[population]\nborrowers = -5\ninitial_loan_share = 3.0\n'
                   "[repayment]\nnosuch = 1\n")
    res = invoke("validate", str(bad))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["population.borrowers", "population.initial_loan_share",
                                                       "repayment.nosuch"]
    assert all(line.startswith(f"{bad}: ") for line in lines)
    res = invoke("run", str(bad), "--json")  # a run still says one line: the first problem
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1


def test_params_lists_each_parameter_with_default_unit_range_and_meaning():
    res = invoke("params", "collection.visits")
    assert res.exit_code == 0, res.output
    assert "collection.visits.start_dpd = 30  [DPD; ≥ 1, ≤ 720]" in res.stdout
    names = [line.split(" = ")[0] for line in res.stdout.splitlines() if not line.startswith(" ")]
    assert names and all(n.startswith("collection.visits.") for n in names)
    # the defaults shown are what a default Scenario() runs with; "baseline" is what the shipped
    # baseline runs (it carries the calibrated values), shown beside the default where they differ
    sc, plain = load_scenario("baseline"), Scenario()
    res = invoke("params", "repayment", "--json")
    rows = {r["name"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert rows["repayment.intercept"]["default"] == plain.repayment.intercept
    assert rows["repayment.intercept"]["baseline"] == sc.repayment.intercept
    assert all(r["meaning"] and "range" in r for r in rows.values())
    text = invoke("params", "repayment.intercept").stdout
    assert (f"(baseline: {sc.repayment.intercept:g}" in text) == (sc.repayment.intercept != plain.repayment.intercept)


def test_params_lists_every_parameter_including_structured_ones():
    """All of them, in text and JSON: the reminder ladder (a list of tables) is written as a scenario file
    writes it, and is not shown as a baseline value when the baseline runs the default ladder."""
    from sim.docs import parameter_rows

    names = [r.path for r in parameter_rows()]
    res = invoke("params")
    assert res.exit_code == 0, res.output
    shown = [line.split(" = ")[0] for line in res.stdout.splitlines() if not line.startswith(" ")]
    assert shown == names
    ladder = next(line for line in res.stdout.splitlines() if line.startswith("collection.reminders.schedule = "))
    assert ladder.startswith('collection.reminders.schedule = [{day = -3, channel = "sms"}, ') and "baseline:" not in ladder
    res = invoke("params", "--json")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["name"] for r in rows] == names
    step = next(r for r in rows if r["name"] == "collection.reminders.schedule")["default"][0]
    assert step == {"day": -3, "channel": "sms"}


def test_params_with_an_unknown_prefix_is_one_line():
    res = invoke("params", "nosuch.section")
    assert res.exit_code == 2 and "nosuch.section" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_help_texts_keep_their_brackets():
    res = invoke("compare", "--help")
    assert res.exit_code == 0
    text = " ".join(res.stdout.split())
    assert "[default: 'baseline' if the sweep has it, else the first scenario]" in text


def test_outputs_say_where_they_came_from(tmp_path):
    from sim import __version__

    doc = run_json("--seed", "3", "--meta")
    prov = doc.pop("provenance")
    assert list(doc) == SUMMARY_KEYS
    assert prov["seed"] == 3 and prov["credsim_version"] == __version__ and len(prov["code_hash"]) == 64
    other = run_json("--seed", "3", "--meta", "--set", "collection.visits.start_dpd=45")["provenance"]
    assert other["parameters_hash"] != prov["parameters_hash"] and other["code_hash"] == prov["code_hash"]
    out = tmp_path / "run"
    assert invoke("run", "baseline", *SMALL, "--seed", "3", "--out", str(out)).exit_code == 0
    assert json.loads((out / "summary.json").read_text())["provenance"] == prov
