"""Stress: a lasting personal baseline, chronic strain from debt and arrears, and acute events.

Each day a person's stress moves towards its current level (half-life ``halflife``)::

    level = personal baseline
          + arrears_strain      while behind on this loan, or owing charged-off debt
          + debt_strain * DSTI  debt service to income, all creditors (this loan's instalment too)
          + unemployed_strain   while out of work

so strain lasts as long as its cause and lifts when the debt clears (relief). On top, the day's
events (job loss, emergency, a missed due date, contacts, visits by tone, charge-off; a plan that
fits relieves) move stress at once. Stress is kept in 0..1. The personal baseline is drawn once
(``baseline``, ``baseline_concentration``): people differ in how stressed they are in calm times.
"""

from __future__ import annotations

import numpy as np


def level(model, t) -> np.ndarray:
    """Everyone's current level: baseline plus chronic strain."""
    ppl, st = model.people, model.params.stress
    behind = (ppl.amount_due > 0.0) | (ppl.co_balance > 0.0)
    dsti = ppl.other_dsti + ppl.instalment / ppl.income
    return (
        ppl.stress_base
        + st.arrears_strain * behind
        + st.debt_strain * dsti
        + st.unemployed_strain * ~ppl.employed
    )


def step(model, t, idx, delta) -> None:
    """Step 7a: move towards the current level, then add the day's events, kept in 0..1."""
    ppl, st = model.people, model.params.stress
    keep = np.exp2(-1.0 / st.halflife)
    ppl.stress += (1.0 - keep) * (level(model, t) - ppl.stress)
    if len(idx):
        np.add.at(ppl.stress, idx, delta)
    np.clip(ppl.stress, 0.0, 1.0, out=ppl.stress)
