"""docs/ODD.md agrees with the code: parameters, outcomes, daily order, structure. Fast: no simulation."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

import sim.model
from sim import docs, metrics
from sim.params import Scenario, iter_parameters
from sim.rng import STREAMS

ODD = docs.ODD_PATH
MECHANISMS = Path(sim.model.__file__).resolve().parent / "mechanisms"

PARTS = [
    "Purpose and patterns",
    "Entities, state variables and scales",
    "Process overview and scheduling",
    "Design concepts",
    "Initialization",
    "Input data",
    "Submodels",
]
DESIGN_CONCEPTS = [
    "Basic principles",
    "Emergence",
    "Adaptation",
    "Objectives",
    "Learning",
    "Prediction",
    "Sensing",
    "Interaction",
    "Stochasticity",
    "Collectives",
    "Observation",
]


@pytest.fixture(scope="module")
def text() -> str:
    return ODD.read_text(encoding="utf-8")


def cells(line: str) -> list[str]:
    """The cells of a Markdown table row (escaped pipes stay inside their cell)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in parts[1:-1]]


def part(text: str, n: int) -> str:
    """Part n of the ODD (from its '## n.' heading to the next '## ' heading)."""
    m = re.search(rf"^## {n}\. .*?$(.*?)(?=^## )", text, re.S | re.M)
    assert m, f"part {n} not found"
    return m.group(1)


def without_generated(text: str) -> str:
    return re.sub(r"<!-- BEGIN GENERATED: (\w+) -->.*?<!-- END GENERATED: \1 -->", "", text, flags=re.S)


# ---- generated tables -----------------------------------------------------------------------
def test_check_passes():
    ok, msg = docs.check()
    assert ok, msg
    assert docs.main(["--check"]) == 0


def parameter_table(text) -> dict[str, list[str]]:
    rows = {}
    for line in docs.read_region(text, "parameters").splitlines():
        if line.startswith("| `"):
            c = cells(line)
            rows[c[0].strip("`")] = c
    return rows


def test_parameter_table_has_known_rows(text):
    """A few rows written by hand from the parameter declarations."""
    rows = parameter_table(text)
    assert rows["loans.charge_off_dpd"][:3] == ["`loans.charge_off_dpd`", "DPD", "`120`"]
    assert rows["collection.visits.start_dpd"][:3] == ["`collection.visits.start_dpd`", "DPD", "`30`"]
    assert rows["education.enabled"][:3] == ["`education.enabled`", "flag", "`false`"]
    assert rows["products.cash.annual_rate"][2] == "`0.3`" and rows["products.pos.annual_rate"][2] == "`0.12`"
    assert rows["collection.tactics"][2] == '`["reminders", "visits", "promises", "recovery"]`'
    assert rows["collection.reminders.schedule[].channel"][1] == "sms\\|phone"
    assert rows["loans.charge_off_dpd"][4] == "≥ 30, ≤ 720"


def test_parameter_table_read_back_is_the_default_scenario(text):
    """Every parameter has a row; its default, read back as TOML, rebuilds the default scenario; its
    unit and description are those of the parameter tree."""
    rows = parameter_table(text)
    tree: dict = {}
    declared = {}
    for path, unit, _default, description, *_ in iter_parameters():
        declared[path] = (unit, description)
        assert path in rows, f"{path} has no row in the parameter table"
        cell = rows[path][2]
        assert cell.startswith("`") and cell.endswith("`"), path
        raw = cell[1:-1].replace("\\|", "|")
        value = None if raw == "None" else tomllib.loads("v = " + raw)["v"]  # None: unset (derived)
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        assert rows[path][1] == (unit.replace("|", "\\|") if unit else "—"), path
        assert rows[path][3].replace("\\|", "|") == " ".join(description.split("\n")), path
    assert Scenario.model_validate(tree) == Scenario()
    assert Scenario.model_validate(tree).model_dump() == Scenario().model_dump()
    documented = {p for p in rows if "[]" not in p}
    assert documented == set(declared), "the table lists parameters that no longer exist"


def test_every_summary_key_is_defined(text):
    region = docs.read_region(text, "summary")
    defined = {cells(line)[0].strip("`"): cells(line)[1] for line in region.splitlines() if line.startswith("| `")}
    for key, definition in metrics.SUMMARY.items():
        assert key in defined, f"summary key {key} is not defined in ODD.md"
        assert defined[key].replace("\\|", "|") == " ".join(definition.split("\n")), key
    assert list(defined) == metrics.SUMMARY_KEYS


def test_every_daily_series_is_defined(text):
    region = docs.read_region(text, "daily")
    defined = [cells(line)[0].strip("`") for line in region.splitlines() if line.startswith("| `")]
    assert defined == list(metrics.DAILY)


