"""Macro conditions over time: the recession timeline.

The timeline is on the measurement window's clock: ``conditions(params, t - model.t0)``, so
``start_day = 180`` is 180 days into the window, after the burn-in (day ``t`` of the run is day
``t - t0`` of the window, negative during the burn-in).

Severity rises linearly over ``onset_days`` from ``start_day``, holds for ``peak_days``, then eases
linearly over ``easing_days``. Each multiplier is ``1 + severity * shape(day) * (multiplier - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Conditions:
    job_loss: float = 1.0
    emergency: float = 1.0
    reemployment: float = 1.0


def shape(rec, day: int) -> float:
    """Recession intensity on a day, 0..1."""
    if not rec.enabled:
        return 0.0
    x = day - rec.start_day
    if x < 0:
        return 0.0
    if x < rec.onset_days:
        return x / rec.onset_days
    x -= rec.onset_days
    if x < rec.peak_days:
        return 1.0
    x -= rec.peak_days
    if x < rec.easing_days:
        return 1.0 - x / rec.easing_days
    return 0.0


def conditions(params, day: int) -> Conditions:
    rec = params.macro.recession
    s = shape(rec, day) * rec.severity
    return Conditions(
        job_loss=1.0 + s * (rec.job_loss_multiplier - 1.0),
        emergency=1.0 + s * (rec.emergency_multiplier - 1.0),
        reemployment=float(np.clip(1.0 + s * (rec.reemployment_multiplier - 1.0), 0.05, None)),
    )


def step(model, t) -> None:
    """Step 1 of the day."""
    model.macro = conditions(model.params, t - model.t0)
