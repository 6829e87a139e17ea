"""The app's exports: the session's run as the files ``credsim run --out`` writes, and its scenario.

:func:`result_of` builds the same :class:`sim.runner.Result` that :func:`sim.run` returns (the same
daily series, loan table, vintages and roll matrix, from the same functions), so the files go
through the one results writer, :meth:`Result.save`. :func:`scenario_toml` writes the scenario as
run: the strategy's file extended by the levers' overrides and the number of people; with the seed
(in its header) ``credsim run scenario.toml --seed SEED`` runs the same model again.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from . import metrics
from .regions import toml_value
from .runner import Result
from .scenario import SCENARIO_DIR, resolve_path

#: what the app offers to download: file name -> what it holds
EXPORTS = {
    "daily.csv": "the daily series so far (every day, the burn-in flagged), as CSV",
    "daily.parquet": "the same, as Parquet (as credsim run --out writes it)",
    "loans.parquet": "one row per loan (the per-loan table)",
    "scenario.toml": "the scenario as run: strategy, levers and size; the seed and the command in its header",
    "run.zip": "everything credsim run --out writes (daily, vintages, loans, roll, summary.json) and scenario.toml",
}


def result_of(model) -> Result:
    """The model's run so far as a :class:`Result`, built as :func:`sim.run` builds it (during the
    burn-in the summary is empty: nothing is measured before the window starts). Its scenario is the
    one the run started from (a policy change on a given day replaces the model's parameters, not
    what was run); ``window_days`` in summary.json is the days measured so far."""
    import warnings

    daily = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    with warnings.catch_warnings():  # undefined metrics early in the window are null in summary.json,
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)  # not a warning in the server log
        summary = model.summary() if model.day >= model.t0 else {}
    measured = max(model.day - model.t0, 0)
    return Result(scenario=model.scenario_given, seed=model.seed, summary=summary, daily=daily,
                  books=model.lender.books.as_dict(), vintages=metrics.vintages(model),
                  loans=metrics.loan_table(model), roll_matrix=metrics.roll_matrix(model),
                  measured_days=measured if measured < model.scenario_given.simulation.days else None)


def extends_of(strategy: str) -> str:
    """How the exported file names its base: a shipped scenario by file name, else an absolute path."""
    path = resolve_path(strategy).resolve()
    return path.name if path.parent == SCENARIO_DIR.resolve() else path.as_posix()


def scenario_toml(model) -> str:
    """The scenario the model runs, as a scenario file (the seed and the command in the header)."""
    overrides = {"population.borrowers": int(model.scenario_given.population.borrowers), **model.levers}
    lines = [
        f"# Exported from credsim viz on day {model.day} of {model.days}: strategy {model.strategy_name}, seed {model.seed}.",
        f"# Reproduce the run: credsim run scenario.toml --seed {model.seed} --out DIR",
        f"extends = {toml_value(extends_of(model.strategy))}",
        f"name = {toml_value(model.scenario_given.name)}",
        f"description = {toml_value(model.scenario_given.description)}",
    ]
    lines += [f"{key} = {toml_value(value)}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"


def export_bytes(model, name: str) -> bytes:
    """The content of export ``name`` (a key of :data:`EXPORTS`) for the model as it stands."""
    if name == "scenario.toml":
        return scenario_toml(model).encode()
    result = result_of(model)
    if name == "daily.csv":
        return result.daily.to_csv(index=False).encode()
    with tempfile.TemporaryDirectory(prefix="credsim-export-") as tmp:
        out = Path(tmp)
        result.save(out)
        if name == "run.zip":
            (out / "scenario.toml").write_text(scenario_toml(model))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(out.iterdir()):
                    z.write(f, f.name)
            return buf.getvalue()
        if name in ("daily.parquet", "loans.parquet"):
            return (out / name).read_bytes()
    raise KeyError(f"no export named {name!r}; expected one of {', '.join(EXPORTS)}")
