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


def level(model, t, idx=None) -> np.ndarray:
    """The current level of the people in ``idx`` (everyone if ``None``): baseline plus chronic strain."""
    ppl, st = model.people, model.params.stress
    rows = slice(None) if idx is None else idx
    behind = (ppl.amount_due[rows] > 0.0) | (ppl.co_balance[rows] > 0.0)
    dsti = ppl.other_dsti[rows] + ppl.instalment[rows] / ppl.income[rows]
    return (
        ppl.stress_base[rows]
        + st.arrears_strain * behind
        + st.debt_strain * dsti
        + st.unemployed_strain * ~ppl.employed[rows]
    )


class Levels:
    """Everyone's level (:func:`level`), kept between days and recomputed only for the rows whose
    changing inputs changed since the last call: being behind, the instalment and employment. Each
    row is computed by the same formula, so the result is exactly :func:`level` of everyone, at the
    cost of a few comparisons a day. The lasting traits it reads (``stress_base``, ``other_dsti``,
    ``income``) are fixed after set-up; whoever changes them afterwards calls :meth:`reset`."""

    INPUTS = ("instalment", "employed")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Recompute everyone's level at the next call."""
        self.value = None  # the levels
        self.behind = None  # being behind, when they were computed
        self.inputs = {}  # the other changing inputs, when they were computed

    def current(self, model, t) -> np.ndarray:
        ppl = model.people
        behind = (ppl.amount_due > 0.0) | (ppl.co_balance > 0.0)
        if self.value is None or len(self.value) != ppl.n:
            self.value = level(model, t)
            self.behind = behind
            self.inputs = {name: getattr(ppl, name).copy() for name in self.INPUTS}
            return self.value
        changed = behind != self.behind
        for name, seen in self.inputs.items():
            changed |= getattr(ppl, name) != seen
        rows = changed.nonzero()[0]
        if len(rows):
            self.value[rows] = level(model, t, rows)
            self.behind[rows] = behind[rows]
            for name, seen in self.inputs.items():
                seen[rows] = getattr(ppl, name)[rows]
        return self.value


def step(model, t, idx, delta) -> None:
    """Step 7a: move towards the current level, then add the day's events, kept in 0..1."""
    ppl, st = model.people, model.params.stress
    keep = np.exp2(-1.0 / st.halflife)
    move = np.subtract(model.stress_levels.current(model, t), ppl.stress)
    move *= 1.0 - keep
    ppl.stress += move
    if len(idx):
        np.add.at(ppl.stress, idx, delta)
    np.clip(ppl.stress, 0.0, 1.0, out=ppl.stress)
