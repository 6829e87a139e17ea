"""Which parameters are assumptions of the model, and over what range sensitivity analysis varies them.

Every leaf parameter of :class:`sim.params.Scenario` falls in exactly one **class**, by the first rule
of :data:`RULES` whose pattern (``fnmatch`` on the dotted path) matches it:

``assumption``
    how people and mechanisms behave, without direct evidence: the population's behaviour and
    finances, shocks and the support people have when out of work, the repayment decision rule
    (``repayment.*``: intercept, pressure, attention, reconsideration, ...), stress, trust, word of
    mouth, applications, and the *effects* of collection (what a call, a visit, a promise does).
``policy``
    a lever someone chooses: the lender's strategy (its tactic list, the ladder, capacities and
    headcounts, collectors' tone and training, when to visit, plan and settlement terms, its
    scorecard), its products, contract terms and underwriting cut-off, and the regulator's rules.
``accounting``
    money only: unit costs, funding, capital, provisions, debt prices. They move ``npv`` and profit,
    not what anyone does.
``setup``
    what the run is: its labels and length, the population size, the currency scale, the day-0
    book (washed out by the burn-in), outcome definitions, and the recession a scenario imposes.

An assumption can only matter in a scenario where its mechanism runs: the settings of a tactic the
scenario does not list, of education when it is off, and so on (:data:`NEEDS`). The group
``"assumptions"`` of a sweep design (``[design] include = ["assumptions"]``, :mod:`sim.sweep`) is
every assumption that is **active** in at least one of the sweep's scenarios.

The **plausible range** (:func:`plausible_range`), one rule: half to twice the declared default,
clipped to the declared validity bounds; for a location on the logit scale (unit ``logit``, a name
ending in ``intercept``) the default plus or minus 1. :data:`PLAUSIBLE` holds declared exceptions with
their reason (none today); an assumption with a default of 0, which the rule cannot scale, must have one.
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from typing import Any, Callable

from .params import Scenario, iter_parameters

ASSUMPTION, POLICY, ACCOUNTING, SETUP = "assumption", "policy", "accounting", "setup"
CLASSES = (ASSUMPTION, POLICY, ACCOUNTING, SETUP)

#: (pattern, class): the first pattern that matches a dotted path decides its class
RULES: tuple[tuple[str, str], ...] = (
    # what the run is
    ("name", SETUP), ("description", SETUP), ("changes", SETUP), ("simulation.*", SETUP),
    ("population.borrowers", SETUP), ("population.initial_loan_share", SETUP),
    ("population.income_median", SETUP), ("stress.high_threshold", SETUP), ("macro.*", SETUP),
    # money only
    ("lender.*", ACCOUNTING), ("*_cost", ACCOUNTING), ("*.cost", ACCOUNTING), ("*.cost_share", ACCOUNTING),
    ("collection.debt_sale.price", ACCOUNTING), ("collection.collectors.commission", ACCOUNTING),
    # the effects of collection and of offers: how borrowers and collectors respond
    ("collection.tone.pressure_bonus", ASSUMPTION), ("collection.tone.diagnoses_hardship", ASSUMPTION),
    ("collection.collectors.calls_per_agent", ASSUMPTION), ("collection.collectors.visits_per_collector", ASSUMPTION),
    ("collection.collectors.*_sd", ASSUMPTION), ("collection.collectors.incentive_*", ASSUMPTION),
    ("collection.reminders.*_attention", ASSUMPTION), ("collection.reminders.phone_pressure", ASSUMPTION),
    ("collection.reminders.answer_rate", ASSUMPTION), ("collection.reminders.diagnoses_hardship", ASSUMPTION),
    ("collection.visits.verify_prob", ASSUMPTION), ("collection.visits.avoidance_effect", ASSUMPTION),
    ("collection.visits.pressure", ASSUMPTION), ("collection.visits.attention", ASSUMPTION),
    ("collection.promises.commitment", ASSUMPTION), ("collection.promises.broken_pressure", ASSUMPTION),
    ("collection.plans.acceptance", ASSUMPTION), ("collection.plans.false_hardship", ASSUMPTION),
    ("collection.settlement.acceptance", ASSUMPTION), ("collection.settlement.relief", ASSUMPTION),
    ("collection.settlement.quality", ASSUMPTION), ("collection.settlement.weight", ASSUMPTION),
    ("collection.moratorium.take_up", ASSUMPTION), ("collection.moratorium.relief", ASSUMPTION),
    ("collection.moratorium.quality", ASSUMPTION), ("collection.moratorium.weight", ASSUMPTION),
    ("collection.bureau.weight", ASSUMPTION), ("collection.bureau.line_months", ASSUMPTION),
    ("collection.bureau.closed_stress", ASSUMPTION), ("collection.debt_sale.buyer_*", ASSUMPTION),
    ("collection.recovery.pay_prob", ASSUMPTION), ("collection.recovery.pay_share", ASSUMPTION),
    # everything else the lender or the regulator sets
    ("collection.*", POLICY), ("regulation.*", POLICY), ("products.*", POLICY), ("loans.*", POLICY),
    ("education.enabled", POLICY), ("early_contact.channel", POLICY), ("acquisition.cutoff", POLICY),
    # people, shocks and mechanisms
    ("population.*", ASSUMPTION), ("shocks.*", ASSUMPTION), ("repayment.*", ASSUMPTION),
    ("early_contact.*", ASSUMPTION), ("education.*", ASSUMPTION), ("stress.*", ASSUMPTION),
    ("trust.*", ASSUMPTION), ("acquisition.*", ASSUMPTION),
)


def _tactic(name: str) -> Callable[[Scenario], bool]:
    return lambda sc: name in sc.collection.tactics


#: (pattern, condition on the scenario): an assumption matching the pattern acts only when it holds
NEEDS: tuple[tuple[str, Callable[[Scenario], bool]], ...] = (
    *((f"collection.{t}.*", _tactic(t)) for t in
      ("reminders", "visits", "promises", "recovery", "plans", "settlement", "moratorium", "bureau", "debt_sale")),
    ("collection.tone.*", _tactic("visits")),
    ("collection.collectors.harshness_sd", _tactic("visits")),
    ("collection.collectors.calls_per_agent", lambda sc: sc.collection.collectors.call_agents is not None),
    ("collection.collectors.visits_per_collector", lambda sc: sc.collection.collectors.field_collectors is not None),
    ("collection.collectors.incentive_*", lambda sc: sc.collection.collectors.incentive > 0),
    ("education.*", lambda sc: sc.education.enabled),
    ("early_contact.channel_prob", lambda sc: sc.early_contact.channel),
    ("trust.plan_*", _tactic("plans")), ("stress.plan_relief", _tactic("plans")),
)

#: exceptions to the range rule: path -> (low, high, why)
PLAUSIBLE: dict[str, tuple[float, float, str]] = {}

GROUPS = ("assumptions",)


def classify(path: str) -> str:
    """The class of the parameter at ``path`` (``KeyError`` for a path no rule covers)."""
    for pattern, cls in RULES:
        if fnmatchcase(path, pattern):
            return cls
    raise KeyError(f"{path}: no classification rule in sim/assumptions.py matches it")


def classification() -> dict[str, str]:
    """Every leaf parameter's dotted path -> its class."""
    return {path: classify(path) for path, *_ in iter_parameters()}


