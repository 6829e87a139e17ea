"""Stress: each person's stress decays towards a calm baseline and jumps with what happens.

The day's experiences (job loss, emergencies, missed payments, contacts, visits, plans, charge-off)
are collected by the mechanisms through ``model.experience`` and applied here at once.
"""

from __future__ import annotations

import numpy as np


def step(model, t, idx, delta) -> None:
    """Step 7a: decay, then add the day's stress changes, kept in 0..1."""
    ppl, st = model.people, model.params.stress
    keep = np.exp2(-1.0 / st.halflife)
    ppl.stress *= keep
    ppl.stress += (1.0 - keep) * st.baseline
    if len(idx):
        np.add.at(ppl.stress, idx, delta)
        ppl.stress[idx] = np.clip(ppl.stress[idx], 0.0, 1.0)