def test_scenario_table_lists_changes_from_defaults(text):
    assert docs.scenario_changes(docs.SCENARIO_DIR / "no_collection.toml") == {
        "collection.tactics": ["recovery"],
    }
    assert docs.scenario_changes(docs.SCENARIO_DIR / "baseline.toml") == {}
    region = docs.read_region(text, "scenarios")
    for p in docs.shipped_scenarios():
        assert f"`scenarios/{p.name}`" in region


def test_check_detects_a_stale_file(tmp_path):
    copy = tmp_path / "ODD.md"
    shutil.copy(ODD, copy)
    original = copy.read_text(encoding="utf-8")
    row = "| `loans.charge_off_dpd` | DPD | `120` |"
    assert row in original
    copy.write_text(original.replace(row, "| `loans.charge_off_dpd` | DPD | `90` |"))
    ok, msg = docs.check(copy)
    assert not ok and "parameters" in msg
    assert docs.main(["--check", "--file", str(copy)]) == 1
    assert docs.main(["--file", str(copy)]) == 0  # rewrites
    assert docs.check(copy)[0]


def test_plain_update_keeps_the_validation_block(tmp_path):
    copy = tmp_path / "ODD.md"
    shutil.copy(ODD, copy)
    kept = docs.read_region(copy.read_text(encoding="utf-8"), "validation")
    text = docs.replace_region(copy.read_text(encoding="utf-8"), "daily", "stale")
    copy.write_text(text)
    docs.update(copy)
    new = copy.read_text(encoding="utf-8")
    assert docs.read_region(new, "validation") == kept  # the fit's values: only from a saved fit
    assert docs.read_region(new, "daily") == docs.daily_table()


def test_calibration_table_is_the_targets_file(text):
    """The calibration region lists the targets, sources and fitted parameters of targets.toml, the one
    list of them: the docs keep no copy (and run no calibration of their own)."""
    import tomllib

    raw = tomllib.loads(docs.TARGETS_PATH.read_text(encoding="utf-8"))
    region = docs.read_region(text, "calibration")
    for t in raw["targets"]:
        assert f"| {docs._cell(t['label'])} |" in region and docs._cell(t["source"]) in region
        assert f"`{t['name']}`" in region
    for k in raw["parameters"]:
        assert f"| `{k}` |" in region
    assert not hasattr(docs, "TARGETS") and not hasattr(docs, "run_calibration")


def test_docs_and_targets_file_cannot_disagree(tmp_path, monkeypatch):
    """A target added to targets.toml makes --check fail, until the docs are regenerated and the fit is
    redone (the validation table must hold every target and fitted parameter)."""
    targets = tmp_path / "targets.toml"
    text = docs.TARGETS_PATH.read_text(encoding="utf-8")
    targets.write_text(text.replace("[parameters]", '[[targets]]\nname = "cure_rate"\nlabel = "A new target"\n'
                                    'value = 0.5\nsd = 0.1\nsource = "a new study"\n\n[parameters]', 1),
                       encoding="utf-8")
    copy = tmp_path / "ODD.md"
    shutil.copy(ODD, copy)
    monkeypatch.setattr(docs, "TARGETS_PATH", targets)
    monkeypatch.setattr(docs.calibration_table, "__defaults__", (targets,))
    monkeypatch.setattr(docs.validation_mismatch, "__defaults__", (targets,))
    ok, msg = docs.check(copy)
    assert not ok and "calibration" in msg
    assert docs.main(["--file", str(copy)]) == 0
    assert "| A new target |" in docs.read_region(copy.read_text(encoding="utf-8"), "calibration")
    ok, msg = docs.check(copy)
    assert not ok and "validation table" in msg and "A new target" in msg


# ---- structure and content ----------------------------------------------------------------
def test_seven_numbered_parts_in_order(text):
    heads = re.findall(r"^## (\d)\. (.+)$", text, re.M)
    assert [(int(n), title.strip()) for n, title in heads] == list(enumerate(PARTS, start=1))
    assert re.search(r"^## Observation: outcomes$", text, re.M)
    assert re.search(r"^## Calibration$", text, re.M)


def test_design_concepts_are_all_there(text):
    heads = re.findall(r"^### 4\.\d+ (.+)$", part(text, 4), re.M)
    assert heads == DESIGN_CONCEPTS


