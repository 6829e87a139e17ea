"""Generate the tables of docs/ODD.md from the code, so the docs cannot drift from it.

docs/ODD.md holds regions between marker comments::

    <!-- BEGIN GENERATED: parameters -->
    ...
    <!-- END GENERATED: parameters -->

The regions ``parameters``, ``assumptions``, ``scenarios``, ``summary`` and ``daily`` are rebuilt from
:mod:`sim.params`, the files in ``scenarios/`` and :mod:`sim.metrics`. The ``calibration`` region holds
model values that take simulations to compute; it is rebuilt only on request.

Usage::

    python -m sim.docs                 # rewrite the generated regions of docs/ODD.md in place
    python -m sim.docs --check         # exit 1 if docs/ODD.md is out of date (CI); runs no simulation
    python -m sim.docs --calibration   # also run the calibration runs and refill the calibration table

The plain and ``--check`` forms never run a simulation and leave the calibration region as it is.

Calibration runs (``CAL_RUNS``: the baseline, the baseline without its pre-due SMS, ``no_collection`` and
``reminders_only``; 20,000 people x 730 days x 5 seeds) are built exactly as :func:`sim.run` builds
them, through :func:`sim.run`; the on-time rate is ``1 - late_payment_rate``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

from pydantic import BaseModel

from . import metrics
from .params import Scenario, iter_parameters
from .scenario import SCENARIO_DIR, read_tree, shipped_scenarios

ODD_PATH = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"

#: regions rebuilt by every ``python -m sim.docs`` (cheap, no simulation)
TABLE_REGIONS = ("parameters", "assumptions", "scenarios", "tactics", "summary", "daily", "loans")
#: the region rebuilt only by ``--calibration``
CALIBRATION_REGION = "calibration"

BEGIN = "<!-- BEGIN GENERATED: {} -->"
END = "<!-- END GENERATED: {} -->"


class DocsError(RuntimeError):
    """docs/ODD.md lacks a marker pair or has them out of order."""


# ---------------------------------------------------------------------------------------------
# rendering of single values
# ---------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def toml_value(value: Any) -> str:
    """A value written as it would be in a scenario file (TOML)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


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


def scenario_changes(path: str | Path) -> dict[str, Any]:
    """Dotted parameters a scenario file sets to something other than the default (``extends`` followed)."""
    tree = read_tree(path)
    tree.pop("name", None)
    tree.pop("description", None)
    defaults = _flatten(Scenario().model_dump())
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
    for p in paths:
        raw = tomllib.loads(p.read_text(encoding="utf-8-sig"))
        tree = read_tree(p)
        name = tree.get("name", p.stem)
        desc = tree.get("description", "")
        parent = raw.get("extends")
        changes = scenario_changes(p)
        text = "<br>".join(f"`{k} = {_cell(toml_value(v))}`" for k, v in changes.items()) or "none (all defaults)"
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
    }


# ---------------------------------------------------------------------------------------------
# regions of the file
# ---------------------------------------------------------------------------------------------
def _region_re(name: str) -> re.Pattern:
    return re.compile(re.escape(BEGIN.format(name)) + r"\n(.*?)" + re.escape(END.format(name)), re.S)


def read_region(text: str, name: str) -> str:
    m = _region_re(name).search(text)
    if m is None:
        raise DocsError(f"docs/ODD.md: markers '{BEGIN.format(name)}' ... '{END.format(name)}' not found")
    return m.group(1).rstrip("\n")


def replace_region(text: str, name: str, content: str) -> str:
    read_region(text, name)  # raises if missing
    block = BEGIN.format(name) + "\n" + content.rstrip("\n") + "\n" + END.format(name)
    return _region_re(name).sub(lambda _m: block, text, count=1)


def render(text: str, regions: dict[str, str]) -> str:
    for name, content in regions.items():
        text = replace_region(text, name, content)
    return text


def stale_regions(path: Path = ODD_PATH) -> list[str]:
    """Names of the generated regions (calibration excepted) that differ from what the code gives."""
    text = path.read_text(encoding="utf-8")
    tables = generated_tables()
    return [name for name, content in tables.items() if read_region(text, name) != content.rstrip("\n")]


def check(path: Path = ODD_PATH) -> tuple[bool, str]:
    """(up to date?, message). Runs no simulation."""
    try:
        stale = stale_regions(path)
    except (DocsError, FileNotFoundError) as e:
        return False, str(e)
    if stale:
        return False, (
            f"{path}: generated region(s) out of date: {', '.join(stale)}. "
            "Run `python -m sim.docs` to regenerate them."
        )
    return True, f"{path}: up to date"


def update(path: Path = ODD_PATH, *, calibration: str | None = None) -> bool:
    """Rewrite the generated regions in place; returns True if the file changed."""
    text = path.read_text(encoding="utf-8")
    regions = generated_tables()
    if calibration is not None:
        regions[CALIBRATION_REGION] = calibration
    new = render(text, regions)
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------
CAL_BORROWERS = 20_000
CAL_DAYS = 730
CAL_SEEDS = 5


