"""Generate the tables of docs/ODD.md from the code, so the docs cannot drift from it.

docs/ODD.md holds regions between marker comments::

    <!-- BEGIN GENERATED: parameters -->
    ...
    <!-- END GENERATED: parameters -->

The regions ``parameters``, ``assumptions``, ``scenarios``, ``tactics``, ``summary``, ``daily`` and
``loans`` are rebuilt from :mod:`sim.params`, the files in ``scenarios/`` and :mod:`sim.metrics`; the
``calibration`` region (the calibration targets and the parameters fitted to them) from
``experiments/calibration/targets.toml``. The ``validation`` region holds the model's values at those
targets, which take a fit to compute: it is written from a fit's saved output only (``credsim
calibrate --docs``, or ``--fit`` here). The docs never run a simulation.

Usage::

    python -m sim.docs                 # rewrite the generated regions of docs/ODD.md in place
    python -m sim.docs --check         # exit 1 if docs/ODD.md is out of date (CI)
    python -m sim.docs --fit results/calibration/baseline/fit.json   # also rewrite the validation table
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel

from . import metrics
from .regions import BEGIN, END, DocsError, read_region, replace_region, toml_value  # noqa: F401 (re-exported)
from .params import Scenario, iter_parameters
from .scenario import SCENARIO_DIR, read_tree, shipped_scenarios

ODD_PATH = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"
#: The calibration targets, the one list of them: ``credsim calibrate`` fits them and the calibration
#: table of docs/ODD.md is generated from them (so the two cannot disagree).
TARGETS_PATH = Path(__file__).resolve().parent.parent / "experiments" / "calibration" / "targets.toml"

#: regions rebuilt by every ``python -m sim.docs`` (cheap, no simulation)
TABLE_REGIONS = ("parameters", "assumptions", "scenarios", "tactics", "summary", "daily", "loans", "calibration")
#: the region of the fit's model values: written from a saved fit only (``credsim calibrate --docs``, ``--fit``)
VALIDATION_REGION = "validation"


# ---------------------------------------------------------------------------------------------
# rendering of single values
# ---------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")





def render_default(value: Any) -> str:
    """The default as it appears in the parameter table: the TOML value in backticks."""
    return "`" + _cell(toml_value(value)) + "`"


def render_unit(unit: str) -> str:
    """The unit as it appears in the parameter table ("—" where a parameter has none)."""
    return _cell(unit) if unit else "—"


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------
def _walk(obj: Any, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class ParamRow:
    path: str
    unit: str
    default: Any
    description: str
    limits: str

    @property
    def section(self) -> str:
        return self.path.split(".")[0] if "." in self.path else ""

    @property
    def assumption(self) -> bool:
        return "assumption" in self.description.lower()


def _field_info(path: str):
    model: type[BaseModel] = Scenario
    instance: Any = Scenario()
    parts = path.split(".")
    for part in parts[:-1]:
        instance = getattr(instance, part)
        model = type(instance)
    return model.model_fields[parts[-1]]


def _number(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _limits(field) -> str:
    ops = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    out = []
    for m in field.metadata:
        for attr, sym in ops.items():
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {_number(v)}")
    ann = field.annotation
    args = getattr(ann, "__args__", None)
    if getattr(ann, "__origin__", None) is not None and args and all(isinstance(a, str) for a in args):
        out.append(" or ".join(args))  # a Literal
    return ", ".join(out)


def parameter_rows() -> list[ParamRow]:
    """Every leaf parameter of :func:`sim.params.iter_parameters`, in its order.

    The default is read from a default :class:`~sim.params.Scenario` at the parameter's path (what a
    run really uses), not from ``iter_parameters``, which rebuilds nested sections from their class
    and so misses section-specific defaults (``products.cash`` vs ``products.pos``).
    """
    defaults = Scenario()
    rows = []
    for path, unit, _default, description, *_ in iter_parameters():
        value = _walk(defaults, path)
        if isinstance(value, list):
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        rows.append(ParamRow(path, unit, value, description, _limits(_field_info(path))))
    return rows


def _list_item_rows(row: ParamRow) -> list[ParamRow]:
    """For a list of records (the reminder schedule): one row per field of a record."""
    value = _walk(Scenario(), row.path)
    if not (isinstance(value, list) and value and isinstance(value[0], BaseModel)):
        return []
    model = type(value[0])
    out = []
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        out.append(ParamRow(f"{row.path}[].{name}", extra.get("unit", ""), None, f.description or "", _limits(f)))
    return out


def _section_docs() -> dict[str, str]:
    docs = {"": "The scenario itself."}
    for name, f in Scenario.model_fields.items():
        if isinstance(getattr(Scenario(), name), BaseModel):
            docs[name] = f.description or ""
    return docs


def parameters_table() -> str:
    """One table per top-level section: parameter, unit, default, meaning, valid range."""
    rows = parameter_rows()
    docs = _section_docs()
    order: list[str] = []
    for r in rows:
        if r.section not in order:
            order.append(r.section)
    out = []
    for sec in order:
        title = f"`{sec}`" if sec else "Top level"
        out.append(f"#### {title}: {docs.get(sec, '')}".rstrip())
        out.append("")
        out.append("| Parameter | Unit | Default | Meaning | Valid values |")
        out.append("| --- | --- | --- | --- | --- |")
        for r in rows:
            if r.section != sec:
                continue
            out.append(
                f"| `{r.path}` | {render_unit(r.unit)} | {render_default(r.default)} | {_cell(r.description)} | "
                f"{_cell(r.limits)} |"
            )
            for sub in _list_item_rows(r):
                out.append(
                    f"| `{sub.path}` | {render_unit(sub.unit)} | (per entry) | {_cell(sub.description)} | "
                    f"{_cell(sub.limits)} |"
                )
        out.append("")
    return "\n".join(out).rstrip()


def assumptions_list() -> str:
    """The parameters whose own description marks them as an assumption."""
    rows = [r for r in parameter_rows() if r.assumption]
    out = [f"{len(rows)} parameters are declared as assumptions in `sim/params.py`:", ""]
    for r in rows:
        out.append(f"- `{r.path}` = {render_default(r.default)} ({render_unit(r.unit)}): {r.description}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------
def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                out.update(_flatten(v, key + "."))
            else:
                out[key] = v
    return out


def installed_fit() -> dict[str, float]:
    """The fitted values installed in scenarios/baseline.toml (its ``calibrated`` region, from the
    committed record experiments/calibration/fit.json); empty when no fit is installed."""
    import json

    from . import calibrate as cal

    record = cal.FIT_DIR / "fit.json"
    if not record.is_file() or cal.installed_mismatch():
        return {}
    return cal.fitted_values(json.loads(record.read_text(encoding="utf-8")))


def scenario_changes(path: str | Path) -> dict[str, Any]:
    """Dotted parameters a scenario file sets to something other than the defaults of the calibrated model
    (``extends`` followed): sim/params.py's defaults with the installed fit (:func:`installed_fit`) on top,
    which every shipped scenario inherits from baseline.toml."""
    tree = read_tree(path)
    tree.pop("name", None)
    tree.pop("description", None)
    defaults = {**_flatten(Scenario().model_dump()), **installed_fit()}
    changes = {}
    for key, value in _flatten(tree).items():
        if key not in defaults or defaults[key] != value:
            changes[key] = value
    return changes


def scenarios_table(paths: Iterable[Path] | None = None) -> str:
    paths = list(paths) if paths is not None else shipped_scenarios()
    out = [
        "| File | Name | Extends | Description | Changes from the defaults |",
        "| --- | --- | --- | --- | --- |",
    ]
    fit = installed_fit()
    for p in paths:
        raw = tomllib.loads(p.read_text(encoding="utf-8-sig"))
        tree = read_tree(p)
        name = tree.get("name", p.stem)
        desc = tree.get("description", "")
        parent = raw.get("extends")
        changes = scenario_changes(p)
        text = "<br>".join(f"`{k} = {_cell(toml_value(v))}`" for k, v in changes.items()) or "none (all defaults)"
        if fit and p.resolve() == (SCENARIO_DIR / "baseline.toml").resolve():
            text = ("the installed fit (`experiments/calibration/fit.json`, inherited by every scenario "
                    "extending this one): " + "<br>".join(f"`{k} = {_cell(toml_value(v))}`" for k, v in fit.items())
                    + ("<br>" + text if changes else ""))
        rel = p.relative_to(SCENARIO_DIR.parent) if p.is_relative_to(SCENARIO_DIR.parent) else p
        out.append(
            f"| `{rel.as_posix()}` | `{_cell(name)}` | {f'`{parent}`' if parent else '—'} | {_cell(desc)} | {text} |"
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------------
def _definition_table(items: dict[str, str], head: str) -> str:
    out = [f"| {head} | Definition |", "| --- | --- |"]
    out += [f"| `{k}` | {_cell(v)} |" for k, v in items.items()]
    return "\n".join(out)


def summary_table() -> str:
    return _definition_table(metrics.SUMMARY, "Summary key")


def daily_table() -> str:
    return _definition_table(metrics.DAILY, "Daily series")


def loans_table() -> str:
    return _definition_table(metrics.LOAN_COLUMNS, "Loan column")


def tactics_table() -> str:
    """The tactics found in sim/tactics/, in the order they run, with what each counts."""
    from .tactics import DEFAULT, registry

    hooks = ("collect", "recover", "offer", "ask", "inbound", "before_payments", "after_payments", "priority",
             "willingness", "screen")
    out = ["| Order | Tactic | Module | What it is | Hooks | Counters | In the default list |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for k, (name, cls) in enumerate(registry().items(), 1):
        used = ", ".join(h for h in hooks if getattr(cls, h) is not getattr(cls.__mro__[-2], h))
        counters = "<br>".join(f"`{c}`: {_cell(d)}" for c, d in cls.counters.items()) or "—"
        out.append(f"| {k} | `{name}` | `{cls.__module__}` | {_cell(cls.doc)} | {used} | {counters} | "
                   f"{'yes' if name in DEFAULT else 'no'} |")
    return "\n".join(out)


def generated_tables() -> dict[str, str]:
    return {
        "parameters": parameters_table(),
        "assumptions": assumptions_list(),
        "scenarios": scenarios_table(),
        "tactics": tactics_table(),
        "summary": summary_table(),
        "daily": daily_table(),
        "loans": loans_table(),
        "calibration": calibration_table(),
    }


# ---------------------------------------------------------------------------------------------
# regions of the file
# ---------------------------------------------------------------------------------------------


def render(text: str, regions: dict[str, str]) -> str:
    for name, content in regions.items():
        text = replace_region(text, name, content)
    return text


def stale_regions(path: Path = ODD_PATH) -> list[str]:
    """Names of the generated regions (the validation region excepted) that differ from what the code gives."""
    text = path.read_text(encoding="utf-8")
    tables = generated_tables()
    return [name for name, content in tables.items() if read_region(text, name) != content.rstrip("\n")]


def validation_mismatch(text: str, targets: Path = TARGETS_PATH) -> list[str]:
    """Targets and fitted parameters of ``targets`` that the validation region (the fit's values) lacks:
    if any, it holds the fit of another targets file. Empty when the file has no validation region."""
    from . import calibrate as cal

    try:
        region = read_region(text, VALIDATION_REGION)
    except DocsError:
        return []
    p = cal.load_targets(targets)
    return ([t.title for t in p.targets if f"| {_cell(t.title)} |" not in region]
            + [k for k in p.keys if f"| `{k}` |" not in region])


def check(path: Path = ODD_PATH) -> tuple[bool, str]:
    """(up to date?, message). Runs no simulation."""
    try:
        stale = stale_regions(path)
        lacks = validation_mismatch(path.read_text(encoding="utf-8"))
    except (DocsError, FileNotFoundError) as e:
        return False, str(e)
    if stale:
        return False, (
            f"{path}: generated region(s) out of date: {', '.join(stale)}. "
            "Run `python -m sim.docs` to regenerate them."
        )
    installed = cal_installed_mismatch()
    if installed:
        return False, "; ".join(installed)
    if lacks:
        return False, (
            f"{path}: the validation table is the fit of another targets file (it lacks {', '.join(lacks)} of "
            f"{_repo_path(TARGETS_PATH)}). Run `credsim calibrate {_repo_path(TARGETS_PATH)} --docs`, or "
            "`python -m sim.docs --fit FIT.json` with the fit's saved output."
        )
    return True, f"{path}: up to date"


def cal_installed_mismatch() -> list[str]:
    """The baseline's installed fit against its committed record (sim.calibrate.installed_mismatch)."""
    from . import calibrate as cal

    return cal.installed_mismatch()


def update(path: Path = ODD_PATH, *, validation: str | None = None) -> bool:
    """Rewrite the generated regions in place (and the validation region, if given); True if the file changed."""
    text = path.read_text(encoding="utf-8")
    regions = generated_tables()
    if validation is not None:
        regions[VALIDATION_REGION] = validation
    new = render(text, regions)
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


# ---------------------------------------------------------------------------------------------
# calibration: the targets file and the fit's saved output (the docs run no simulation)
# ---------------------------------------------------------------------------------------------


def _repo_path(path: Path) -> str:
    path = Path(path).resolve()
    root = TARGETS_PATH.parents[2]
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def calibration_table(path: Path = TARGETS_PATH) -> str:
    """The calibration targets of ``path`` and the parameters fitted to them, as Markdown.

    The model's values are not here: they are the fit's, in the validation region (written by
    ``credsim calibrate --docs``, or by ``python -m sim.docs --fit FIT.json`` from a saved fit).
    """
    from . import calibrate as cal

    p = cal.load_targets(path)
    sc = p.base
    out = [
        f"The targets of `{_repo_path(path)}` (generated from that file by `python -m sim.docs`), fitted to "
        f"`{sc.name}` by `credsim calibrate`; held-back targets are not fitted, only predicted. "
        "The model's values, before and after the fit, are in the validation table below.",
        "",
        "| Target | Role | Target value | Source | Model quantity |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in sorted(p.targets, key=lambda t: t.holdout):
        out.append(f"| {_cell(t.title)} | {'held back' if t.holdout else 'fitted'} | {_cell(cal._target_text(t))} | "
                   f"{_cell(t.source)} | `{t.name}`: {_cell(cal.moment_definition(t.name))} |")
    out += ["", f"| Fitted parameter | In `{sc.name}` (the installed fit) | Search range |", "| --- | --- | --- |"]
    for i, k in enumerate(p.keys):
        out.append(f"| `{k}` | {p.base_values[k]:.6g} | [{p.lo[i]:g}, {p.hi[i]:g}] |")
    return "\n".join(out)


def validation_from_fit(fit_path: Path) -> str:
    """The validation table of a saved fit (``fit.json`` of ``credsim calibrate``), as calibrate wrote it."""
    import json

    from . import abc
    from . import calibrate as cal

    try:
        doc = json.loads(Path(fit_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None  # load_fit says what is wrong
    if abc.is_abc_fit(doc):
        return abc.validation_table(*abc.load_fit(fit_path))
    return cal.validation_table(*cal.load_fit(fit_path))


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.docs", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/ODD.md is out of date; change nothing")
    ap.add_argument("--file", type=Path, default=ODD_PATH, help="the ODD file (default: docs/ODD.md)")
    ap.add_argument("--fit", type=Path, default=None, metavar="FIT_JSON",
                    help="also rewrite the validation table from a saved fit (fit.json of credsim calibrate)")
    args = ap.parse_args(argv)

    if args.check:
        ok, msg = check(args.file)
        print(msg, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1

    validation = None
    if args.fit is not None:
        from .scenario import ScenarioError

        try:
            validation = validation_from_fit(args.fit)
        except ScenarioError as e:
            print(e, file=sys.stderr)
            return 2
    try:
        changed = update(args.file, validation=validation)
    except DocsError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{args.file}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