def is_active(path: str, scenario: Scenario) -> bool:
    """Whether the mechanism the parameter at ``path`` belongs to runs in ``scenario``."""
    return all(cond(scenario) for pattern, cond in NEEDS if fnmatchcase(path, pattern))


def _declared() -> dict[str, tuple[Any, str, Any]]:
    return {path: (default, unit, ann) for path, unit, default, _d, ann in iter_parameters()}


def validity_bounds(path: str) -> tuple[float, float]:
    """The declared ``ge``/``gt``/``le``/``lt`` bounds of a parameter (infinite where none)."""
    obj: Any = Scenario()
    *parents, leaf = path.split(".")
    for p in parents:
        obj = getattr(obj, p)
    lo, hi = -math.inf, math.inf
    for m in type(obj).model_fields[leaf].metadata:
        if getattr(m, "ge", None) is not None:
            lo = max(lo, m.ge)
        if getattr(m, "gt", None) is not None:
            lo = max(lo, m.gt + 1e-9 * max(1.0, abs(m.gt)))
        if getattr(m, "le", None) is not None:
            hi = min(hi, m.le)
        if getattr(m, "lt", None) is not None:
            hi = min(hi, m.lt - 1e-9 * max(1.0, abs(m.lt)))
    return lo, hi


def plausible_range(path: str) -> tuple[float, float]:
    """The range sensitivity analysis varies the parameter over (see the module's docstring)."""
    if path in PLAUSIBLE:
        return PLAUSIBLE[path][:2]
    default, unit, _ann = _declared()[path]
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ValueError(f"{path}: not a number, no range")
    if unit == "logit" and path.endswith("intercept"):
        lo, hi = default - 1.0, default + 1.0
    elif default == 0:
        raise ValueError(f"{path}: default 0, the range rule cannot scale it; declare it in PLAUSIBLE")
    else:
        lo, hi = sorted((default * 0.5, default * 2.0))
    vlo, vhi = validity_bounds(path)
    return max(lo, vlo), min(hi, vhi)


def group(name: str, scenarios: list[Scenario]) -> dict[str, tuple[float, float]]:
    """The parameters of a design group with their plausible ranges, in declaration order."""
    if name not in GROUPS:
        raise KeyError(name)
    types = _declared()
    out = {}
    for path, cls in classification().items():
        if cls != ASSUMPTION or types[path][2] not in (int, float):
            continue
        if any(is_active(path, sc) for sc in scenarios):
            out[path] = plausible_range(path)
    return out
