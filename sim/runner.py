"""The one run function: the CLI, the app, sweeps and notebooks all call :func:`run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import metrics
from .model import CreditModel, build_scenario
from .params import Scenario


@dataclass
class Result:
    """What a run produced: the scenario as run, its seed, the summary and the daily series."""

    scenario: Scenario
    seed: int
    summary: dict[str, float]
    daily: pd.DataFrame
    books: dict[str, Any] = field(default_factory=dict)
    vintages: pd.DataFrame | None = None  #: cohort default curves (:func:`sim.metrics.vintages`)

    def save(self, out: str | Path) -> None:
        """Write ``daily.parquet`` and ``summary.json`` into ``out``."""
        import json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.daily.to_parquet(out / "daily.parquet", compression="zstd", index=False)
        doc = {"scenario": self.scenario.name, "seed": self.seed, "summary": self.summary,
               "parameters": self.scenario.model_dump(mode="json")}
        (out / "summary.json").write_text(json.dumps(doc, indent=2) + "\n")


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
                  vintages=metrics.vintages(model))
