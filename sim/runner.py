"""The one run function: the CLI, the app, sweeps and notebooks all call :func:`run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import metrics
from .model import CreditModel, build_scenario
from .params import Scenario


#: The files :meth:`Result.save` writes, in order (the summary last, as in a sweep).
RUN_FILES = ("daily.parquet", "vintages.parquet", "loans.parquet", "roll.parquet", "summary.json")


def json_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary for JSON: an undefined (NaN) metric is ``null``; so is an infinite one, with a
    :class:`sim.store.NonFiniteWarning` (JSON has no infinity, and no parameter in its range gives one)."""
    from .store import finite_json

    return finite_json({k: (float(v) if isinstance(v, float) else v) for k, v in summary.items()})


@dataclass
class Result:
    """What a run produced: the scenario as run, its seed, the summary, the daily series, and the
    tables of loans, vintages and roll rates.

    ``daily`` holds every day of the run, the burn-in included (column ``burn_in``); ``summary`` is
    measured over the measurement window only.
    """

    scenario: Scenario
    seed: int
    summary: dict[str, float]
    daily: pd.DataFrame
    books: dict[str, Any] = field(default_factory=dict)
    vintages: pd.DataFrame | None = None  #: cohort default curves (:func:`sim.metrics.vintages`)
    loans: pd.DataFrame | None = None  #: one row per loan (:func:`sim.metrics.loan_table`)
    roll_matrix: pd.DataFrame | None = None  #: monthly roll-rate matrix (:func:`sim.metrics.roll_matrix`)
    #: the window days the summary measured, if fewer than ``simulation.days`` (a run exported part-way)
    measured_days: int | None = None

    @property
    def t0(self) -> int:
        """The day the measurement window starts (its end): ``simulation.burn_in``."""
        return self.scenario.simulation.burn_in

    def save(self, out: str | Path) -> None:
        """Write ``daily.parquet``, ``vintages.parquet``, ``loans.parquet``, ``roll.parquet`` and
        ``summary.json`` into ``out``, each to a temporary name renamed into place."""
        from .store import atomic_json, atomic_parquet, provenance

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tables = {"daily": self.daily, "vintages": self.vintages, "loans": self.loans, "roll": self.roll_matrix}
        for name, table in tables.items():
            if table is not None:
                atomic_parquet(table, out / f"{name}.parquet")
        doc = {"scenario": self.scenario.name, "seed": self.seed, "burn_in": self.t0,
               "window_days": self.scenario.simulation.days if self.measured_days is None else self.measured_days,
               "summary": json_summary(self.summary),
               "parameters": self.scenario.model_dump(mode="json"),
               "provenance": provenance(self.scenario, self.seed)}
        atomic_json(doc, out / "summary.json")


def run(
    scenario: str | Path | Scenario,
    *,
    borrowers: int | None = None,
    days: int | None = None,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Run one scenario (a path, a shipped name or a loaded scenario) and return its results.

    ``overrides`` maps dotted parameter names to values, e.g. ``{"collection.visits.start_dpd": 45}``.
    ``progress(day, days)`` is called after each day if given (``days`` counts the burn-in and the
    window: ``simulation.burn_in + simulation.days``).
    """
    sc = build_scenario(scenario, borrowers, days, overrides)
    model = CreditModel(scenario=sc, rng=seed)
    for _ in range(model.days):  # burn-in + window
        model.step()
        if progress is not None:
            progress(model.day, model.days)
    daily = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    return Result(scenario=sc, seed=seed, summary=model.summary(), daily=daily, books=model.lender.books.as_dict(),
                  vintages=metrics.vintages(model), loans=metrics.loan_table(model),
                  roll_matrix=metrics.roll_matrix(model))