def parse_model_docstring() -> list[tuple[int, str, list[str]]]:
    """(number, text, modules) of each step of the day in sim/model.py's docstring."""
    doc = sim.model.__doc__
    lines = doc[doc.index("The day, in order") :].splitlines()[1:]
    steps: list[list] = []
    for line in lines:
        if not line.strip():
            if steps:
                break
            continue
        m = re.match(r"^(\d+)\.\s+(.*)$", line)
        if m:
            steps.append([int(m.group(1)), "", []])
            rest = m.group(2)
        else:
            rest = line.strip()
        parts = re.split(r"\s{2,}", rest.strip())
        steps[-1][1] = (steps[-1][1] + " " + parts[0]).strip()
        for mod in (p.strip() for col in parts[1:] for p in col.split(",")):
            if mod:
                steps[-1][2].append(mod)
    out = []
    for n, txt, mods in steps:
        full = []
        for mod in mods:
            if mod.startswith("."):  # ".trust" after "mechanisms.stress"
                mod = full[-1].rsplit(".", 1)[0] + mod
            full.append(mod)
        out.append((n, txt, full))
    return out


def parse_odd_day(text: str) -> list[tuple[int, str, str]]:
    """(number, text, rest of line) of each top-level numbered item in part 3."""
    items = []
    for m in re.finditer(r"^(\d+)\. (.*)$", part(text, 3), re.M):
        txt, _, rest = m.group(2).partition(" — ")
        items.append((int(m.group(1)), txt.strip(), rest))
    return items


def test_daily_order_matches_the_model_docstring(text):
    model_steps = parse_model_docstring()
    odd_steps = parse_odd_day(text)
    assert [n for n, *_ in model_steps] == list(range(1, 10))
    assert [n for n, *_ in odd_steps] == [n for n, *_ in model_steps]
    for (n, want, mods), (_, got, rest) in zip(model_steps, odd_steps):
        assert " ".join(got.split()) == " ".join(want.split()), f"step {n}"
        for mod in mods:
            assert f"`sim.{mod}`" in rest, f"step {n}: module {mod} not named"


def test_every_random_stream_is_named(text):
    concepts = part(text, 4)
    for name in STREAMS:
        assert re.search(rf"^\| `{name}` \|", concepts, re.M), f"stream {name}"
    assert "common random numbers" in concepts.lower()


def test_every_mechanism_and_tactic_module_has_a_submodel(text):
    heads = re.findall(r"^### 7\.\d+ .*\(`sim\.(mechanisms|tactics)\.(\w+)`\)$", part(text, 7), re.M)
    for package, folder in (("mechanisms", MECHANISMS), ("tactics", MECHANISMS.parent / "tactics")):
        modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
        assert sorted(h for pk, h in heads if pk == package) == modules, package


def test_assumption_parameters_are_flagged_in_the_submodels(text):
    sub = part(text, 7)
    for row in docs.parameter_rows():
        if row.assumption:
            pattern = re.escape(f"`{row.path}`") + r"[^`]{0,20}\(assumption\)"
            assert re.search(pattern, sub), f"{row.path} is not flagged as an assumption in part 7"


def test_every_parameter_is_named_in_the_model_description(text):
    body = without_generated("\n".join(part(text, n) for n in (2, 5, 6, 7)))
    skip = {"name", "description", "simulation.days"}
    missing = []
    for path, *_ in iter_parameters():
        if path in skip:
            continue
        parent = path.rsplit(".", 1)[0]
        named = re.search(rf"(?<![\w.]){re.escape(path)}(?![\w])", body)
        if not named and f"`{parent}.*`" not in body:
            missing.append(path)
    assert not missing, f"parameters not described in parts 2, 5-7: {missing}"


def worked_visit(text: str, lead: str) -> dict[str, float]:
    """The numbers part 7 quotes for one completed visit, after ``lead``."""
    para = " ".join(part(text, 7).split()).replace("−", "-")
    snippet = para[para.index(lead) :][:220]
    snippet = snippet.split(";", 1)[0] if lead.startswith("With") else snippet
    num = r"([+-]?\d*\.?\d+)"
    found = {}
    for key, pattern in {
        "harshness": rf"harshness {num}",
        "stress": rf"stress {num}",
        "delta": rf"\({num} from",
        "from": rf"from {num}\)",
        "complaint": rf"complaint(?: probability)? {num}",
        "diagnosis": rf"diagnosis(?: probability)? {num}",
    }.items():
        m = re.search(pattern, snippet)
        assert m, f"{key} not quoted after {lead!r}: {snippet}"
        found[key] = float(m.group(1))
    return found


@pytest.mark.parametrize("scenario,lead", [("baseline", "With the default harshness"),
                                           ("humane_visits", "`humane_visits` harshness")])
