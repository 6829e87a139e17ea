"""Collection tactics: the lender's strategy as a list of components.

A scenario lists the tactics its lender runs in ``collection.tactics``; each tactic's settings are the
section ``collection.<name>``. A tactic is one module in this package that defines one subclass of
:class:`Tactic` and names it ``TACTIC``. The class declares, in one place:

* ``name`` (its key in the scenario) and ``doc`` (one line for docs and the app);
* ``Params``: its parameter section (units, defaults, ranges, with :func:`sim.paramtypes.P`);
* ``rank``: where it runs in the lender's day (lower first; docs/ODD.md lists the order);
* ``counters``: what it counts (name -> meaning), reported as summary keys over the window (a meaning
  ending in "(CU)" makes it a money counter, a float);
* ``state``: per-person arrays it keeps (name -> (dtype, fill)), created on ``model.people``;
* hooks, all optional: ``collect`` (step 6, before charge-off), ``recover`` (step 6, after
  charge-off), ``offer`` and ``ask`` (inside a conversation, before and after the borrower's own
  response), ``inbound`` (a borrower called the lender), ``before_payments`` / ``after_payments``
  (step 4), ``priority`` (who gets scarce contacts first), ``willingness`` (a logit term the tactic adds to
  borrowers' willingness to pay, :func:`sim.mechanisms.repayment.willingness`), ``screen`` (which approved
  applicants underwriting still refuses, :mod:`sim.mechanisms.acquisition`).

Every outbound contact a tactic makes goes through :func:`sim.tactics.pipeline.contact`: regulation,
capacity in priority order, cost, reach (a message or a conversation) and the conversation's
follow-ups. Nothing outside this package needs to change to add a tactic: the parameter tree, the
scenario validation, the summary keys, the docs tables and the app's list of tactics are generated
from the tactics found here (docs/ODD.md, "How to add a tactic").
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import ClassVar

import numpy as np

from ..paramtypes import Section
from ..rng import PersonStream

def distinct_rows(parts: list[np.ndarray]) -> np.ndarray:
    """The sorted, distinct rows of the index arrays ``parts`` (``np.unique`` of their concatenation,
    without its overhead on the small arrays of a day)."""
    rows = np.concatenate(parts)  # a new array: sorted in place
    rows.sort()
    if len(rows) > 1:
        rows = rows[np.concatenate(([True], rows[1:] != rows[:-1]))]
    return rows


#: the tactics a scenario runs when it does not say (the status quo)
DEFAULT = ("reminders", "visits", "promises", "recovery")


class Tactic:
    """One collection tactic. Subclasses set the class attributes and override the hooks they use."""

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    Params: ClassVar[type[Section]] = Section
    rank: ClassVar[int] = 100
    counters: ClassVar[dict[str, str]] = {}
    state: ClassVar[dict[str, tuple[type, object]]] = {}

    def __init__(self, model, active: bool):
        self.model = model
        self.active = active
        # a money counter (its meaning ends in "(CU)") is a float from the start, so a run in which it
        # never moved stores it with the same type as one in which it did (one Parquet schema per sweep)
        self.counts = {k: 0.0 if doc.endswith("(CU)") else 0 for k, doc in self.counters.items()}
        #: this tactic's own per-person random stream (sim.rng), named after it
        self.draw = PersonStream(model.seed, f"tactics.{self.name}")
        n = model.people.n
        for key, (dtype, fill) in self.state.items():
            setattr(model.people, key, np.full(n, fill, dtype))

    @property
    def p(self):
        """This tactic's parameters (read each time: a policy change may replace them mid-run)."""
        return getattr(self.model.params.collection, self.name)

    # ---- hooks: each is a no-op unless the tactic overrides it ----
    def before_payments(self, t: int) -> None: ...
    def after_payments(self, t: int) -> None: ...
    def collect(self, t: int) -> None: ...
    def recover(self, t: int) -> None: ...
    def offer(self, idx: np.ndarray, t: int, channel) -> None: ...
    def ask(self, idx: np.ndarray, t: int, channel) -> None: ...
    def inbound(self, idx: np.ndarray, t: int) -> None: ...
    def priority(self, idx: np.ndarray, t: int) -> np.ndarray | None:
        return None

    def willingness(self, idx: np.ndarray, t: int) -> np.ndarray | float:
        return 0.0

    def screen(self, idx: np.ndarray, t: int) -> np.ndarray:
        return idx


def _overrides(cls, hook: str) -> bool:
    return getattr(cls, hook) is not getattr(Tactic, hook)


@cache
def registry() -> dict[str, type[Tactic]]:
    """Every tactic in this package, by name, in the order they run (``rank``, then name)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, "TACTIC", None)
        if cls is not None:
            found.append(cls)
    found.sort(key=lambda c: (c.rank, c.name))
    names = [c.name for c in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two tactics share a name: {sorted(names)}")
    return {c.name: c for c in found}


class Tactics:
    """Every registered tactic, instantiated for one model; the scenario's list says which are active."""

    def __init__(self, model):
        listed = set(model.params.collection.tactics)
        self.all = {name: cls(model, name in listed) for name, cls in registry().items()}
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read which tactics are active (after a policy change)."""
        listed = set(model.params.collection.tactics)
        for name, tac in self.all.items():
            tac.active = name in listed
        self.active = [t for t in self.all.values() if t.active]
        self._hooks = {h: [t for t in self.active if _overrides(type(t), h)]
                       for h in ("before_payments", "after_payments", "collect", "recover", "offer", "ask",
                                 "inbound", "priority", "willingness", "screen")}

    def __getitem__(self, name: str) -> Tactic:
        return self.all[name]

    def is_active(self, name: str) -> bool:
        return self.all[name].active

    def run(self, hook: str, *args) -> None:
        for tac in self._hooks[hook]:
            getattr(tac, hook)(*args)

    def priority(self, idx: np.ndarray, t: int) -> np.ndarray | None:
        """A sort key for scarce contacts (lower first) from an active prioritising tactic, or None."""
        for tac in self._hooks["priority"]:
            key = tac.priority(idx, t)
            if key is not None:
                return key
        return None

    def willingness(self, idx: np.ndarray, t: int) -> np.ndarray | float:
        """The logit terms the active tactics add to the willingness to pay of ``idx`` (0.0 if none)."""
        z = 0.0
        for tac in self._hooks["willingness"]:
            z = z + tac.willingness(idx, t)
        return z

    def screen(self, idx: np.ndarray, t: int) -> np.ndarray:
        """The approved applicants ``idx`` that no active tactic refuses."""
        for tac in self._hooks["screen"]:
            idx = tac.screen(idx, t)
        return idx

    def counts(self) -> dict[str, float]:
        """Every tactic's counters, flat (counter names are unique across tactics)."""
        out: dict[str, float] = {}
        for tac in self.all.values():
            out.update(tac.counts)
        return out
