"""CreditModel: consumer-credit delinquency and debt collection, one step per day.

A consumer lender lends small instalment loans (cash and point-of-sale) to young, low-to-middle
income people with a low approval bar. People fall behind for economic reasons (job loss, family
emergencies), through spending habits (habit, impulse, present bias) and through poor understanding
of the contract. The lender escalates: reminders by SMS and phone, home visits from a configurable
days-past-due (DPD), flexible plans where its strategy offers them, charge-off and recovery.
Collection costs borrowers stress and, through their experience and word of mouth, costs the brand
trust, which feeds back into applications. Strategies are scenario files; nothing here branches on
which strategy is running.

Borrower state lives in NumPy arrays (:mod:`sim.state`); each mechanism is a module in
:mod:`sim.mechanisms`; every parameter is declared in :mod:`sim.params`. The lender is a Mesa agent
(:mod:`sim.lender`). Random draws come from named streams (:mod:`sim.rng`).

The day, in order (docs/ODD.md repeats this list; ``CreditModel.step`` is its only implementation):

1. macro conditions for the day (the recession timeline)                  mechanisms.macro
2. income and shocks: pay day, job loss, re-employment, emergencies       mechanisms.income
3. spending: impulse purchases; on pay day, setting the instalment aside  mechanisms.spending
4. instalments fall due; repayment decisions of those who decide today    mechanisms.loans,
   (due date, pay day, a promise due, a message that made them think        mechanisms.repayment,
   again): ability x willingness; then DPD, late fees, causes of serious    mechanisms.causes,
   delinquency, broken plans, cures and repaid loans; promises due today    mechanisms.conversations
   are kept or broken (broken ones escalate)
5. borrowers who foresee a shortfall may contact the lender early          mechanisms.early_contact
6. the lender collects by DPD within capacity: messages (SMS, unanswered   lender.Lender.step
   calls) and conversations (answered calls, visits that meet the
   borrower: reason, plan offers, promises), charge-off, recovery;
   funding cost accrues
7. stress moves towards baseline plus chronic strain, plus the day's       mechanisms.stress, .trust
   events; trust learns from experiences against expectation; word of
   mouth
8. applications arrive in proportion to trust; underwriting decides        mechanisms.acquisition
9. the IFRS 9 allowance on the day's closing book; the day's outcomes     accounting,
   are recorded                                                            metrics.snapshot

Before step 1, a policy that changes today (``Scenario.changes``) takes effect
(:meth:`CreditModel.change_policy`).

The run clock starts at day 0 with the set-up. The first ``simulation.burn_in`` days (``t0``) are a
burn-in that lets the book and people's feelings settle; the measurement window is days ``t0+1 ..
t0 + simulation.days``, and the summary is measured over it only (:class:`sim.metrics.Window`).
At step 9, :class:`sim.metrics.Window` also gathers what the summary needs from the window. The
recession timeline is on the window's clock (``macro.conditions(params, t - t0)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np

from . import collectors, metrics, regulation
from .lender import Lender
from .mechanisms import (
    acquisition,
    early_contact,
    income,
    loans,
    macro,
    population,
    repayment,
    spending,
    stress,
    trust,
)
from .params import Scenario
from .rng import Streams
from .scenario import load_scenario, timeline, with_overrides
from .state import CYCLE, LoanLedger
from .tactics import Tactics

EMPTY = np.zeros(0, np.int64)

#: Every attribute of the model that mechanisms, tactics, the lender, the accounts and the metrics read
#: or set, with its meaning. ``CreditModel.__init__`` creates each one (nothing creates one elsewhere;
#: mechanisms may only update them), and tests/test_structure.py checks both.
SHARED: dict[str, str] = {
    # the run
    "params": "the run's validated scenario (sim.params.Scenario); a policy change may replace it mid-run",
    "seed": "the run's seed: every random stream derives from it (sim.rng)",
    "streams": "the named random streams (sim.rng.Streams)",
    "day": "the day being stepped (0: the set-up)",
    "t0": "the last day of the burn-in: the measurement window is days t0 + 1 .. days",
    "days": "the last day stepped (burn-in plus window)",
    # who and what
    "people": "everyone's state as arrays (sim.state.People)",
    "lender": "the lender (sim.lender.Lender): books, capacities, provisions",
    "tactics": "the collection tactics, active or not (sim.tactics.Tactics)",
    "ledger": "one record per ended loan (sim.state.LoanLedger)",
    "next_loan_id": "the id the next loan originated gets",
    "pay_groups": "people by pay offset: pay_groups[k] are paid on the days with day % 30 == k",
    "score_threshold": "underwriting approves credit scores at or above this (set by population.create)",
    "collector_teams": "the collector teams built so far, by kind, with their parameters (sim.collectors.team)",
    "contact_history": "recent contacts per person, for the contact rules (sim.regulation.History)",
    "contact_log": "None, or a list that collects every contact: (day, channel, attempted, talked)",
    "stress_levels": "everyone's stress level, updated where it changed (sim.mechanisms.stress.Levels)",
    # the day's shared state
    "macro": "today's macro conditions (sim.mechanisms.macro.Conditions), set at step 1",
    "prompted_yesterday": "people a message made think again yesterday: they reconsider paying today",
    "billed_today": "rows whose instalment fell due today (loans.bill, step 4)",
    "promised_today": "people whose promise to pay falls due today (tactic promises, step 4)",
    "prev_delinquent": "rows with arrears after step 4 (refreshed at charge-off); the next day's step 4 finds cures in it",
    "talk": "the conversations of the contact being made, for the tactics' hooks (sim.tactics.pipeline.Talk), or None",
    "visit_queue": "loans waiting for a visit at the end of the day (tactic visits)",
    "applications_today": "applications made today (step 8)",
    "originations_today": "loans originated today (step 8)",
    # observation
    "datacollector": "Mesa's DataCollector of the daily series (sim.metrics.model_reporters)",
    "snapshot": "the day's outcomes (sim.metrics.snapshot, step 9)",
    "window": "what the summary gathers over the measurement window (sim.metrics.Window)",
}


def _any(value) -> bool:
    """``np.any(value)``; a plain number is tested directly (np.any costs microseconds on one)."""
    return value != 0 if type(value) in (float, int) else bool(np.any(value))


def build_scenario(scenario: str | Path | Scenario = "baseline", borrowers=None, days=None, overrides=None) -> Scenario:
    """A validated scenario from a path, a shipped name or a loaded one, with overrides applied."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    extra = dict(overrides or {})
    if borrowers is not None:
        extra["population.borrowers"] = int(borrowers)
    if days is not None:
        extra["simulation.days"] = int(days)
    return with_overrides(sc, extra) if extra else sc