def test_worked_visit_numbers_are_what_a_visit_does(text, scenario, lead):
    """Part 7 quotes what one completed visit does: make that visit and compare."""
    from sim import CreditModel, collectors
    from sim.mechanisms import trust

    quoted = worked_visit(text, lead)
    m = CreditModel(scenario=scenario, borrowers=600, days=10, rng=3,
                    overrides={"simulation.burn_in": 0, "collection.tactics": ["visits"],
                               "population.address_unverifiable": 0.0, "collection.visits.verify_prob": 1.0})
    h = quoted["harshness"]
    assert h == m.params.collection.tone.harshness
    collectors.staff(m, "field", harshness=h, skill=0.0)  # the collector of the scenario's tone
    ppl = m.people
    i = int(np.flatnonzero(~ppl.has_loan & ~ppl.banned)[0])
    ppl.has_loan[i], ppl.loan_id[i], ppl.instalment[i], ppl.balance[i] = True, 10**6, 300.0, 1800.0
    ppl.principal_share[i], ppl.next_due[i] = 0.8, m.day + 20
    ppl.amount_due[i], ppl.dpd[i] = 300.0, 40
    ppl.stress[i] = ppl.contact_load[i] = 0.0  # no avoidance: the collector meets the borrower
    ppl.trust[i] = ppl.trust_prior[i] = quoted["from"]
    m.prev_delinquent = np.array([i])
    m._drain_experiences()
    m.tactics["visits"].collect(m.day)
    assert m.lender.books.visits_completed == 1
    (si, sv), (ti, tq, tw) = m._drain_experiences()
    assert sv[si == i].sum() == pytest.approx(quoted["stress"], abs=5e-4)
    trust.step(m, m.day, ti, tq, tw)
    assert ppl.trust[i] - quoted["from"] == pytest.approx(quoted["delta"], abs=5e-5)
    visit = m.tactics["visits"].channels()["visit"]
    assert visit.complaint == pytest.approx(quoted["complaint"], abs=5e-4)
    assert visit.diagnose == pytest.approx(quoted["diagnosis"], abs=5e-3)


def test_stream_table_lists_exactly_the_streams(text):
    """The table in 4.9 names every stream of sim.rng.STREAMS and no other (e.g. a removed one)."""
    concepts = part(text, 4)
    table = concepts[concepts.index("| Stream | Drawn by |") :].split("\n\n", 1)[0]
    listed = [cells(line)[0].strip("`") for line in table.splitlines()[2:] if line.startswith("| `")]
    assert sorted(listed) == sorted(STREAMS)


def test_state_tables_name_only_existing_variables(text):
    """Every variable in the tables of 2.1 and 2.2 is an array of sim.state.People."""
    from sim.state import People

    people = People(1)
    entities = part(text, 2)
    missing = []
    for line in entities.splitlines():
        if not line.startswith("| `"):
            continue
        for name in re.findall(r"`(\w+)`", cells(line)[0]):
            if not hasattr(people, name):
                missing.append(name)
    assert not missing, f"part 2 lists variables People does not have: {missing}"


def test_worked_willingness_numbers_are_what_the_mechanism_gives(text):
    """Part 7.5 quotes the chance that an otherwise average borrower pays, at the default intercept, at
    0-3 sd of the lasting personal effect below its mean: set up such a borrower and ask the mechanism."""
    from sim import CreditModel
    from sim.mechanisms import repayment
    from sim.params import Repayment

    m = re.search(r"With the defaults \(`repayment.intercept` ([\d.]+), `repayment.willingness_sd`\s+([\d.]+)\),"
                  r" an otherwise average borrower pays with probability ([\d.]+) at the mean personal effect,"
                  r" ([\d.]+) one sd\s+below it, ([\d.]+) two sd below and ([\d.]+) three sd below", text)
    assert m, "the worked willingness sentence of 7.5 is missing"
    intercept, sd, *quoted = (float(g) for g in m.groups())
    assert (intercept, sd) == (Repayment().intercept, Repayment().willingness_sd)
    model = CreditModel(scenario="baseline", borrowers=200, days=5, rng=1,
                        overrides={"simulation.burn_in": 0, "collection.tactics": ["reminders"],
                                   "repayment.intercept": intercept})
    ppl, prm, t = model.people, model.params, model.day
    pop = prm.population
    idx = np.arange(4)
    ppl.will_re[idx] = -sd * idx  # 0, 1, 2 and 3 sd below the mean
    ppl.attention[idx], ppl.attention_day[idx], ppl.pressure[idx] = 0.5, t, 0.0
    ppl.literacy[idx], ppl.understanding[idx] = pop.literacy_mean, pop.literacy_mean - pop.understanding_gap
    ppl.present_bias[idx], ppl.stress[idx], ppl.trust[idx] = pop.present_bias_mean, prm.stress.baseline, prm.trust.prior
    ppl.promise_day[idx] = -1
    assert repayment.willingness(model, idx, t) == pytest.approx(quoted, abs=0.005)