def _ladder_without_pre_due() -> list[dict]:
    """The default reminder ladder without its pre-due (negative-day) steps."""
    steps = Scenario().collection.reminders.schedule
    return [s.model_dump() for s in steps if s.day >= 0]


#: runs the calibration needs: label -> (scenario, overrides)
CAL_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("baseline", {}),
    "baseline_no_presms": ("baseline", {"collection.reminders.schedule": _ladder_without_pre_due()}),
    "no_collection": ("no_collection", {}),
    "reminders_only": ("reminders_only", {}),
}


def run_metrics(summary: dict) -> dict[str, float]:
    """Per-run quantities of the calibration table, from a run's summary."""
    late = summary["late_payment_rate"]
    return {
        "ever_30dpd_rate": summary["ever_30dpd_rate"],
        "default_rate": summary["default_rate"],
        "roll_30_60": summary["roll_30_60"],
        "late_rate": late,
        "on_time_rate": 1.0 - late,
        "recovery_share": summary["recoveries"] / summary["credit_loss"] if summary["credit_loss"] else 0.0,
    }


def calibration_run(scenario, *, borrowers: int, days: int, seed: int, overrides: dict | None = None) -> dict:
    """One calibration run through the project's one run function."""
    from .runner import run

    return run_metrics(run(scenario, borrowers=borrowers, days=days, seed=seed, overrides=overrides).summary)


def _one_run(job: tuple[str, str, dict, int, int, int]) -> tuple[str, int, dict[str, float]]:
    label, scenario, overrides, seed, borrowers, days = job
    return label, seed, calibration_run(scenario, borrowers=borrowers, days=days, seed=seed, overrides=overrides)


def calibration_seeds(n: int = CAL_SEEDS, base: int = 0) -> list[int]:
    """The run seeds: replicate seeds of the project's sweep convention, shared by every scenario."""
    from .rng import replicate_seed

    return [replicate_seed(base, r) for r in range(n)]


def run_calibration(
    *, borrowers: int = CAL_BORROWERS, days: int = CAL_DAYS, seeds: int = CAL_SEEDS, workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[int, dict[str, float]]]:
    """Run every calibration scenario for every seed: ``{label: {seed: metrics}}``."""
    import os

    seed_list = calibration_seeds(seeds)
    jobs = [(label, sc, ov, s, borrowers, days) for label, (sc, ov) in CAL_RUNS.items() for s in seed_list]
    workers = workers or max(1, min(len(jobs), os.cpu_count() or 1))
    out: dict[str, dict[int, dict[str, float]]] = {label: {} for label in CAL_RUNS}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for label, seed, m in pool.map(_one_run, jobs):
            out[label][seed] = m
            if log:
                log(f"  {label} seed {seed}: done")
    return out


def mean_ci(values: list[float], rate: bool = False) -> tuple[float, float, float]:
    """Mean and 95% confidence interval of the mean over seeds (Student t; for a rate on the logit
    scale, see :func:`sim.analysis.mean_ci`); undefined values (NaN) are left out."""
    from .analysis import mean_ci as ci

    n, mean, lo, hi = ci([float(v) for v in values], rate=rate)
    if n == 1:
        return mean, mean, mean
    return mean, lo, hi


@dataclass(frozen=True)
class Target:
    what: str
    target: str
    source: str
    measured: str
    value: Callable[[dict[str, dict[int, dict[str, float]]], int], float] | None  # (results, seed) -> value
    fmt: str = "pct"  # pct | signed_pct | number


def _get(label: str, key: str):
    return lambda res, seed: res[label][seed][key]


def _rel(a: str, b: str, key: str):
    """Relative change of ``key`` in run ``a`` against run ``b``, same seed (common random numbers)."""
    def rel(res, seed):
        base = res[b][seed][key]
        return res[a][seed][key] / base - 1.0 if base else float("nan")

    return rel


TARGETS: list[Target] = [
    Target(
        "Ever 30+ DPD within the first year",
        "≈ 8.07%",
        "Home Credit Default Risk data set (Kaggle 2018): share of loans with payment difficulties (TARGET = 1)",
        "`ever_30dpd_rate`, baseline",
        _get("baseline", "ever_30dpd_rate"),
    ),
    Target(
        "Default (charge-off) rate",
        "below the ever-30+ rate",
        "Follows from the above: not every loan that reaches 30 DPD is charged off",
        "`default_rate`, baseline",
        _get("baseline", "default_rate"),
    ),
    Target(
        "Roll rate 30 → 60 DPD",
        "plausible: 30–60%",
        "Typical of consumer instalment portfolios (industry roll-rate tables)",
        "`roll_30_60`, baseline",
        _get("baseline", "roll_30_60"),
    ),
    Target(
        "Pre-due SMS reminder raises on-time payment",
        "+7 to +9% (relative)",
        "Cadena & Schoar (2011), Remembering to pay? Reminders vs. financial incentives for loan payments, "
        "NBER WP 17020",
        "on-time rate (share of instalments due on current loans paid before 1 DPD) of baseline / the same "
        "without the day −3 SMS − 1, paired by seed",
        _rel("baseline", "baseline_no_presms", "on_time_rate"),
        "signed_pct",
    ),
    Target(
        "Reminders cut late payments",
        "about −20% (relative)",
        "Karlan, Morten & Zinman (2016), A personal touch in text messaging can improve microloan repayment, "
        "Behavioral Science & Policy 1(2): personal SMS, returning clients",
        "late-payment rate (1 − on-time rate) of `reminders_only` / that of `no_collection` − 1, paired by seed",
        _rel("reminders_only", "no_collection", "late_rate"),
        "signed_pct",
    ),
    Target(
        "Charge-off of instalment loans",
        "120 DPD",
        "Regulatory loss classification (US FFIEC Uniform Retail Credit Classification policy, 2000)",
        "parameter `loans.charge_off_dpd`",
        None,
    ),
    Target(
        "Recoveries after charge-off",
        "16–32% of gross charge-offs",
        "Issuers' recoveries on gross charge-offs: Federal Reserve charge-off and recovery statistics; FTC (2013), The Structure and Practices of the Debt Buying Industry",
        "`recoveries` / `credit_loss`, baseline, cumulative over the run",
        _get("baseline", "recovery_share"),
    ),
]