class CreditModel(mesa.Model):
    """The market, the lender and one day per step.

    Keyword arguments only, so Mesa's tools can rebuild it:
    ``scenario`` (path, shipped name or loaded :class:`~sim.params.Scenario`), ``borrowers``,
    ``days``, ``overrides`` (dict of dotted keys), ``rng`` (the seed), and any further dotted
    parameter as a keyword (``**{"collection.visits.start_dpd": 45}``), which ``mesa.batch_run``
    uses to vary parameters.
    """

    def __init__(
        self,
        *,
        scenario: str | Path | Scenario = "baseline",
        borrowers: int | None = None,
        days: int | None = None,
        overrides: dict[str, Any] | None = None,
        rng: int | None = 0,
        **dotted: Any,
    ):
        seed = 0 if rng is None else int(rng)
        # Every attribute mechanisms and tactics share is declared in SHARED (above) and created here.
        super().__init__(rng=seed)
        self.params = build_scenario(scenario, borrowers, days, {**(overrides or {}), **dotted})
        self.seed = seed
        self.streams = Streams(seed)
        self.day = 0
        self.t0 = self.params.simulation.burn_in  # the measurement window starts at the end of day t0
        self.days = self.t0 + self.params.simulation.days  # days stepped: burn-in, then the window
        self.macro = macro.conditions(self.params, -self.t0)
        #: policies that change on a given day (``changes``): model day -> the scenario in force from then
        self.policy_changes = {self.t0 + day: sc for day, sc in timeline(self.params)}
        self.next_loan_id = 0
        self.ledger = LoanLedger()
        self._stress_events: list[tuple[np.ndarray, float]] = []
        self._trust_events: list[tuple[np.ndarray, float, float]] = []
        self._prompts: list[np.ndarray] = []
        self.prompted_yesterday = EMPTY
        self.promised_today = EMPTY  # borrowers whose promise to pay falls due today (tactic "promises")
        self.billed_today = EMPTY
        self.prev_delinquent = EMPTY
        self.applications_today = self.originations_today = self.visit_queue = 0
        self.stress_levels = stress.Levels()  # everyone's stress level, updated where it changed
        self.score_threshold = 0.0  # set by population.create
        self.talk = None  # set by sim.tactics.pipeline during a contact
        self.collector_teams: dict = {}  # filled by sim.collectors.team

        self.lender = Lender(self)
        self.people = population.create(self)
        self.contact_history = regulation.History(self.people.n)
        self.contact_log: list | None = None  # set to [] to log every contact: (day, channel, attempted, talked)
        self.tactics = Tactics(self)
        offsets = self.people.pay_offset
        order = np.argsort(offsets, kind="stable")
        bounds = np.searchsorted(offsets[order], np.arange(CYCLE + 1))
        self.pay_groups = [order[bounds[k] : bounds[k + 1]] for k in range(CYCLE)]
        population.initial_book(self)
        self.lender.provisions.update(self)  # the day-0 book's allowance (day 0 is not stepped)
        acquisition.start_clocks(self)
        self._drain_experiences()  # day-0 set-up is not an experience

        self.datacollector = mesa.DataCollector(model_reporters=metrics.model_reporters())
        self.snapshot = metrics.snapshot(self)
        self.datacollector.collect(self)
        self.window = metrics.Window(self)
        self.window.observe(self)
        if 0 in self.policy_changes:  # window day 0 without a burn-in is the set-up day: in force from day 1
            self.change_policy(self.policy_changes.pop(0))

    # ---- what mechanisms report during the day ----
    def experience(self, idx: np.ndarray, *, stress=0.0, quality=None, weight=0.0) -> None:
        """People in ``idx`` went through something: at step 7 their stress moves by ``stress``, and
        their trust learns from an experience of ``quality`` (0..1) and salience ``weight``."""
        if len(idx) == 0:
            return
        if _any(stress):  # a number, or one per person in idx (collectors differ)
            self._stress_events.append((idx, stress))
        if quality is not None and _any(weight):
            self._trust_events.append((idx, quality, weight))

    def prompt(self, idx: np.ndarray) -> None:
        """A message made ``idx`` think again: they reconsider paying tomorrow."""
        self._prompts.append(idx)

    @staticmethod
    def _gather(events, width):
        if not events:
            return (EMPTY,) + tuple(np.zeros(0) for _ in range(width))
        idx = np.concatenate([e[0] for e in events])
        vals = tuple(np.concatenate([np.full(len(e[0]), e[k]) for e in events]) for k in range(1, width + 1))
        return (idx,) + vals

    def _drain_experiences(self):
        s, t = self._gather(self._stress_events, 1), self._gather(self._trust_events, 2)
        self._stress_events, self._trust_events = [], []
        return s, t

    # ---- the day ----
    def step(self) -> None:
        """One day, in the order of the module docstring."""
        self.day += 1
        t = self.day
        self.prompted_yesterday = np.concatenate(self._prompts) if self._prompts else EMPTY
        self._prompts = []
        if t in self.policy_changes:  # a policy that changes today applies from the start of the day
            self.change_policy(self.policy_changes[t])

        macro.step(self, t)  # 1
        income.step(self, t)  # 2
        spending.step(self, t)  # 3
        loans.bill(self, t)  # 4
        self.tactics.run("before_payments", t)
        paid = repayment.step(self, t)
        loans.update(self, t, paid)
        self.tactics.run("after_payments", t)
        early_contact.step(self, t)  # 5
        self.lender.step()  # 6
        (s_idx, s_val), (t_idx, t_q, t_w) = self._drain_experiences()  # 7
        stress.step(self, t, s_idx, s_val)
        trust.step(self, t, t_idx, t_q, t_w)
        acquisition.step(self, t)  # 8
        self.lender.provisions.update(self)  # 9
        self.snapshot = metrics.snapshot(self)
        self.datacollector.collect(self)
        self.window.observe(self)
        if self.day >= self.days:
            self.running = False

    def change_policy(self, params: Scenario) -> None:
        """From now on the model runs under ``params`` (validated; see ``Scenario.changes``). Mechanisms
        read ``self.params`` when they act; what was derived from it at set-up is derived again here:
        which tactics are active, the call and visit capacities, the approval threshold, the attention
        floor and the stress levels. Collector teams rebuild themselves when their parameters change
        (:func:`sim.collectors.team`)."""
        self.params = params
        self.tactics.refresh(self)
        self.lender.call_capacity = collectors.capacity(params, "call")
        self.lender.visit_capacity = collectors.capacity(params, "field")
        self.score_threshold = population.score_threshold(self.people.score, params.acquisition.cutoff)
        self.people.attention_floor = params.repayment.attention_floor
        self.stress_levels.reset()

    def summary(self) -> dict:
        return metrics.summary(self)

    def borrower(self, i: int):
        """One person's state as a plain object, for inspection and the app (never on the daily path)."""
        from .borrower import Borrower

        return Borrower.of(self, i)