def _fmt(v: float, kind: str) -> str:
    if kind == "pct":
        return f"{100 * v:.2f}%"
    if kind == "signed_pct":
        return f"{100 * v:+.1f}%"
    return f"{v:.3g}"


def calibration_table(results: dict | None = None, *, borrowers=CAL_BORROWERS, days=CAL_DAYS) -> str:
    """The calibration table; model values from ``results`` (``None``: not yet computed)."""
    seeds = list(next(iter(results.values()))) if results else []
    head = (
        f"Model values: mean and 95% confidence interval of the mean over {len(seeds)} seeds "
        f"({borrowers:,} people × {days} days each; seeds {', '.join(map(str, seeds))}), "
        f"generated by `python -m sim.docs --calibration` on {date.today().isoformat()}."
        if results
        else "Model values not computed yet: run `python -m sim.docs --calibration`."
    )
    out = [
        head,
        "",
        "| Target | Target value | Source | Model value (mean [95% CI]) | Model quantity |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in TARGETS:
        if t.value is None:
            model = f"{Scenario().loans.charge_off_dpd} DPD (parameter)"
        elif results:
            vals = [t.value(results, s) for s in seeds]
            m, lo, hi = mean_ci(vals, rate=t.fmt == "pct")
            model = f"{_fmt(m, t.fmt)} [{_fmt(lo, t.fmt)}, {_fmt(hi, t.fmt)}]"
        else:
            model = "not computed"
        out.append(f"| {_cell(t.what)} | {_cell(t.target)} | {_cell(t.source)} | {model} | {t.measured} |")
    if results:
        out.append("")
        out.append("Supporting per-scenario means (same runs):")
        out.append("")
        out.append(
            "| Run | ever 30+ DPD | default rate | roll 30→60 | on-time rate | late rate | recoveries / credit loss |"
        )
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for label, by_seed in results.items():
            sc, ov = CAL_RUNS[label]
            name = f"`{sc}`" + (" without the day −3 SMS" if ov else "")

            def avg(k):
                return sum(by_seed[s][k] for s in seeds) / len(seeds)

            out.append(
                f"| {name} | {_fmt(avg('ever_30dpd_rate'), 'pct')} | {_fmt(avg('default_rate'), 'pct')} | "
                f"{_fmt(avg('roll_30_60'), 'pct')} | {_fmt(avg('on_time_rate'), 'pct')} | "
                f"{_fmt(avg('late_rate'), 'pct')} | {_fmt(avg('recovery_share'), 'pct')} |"
            )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.docs", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/ODD.md is out of date; change nothing")
    ap.add_argument("--calibration", action="store_true", help="also run the calibration simulations (slow)")
    ap.add_argument("--file", type=Path, default=ODD_PATH, help="the ODD file (default: docs/ODD.md)")
    ap.add_argument("--borrowers", type=int, default=CAL_BORROWERS, help="people per calibration run")
    ap.add_argument("--days", type=int, default=CAL_DAYS, help="days per calibration run")
    ap.add_argument("--seeds", type=int, default=CAL_SEEDS, help="seeds per calibration scenario")
    ap.add_argument("--workers", type=int, default=None, help="parallel processes for calibration runs")
    args = ap.parse_args(argv)

    if args.check:
        ok, msg = check(args.file)
        print(msg, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1

    cal = None
    if args.calibration:
        n = len(CAL_RUNS) * args.seeds
        print(f"calibration: {n} runs of {args.borrowers:,} people x {args.days} days", file=sys.stderr)
        res = run_calibration(
            borrowers=args.borrowers, days=args.days, seeds=args.seeds, workers=args.workers,
            log=lambda s: print(s, file=sys.stderr),
        )
        cal = calibration_table(res, borrowers=args.borrowers, days=args.days)
    try:
        changed = update(args.file, calibration=cal)
    except DocsError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{args.file}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
