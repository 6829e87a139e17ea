"""The core of credsim written the naive way: one Mesa agent per borrower, scalar attributes, plain
Python ``step`` methods.

This is the comparison point for the vectorised model in ``sim/`` (``benchmarks/bench_vs_mesa.py``
times both). It implements a **documented core subset** of the model, the one the scenario
``benchmarks/core.toml`` switches the vectorised model down to, and ``tests/test_mesa_core.py``
keeps the two **equal**: the same loans with the same DPD paths, payments, outcomes and days, the same
per-person cash, stress and payments, the same daily counts; money totals to floating-point
tolerance (a Python loop adds them up in another order than NumPy).

The core (each rule as in the module of ``sim/`` named; the day in the order of ``sim/model.py``):

2. pay day (``mechanisms.income.pay_day``; pay without month-to-month variation);
3. spending settled lazily (``mechanisms.spending.settle``: subsistence and other creditors paid
   first, habit, other creditors; charged for the days since the last settlement whenever cash is
   read) and setting the instalment aside on pay day (``spending.set_aside``);
4. billing (``loans.bill``), the repayment decision of those who decide today (``mechanisms.repayment``:
   due date, pay day, the day after a message that made them reconsider; ability x willingness with
   attention, literacy, understanding, present bias, stress, trust, pressure and the lasting personal
   effect; hoping), payments (``loans.pay``), then DPD, late fees, milestones, causes, cures and
   repaid loans (``loans.update``, ``mechanisms.causes``);
5. early contact ahead of a foreseen shortfall (``mechanisms.early_contact``);
6. the lender (``Lender.step``): the reminder ladder (``tactics.reminders``: SMS to all, calls within
   the call centre's capacity, most overdue first; an answered call is a conversation, an unanswered
   one a message; avoidance), charge-off (``loans.charge_off``), recovery (``tactics.recovery``),
   funding, operating and capital costs (``accounting.accrue_costs``);
7. stress towards baseline plus chronic strain, plus the day's events (``mechanisms.stress``); trust's
   drift to the personal prior (``mechanisms.trust``; no experience moves it in the core);
8. the application clock, underwriting and origination (``mechanisms.acquisition``, ``loans.originate``);
9. the IFRS 9 allowance (``accounting.Provisions``) and the day's numbers (a Mesa ``DataCollector``).

Left out (and switched off in ``core.toml``; :func:`check_core` refuses parameters outside the core):
job loss, re-employment, emergencies, impulse purchases and month-to-month pay variation draw from
whole-population streams (``sim.rng.STREAMS``: one generator draws for everyone in turn), so a rule
applied one person at a time cannot draw the same numbers; home visits, promises, plans, settlement,
moratorium, debt sale and risk-based priority (tactics left out of the list), money from family in
conversations, education, regulation in force, and trust's learning and word of mouth (their weights
are 0, so trust stays at each person's prior). Not reproduced either: the regulation breach counters,
the roll-rate matrix and vintages (outputs only).

What makes equality possible: every draw of the core is a per-person draw (``sim.rng.PersonStream``),
keyed by person and day, budget month or application number; the agents call the same
``PersonStream`` methods for one person at a time. Transcendental functions are NumPy's (``np.exp``,
``np.exp2``, ``np.log``, ``np.log1p`` on a Python float, ``np.power`` on one-element arrays), which
give the very bits the vectorised loops give (``math.exp`` and Python's ``**`` differ in the last
bit now and then); arithmetic is written in the order ``sim/`` writes it.

The set-up (population, network, day-0 book, application clocks) is not re-implemented: it draws
whole-population vectors from sequential streams, and it is not on the per-day path. The agents take
their starting state from a ``sim.CreditModel`` built with the same scenario and seed (see
:func:`initial_state`), and from then on the two models share nothing.

``python benchmarks/mesa_agents.py`` runs 1,000 x 365 of the core and prints its summary.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.mechanisms.causes import (EMERGENCY, JOB_LOSS, MISUNDERSTOOD, MISUNDERSTOOD_CODE, OVER_INDEBTED, SPENDING,
                                   STRATEGIC, WINDOW)
from sim.mechanisms.loans import EPS, MIN_RATE
from sim.model import CreditModel, build_scenario
from sim.params import Scenario
from sim.rng import Streams
from sim.state import (ACTIVE, CASH, CAUSES, CHARGED_OFF, CYCLE, DPD_MILESTONES, HOPED, OUTCOMES, PAID_ALL,
                       PAID_PART, POS, PRODUCTS, REPAID, UNABLE, UNWILLING)

CORE = Path(__file__).with_name("core.toml")  #: the scenario of the core subset
CORE_TACTICS = {"reminders", "recovery"}
CLOCK_GROUPS = 7  # as sim.mechanisms.acquisition.CLOCK_GROUPS
QUALITY_LIMIT = 2.0  # as sim.mechanisms.acquisition.QUALITY_LIMIT
NEVER = -(10**6)

#: per-person state copied from the set-up (names as in sim.state.People)
PERSON_FIELDS = (
    "income", "employed", "pay_offset", "cash", "reserved", "settled_day", "daily_subsistence", "daily_habit",
    "daily_other", "other_dsti", "other_first", "benefit", "present_bias", "literacy", "understanding", "score",
    "quality", "will_re", "stress", "stress_base", "trust", "trust_prior", "attention", "attention_day",
    "pressure", "pressure_day", "contact_load", "contact_day", "banned", "cooldown_until", "co_balance",
    "app_hazard", "app_threshold", "app_count", "last_decision", "hardship_until", "last_job_loss",
    "last_emergency", "contacts", "paid_total", "received_total", "income_received", "promise_day",
    "has_loan", "loan_id", "product", "orig_day", "principal", "principal_share", "balance", "instalment",
    "amount_due", "fees", "next_due", "dpd", "episodes", "max_dpd", *(f"day_dpd{k}" for k in DPD_MILESTONES),
    "promises", "promises_broken", "plans_taken", "first_plan_day", "redefault_day", "cause",
)
#: one row per loan (sim.state.LEDGER_FIELDS, with the plan count named as there)
LEDGER = ("loan_id", "person", "product", "orig_day", "end_day", "outcome", "principal", "max_dpd",
          *(f"day_dpd{k}" for k in DPD_MILESTONES), "promises", "promises_broken", "plans", "first_plan_day",
          "redefault_day", "cause")


def check_core(p: Scenario) -> None:
    """Raise ``ValueError`` naming the first parameter that takes the scenario outside the core subset."""
    need = [
        ("population.income_volatility", p.population.income_volatility, 0.0),
        ("population.informal_volatility", p.population.informal_volatility, 0.0),
        ("population.impulse_rate", p.population.impulse_rate, 0.0),
        ("shocks.job_loss_rate", p.shocks.job_loss_rate, 0.0),
        ("shocks.emergency_rate", p.shocks.emergency_rate, 0.0),
        ("repayment.family_help", p.repayment.family_help, 0.0),
        ("trust.call_weight", p.trust.call_weight, 0.0),
        ("trust.charge_off_weight", p.trust.charge_off_weight, 0.0),
        ("education.enabled", p.education.enabled, False),
        *((f"regulation.{r}", getattr(p.regulation, r), False)
          for r in ("call_cap", "visit_ban", "visit_limit", "fee_cap", "rate_cap", "forbearance")),
    ]
    for key, value, core in need:
        if value != core:
            raise ValueError(f"{key}: the per-agent core needs {core!r}, got {value!r} (see benchmarks/core.toml)")
    extra = sorted(set(p.collection.tactics) - CORE_TACTICS)
    if extra:
        raise ValueError(f"collection.tactics: the per-agent core runs only {sorted(CORE_TACTICS)}, got {extra}")


def initial_state(params: Scenario, seed: int):
    """The day-0 state from ``sim``'s own set-up (the same draws; not on the per-day path): the people's
    arrays by field, each loan's IFRS 9 allowance, and the lender's side as a namespace (books, score
    threshold, call capacity, next loan id)."""
    setup = CreditModel(scenario=params, rng=seed)
    ppl = setup.people
    lender = SimpleNamespace(books=dataclasses.replace(setup.lender.books), score_threshold=setup.score_threshold,
                             call_capacity=setup.lender.call_capacity, next_loan_id=setup.next_loan_id)
    return {name: getattr(ppl, name).copy() for name in PERSON_FIELDS}, setup.lender.provisions.allowance.copy(), lender


def one(x):
    return np.array([x])


def power(a: float, b: float) -> float:
    """``a ** b`` as NumPy's vectorised loop computes it (Python's ``**`` can differ in the last bit)."""
    return float(np.power(one(a), one(b))[0])


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + float(np.exp(-z)))


def decayed(level: float, day: int, t: int, halflife: float, floor: float = 0.0) -> float:
    return floor + max(level - floor, 0.0) * float(np.exp2(-(t - day) / halflife))


class Borrower(mesa.Agent):
    """One person in the market, with at most one loan. Attribute names follow ``sim.state.People``."""

    def __init__(self, model: "MesaCoreModel", index: int, state: dict[str, np.ndarray], allowance: float):
        super().__init__(model)
        self.index = index
        for name in PERSON_FIELDS:
            setattr(self, name, state[name][index].item())
        self.allowance = allowance  # IFRS 9 allowance of the open loan (end of yesterday)
        self.events: list[float] = []  # today's stress events, in the order they happened
        self.prompted_on = NEVER  # a message made them reconsider on this day
        self.billed_on = NEVER
        self.paid_on = NEVER
        self.was_late = False  # arrears after yesterday's (or today's) update: sim's prev_delinquent

    # ---- helpers ----
    def u(self, stream: str, day: int, slot: int = 0) -> float:
        return float(self.model.streams.person[stream].uniform(one(self.index), day, slot)[0])

    def u_keyed(self, stream: str, key: int, slot: int = 0) -> float:
        return float(self.model.streams.person[stream].uniform_keyed(one(self.index), one(key), slot)[0])

    def attention_now(self, t):
        rp = self.model.params.repayment
        return decayed(self.attention, self.attention_day, t, rp.attention_halflife, rp.attention_floor)

    def pressure_now(self, t):
        return decayed(self.pressure, self.pressure_day, t, self.model.params.repayment.pressure_halflife)

    def restore_attention(self, t, level):
        self.attention = max(self.attention_now(t), level)
        self.attention_day = t

    def add_pressure(self, t, amount):
        self.pressure = min(self.pressure_now(t) + amount, 1.0)
        self.pressure_day = t

    def avoidance(self, t) -> float:
        rp = self.model.params.repayment
        load = decayed(self.contact_load, self.contact_day, t, rp.contact_halflife)
        return 1.0 - float(np.exp(-(rp.avoid_stress * self.stress + rp.avoid_contacts * load)))

    def is_pay_day(self, t) -> bool:
        return t % CYCLE == self.pay_offset

    # ---- steps 2-5: the borrower's day up to the lender ----
    def morning(self, t: int) -> None:
        pay_day = self.is_pay_day(t)
        if pay_day:  # 2: pay (no month-to-month variation in the core)
            self.settle(t)
            pay = self.income * (1.0 if self.employed else self.benefit)
            self.cash += pay
            self.income_received += pay
            if self.has_loan:  # 3: set the instalment aside
                self.set_aside(t)
        if self.next_due == t:  # 4: billing
            self.bill(t)
        owed = self.amount_due + self.fees
        decides = self.billed_on == t or (pay_day and self.has_loan) or self.prompted_on == t - 1
        if decides and owed > 0.0:
            self.decide(t)
        self.update(t)
        self.early_contact(t)  # 5

    def settle(self, t: int) -> None:
        """Daily spending up to day ``t`` (sim.mechanisms.spending.settle, one person)."""
        if not (self.settled_day < t or self.cash < 0.0 or self.reserved < 0.0):
            return
        days = float(t - self.settled_day)
        other = self.daily_other * days
        need = self.daily_subsistence * days + (other if self.other_first else 0.0)
        from_cash = min(need, self.cash)
        self.cash -= from_cash
        self.reserved -= min(need - from_cash, self.reserved)
        self.cash -= min(self.daily_habit * days, self.cash)
        self.cash -= min(0.0 if self.other_first else other, self.cash)
        self.settled_day = t

    def set_aside(self, t: int) -> None:
        rp = self.model.params.repayment
        self.settle(t)
        attention = self.attention_now(t)
        planning = rp.earmark_weight * (1.0 - self.present_bias) * (0.5 + 0.5 * self.understanding)
        planning *= 0.5 + 0.5 * attention
        need = self.amount_due + self.fees + min(self.instalment, self.balance - self.amount_due)
        move = min(max(planning * need - self.reserved, 0.0), self.cash)
        self.cash -= move
        self.reserved += move

    def bill(self, t: int) -> None:
        books = self.model.books
        if self.amount_due <= 0.0:
            books.instalments_due += 1
        add = min(self.instalment, self.balance - self.amount_due)
        if add > EPS:
            self.amount_due += add
            self.next_due += CYCLE
            self.billed_on = t

    def willingness(self, t: int) -> float:
        prm = self.model.params
        rp, pop = prm.repayment, prm.population
        z = (
            rp.intercept
            + self.will_re
            + rp.attention_weight * (self.attention_now(t) - 0.5)
            + rp.literacy_weight * (self.literacy - pop.literacy_mean)
            + rp.understanding_weight * (self.understanding - (pop.literacy_mean - pop.understanding_gap))
            - rp.present_bias_weight * (self.present_bias - pop.present_bias_mean)
            - rp.stress_weight * (self.stress - prm.stress.baseline)
            + rp.trust_weight * (self.trust - prm.trust.prior)
            + rp.pressure_weight * self.pressure_now(t)
            + prm.collection.promises.commitment * (self.promise_day == t)
        )
        return sigmoid(z)

    def ability(self, t: int) -> float:
        rp = self.model.params.repayment
        days_to_pay = (self.pay_offset - t) % CYCLE or CYCLE
        redirect = rp.pressure_priority * self.pressure_now(t)
        other = self.daily_other * (1.0 - redirect) if self.other_first else 0.0
        keep = (self.daily_subsistence + other) * days_to_pay
        return max(self.cash + self.reserved - keep, 0.0)

    def decide(self, t: int) -> None:
        """The repayment decision: ability x willingness, one disposition draw per budget month."""
        rp = self.model.params.repayment
        self.settle(t)
        month = (t - self.pay_offset) // CYCLE
        willing = self.u_keyed("decision", month, 0) < self.willingness(t)
        owed = self.amount_due + self.fees
        able = self.ability(t)
        short = able < owed
        hope = sigmoid(rp.hope_intercept + rp.hope_stress_weight * self.stress)
        hoping = short and self.u_keyed("decision", month, 1) < hope
        amount = min(able, owed) if willing and not hoping else 0.0
        if able <= 0.0:
            self.last_decision = UNABLE
        elif not willing:
            self.last_decision = UNWILLING
        elif hoping:
            self.last_decision = HOPED
        elif short:
            self.last_decision = PAID_PART
        else:
            self.last_decision = PAID_ALL
        if amount > 0.0:
            self.pay(amount)
            self.paid_on = t

    def pay(self, amount: float) -> None:
        books = self.model.books
        to_due = min(amount, self.amount_due)
        to_fees = min(amount - to_due, self.fees)
        paid = to_due + to_fees
        from_reserved = min(paid, self.reserved)
        self.reserved -= from_reserved
        self.cash -= paid - from_reserved
        self.paid_total += paid
        self.amount_due -= to_due
        self.balance -= to_due
        self.fees -= to_fees
        if self.amount_due < EPS:
            self.amount_due = 0.0
        if self.balance < EPS:
            self.balance = 0.0
        if self.fees < EPS:
            self.fees = 0.0
        books.received += paid
        books.principal_repaid += to_due * self.principal_share
        books.interest_income += to_due * (1.0 - self.principal_share)
        books.fee_income += to_fees

    def update(self, t: int) -> None:
        """After the day's payments: cure, DPD, late fee, milestones, cause, repaid loan."""
        p, books = self.model.params, self.model.books
        if self.was_late and self.amount_due <= 0.0 and self.dpd > 0:
            books.cures += 1
            self.dpd = 0
        if self.amount_due > 0.0:
            missed = math.ceil(self.amount_due / self.instalment - 1e-9)
            old_dpd = self.dpd
            dpd = self.dpd = max(t - (self.next_due - CYCLE * missed), 0)
            if old_dpd == 0 and dpd > 0:
                books.delinquency_episodes += 1
                if self.episodes == 0:
                    books.ever_delinquent_loans += 1
                self.episodes += 1
                self.experience(p.stress.missed_payment)
            if dpd >= p.loans.fee_dpd and (dpd - p.loans.fee_dpd) % CYCLE == 0:
                self.fees += p.loans.late_fee_share * self.instalment
            hit30 = dpd >= 30 and self.day_dpd30 < 0
            if dpd > self.max_dpd:
                self.max_dpd = dpd
                for k in DPD_MILESTONES:
                    if dpd >= k and getattr(self, f"day_dpd{k}") < 0:
                        setattr(self, f"day_dpd{k}", t)
            if hit30 and self.cause < 0:
                self.cause = self.classify(t)
        if self.paid_on == t and self.balance <= 0.0 and self.fees <= 0.0:
            books.repaid_loans += 1
            self.close(t, REPAID)
        self.was_late = self.amount_due > 0.0

    def classify(self, t: int) -> int:
        short = self.last_decision in (UNABLE, PAID_PART, HOPED)
        if not self.employed or t - self.last_job_loss <= WINDOW:
            return JOB_LOSS
        if t - self.last_emergency <= WINDOW:
            return EMERGENCY
        if short and self.other_dsti * self.income >= self.instalment:
            return OVER_INDEBTED
        if short:
            return SPENDING
        return MISUNDERSTOOD_CODE if self.understanding < MISUNDERSTOOD else STRATEGIC

    def early_contact(self, t: int) -> None:
        ec = self.model.params.early_contact
        h = ec.horizon_days
        if self.next_due != t + h or self.amount_due > 0.0:
            return
        u = self.u("early_contact", t)
        base = ec.channel_prob if ec.channel else ec.base_prob
        prob = base * (self.literacy + self.trust) * (1.0 - self.avoidance(t))
        if self.foresee_shortfall(t, h) and u < prob:
            self.model.books.early_contacts += 1
            self.restore_attention(t, 1.0)

    def foresee_shortfall(self, t: int, horizon: int) -> bool:
        self.settle(t)
        days_to_pay = (self.pay_offset - t) % CYCLE
        paid_before = 1 <= days_to_pay <= horizon
        expected_pay = self.income * (1.0 if self.employed else self.benefit) if paid_before else 0.0
        burn = (self.daily_subsistence + self.daily_habit + self.daily_other) * horizon
        at_due = self.cash + self.reserved + expected_pay - burn
        due_to_pay = (self.pay_offset - (t + horizon)) % CYCLE
        food = self.daily_subsistence * (CYCLE if due_to_pay == 0 else due_to_pay)
        return at_due < self.instalment + food

    # ---- what the lender does to a borrower ----
    def experience(self, stress: float) -> None:
        if stress:
            self.events.append(stress)

    def contacted(self, t: int, stress: float) -> None:
        rp = self.model.params.repayment
        self.contacts += 1
        self.contact_load = decayed(self.contact_load, self.contact_day, t, rp.contact_halflife) + 1.0
        self.contact_day = t
        if self.dpd > 0:
            self.model.books.dunning_contacts += 1
        self.experience(stress)

    def message(self, t: int, attention: float) -> None:
        """An SMS or an unanswered call: it can only remind (and make one reconsider tomorrow)."""
        p = self.model.params
        self.restore_attention(t, attention)
        self.contacted(t, p.stress.sms)
        if self.amount_due > 0.0 and self.u("contact", t, 0) < p.repayment.reconsider_message:
            self.prompted_on = t

    def call(self, t: int) -> None:
        """A collection call: answered (a conversation) or not (a message)."""
        p, books = self.model.params, self.model.books
        rem = p.collection.reminders
        if not self.u("contact", t, 1) < rem.answer_rate * (1.0 - 1.0 * self.avoidance(t)):
            self.message(t, rem.sms_attention)
            return
        books.calls_answered += 1
        self.restore_attention(t, rem.phone_attention)
        self.add_pressure(t, rem.phone_pressure)
        self.contacted(t, p.stress.phone)
        books.conversations += 1

    def charge_off(self, t: int) -> None:
        p, books = self.model.params, self.model.books
        books.credit_loss += self.balance * self.principal_share
        books.charge_offs += 1
        books.provision_used += self.allowance
        books.provisions -= self.allowance
        self.allowance = 0.0
        self.co_balance += self.balance + self.fees
        self.banned = True
        self.experience(p.stress.charge_off)
        self.close(t, CHARGED_OFF)

    def recover(self, t: int) -> None:
        rc, books = self.model.params.collection.recovery, self.model.books
        if not (self.co_balance > 0.0 and self.u("recovery", t) < rc.pay_prob):
            return
        self.settle(t)
        amount = min(rc.pay_share * self.cash, self.co_balance)
        self.cash -= amount
        self.co_balance -= amount
        self.paid_total += amount
        books.received += amount
        books.recoveries += amount
        books.recovery_cost += rc.cost_share * amount

    def close(self, t: int, outcome: int) -> None:
        rec = {k: getattr(self, k) for k in ("loan_id", "product", "orig_day", "principal", "max_dpd",
                                             *(f"day_dpd{k}" for k in DPD_MILESTONES), "promises",
                                             "promises_broken", "first_plan_day", "redefault_day", "cause")}
        rec.update(person=self.index, end_day=t, outcome=outcome, plans=self.plans_taken)
        self.model.ledger.append(rec)
        self.has_loan = False
        self.balance = self.amount_due = self.fees = self.instalment = 0.0
        self.dpd = 0
        self.next_due = -1  # a pending promise stays (judged on its day), as in sim.mechanisms.loans.close
        self.cash += self.reserved
        self.reserved = 0.0
        self.cooldown_until = t + self.model.params.acquisition.cooldown_days

    # ---- steps 7-8: feelings, then applying ----
    def evening(self, t: int) -> None:
        st = self.model.params.stress
        behind = self.amount_due > 0.0 or self.co_balance > 0.0
        dsti = self.other_dsti + self.instalment / self.income
        level = (self.stress_base + st.arrears_strain * behind + st.debt_strain * dsti
                 + st.unemployed_strain * (not self.employed))
        self.stress += (level - self.stress) * (1.0 - self.model.stress_keep)
        for delta in self.events:
            self.stress += delta
        self.events.clear()
        self.stress = min(max(self.stress, 0.0), 1.0)
        self.trust += (1.0 - self.model.trust_keep) * (self.trust_prior - self.trust)
        if self.index % CLOCK_GROUPS == t % CLOCK_GROUPS and not self.has_loan and not self.banned \
                and self.cooldown_until <= t:
            self.consider_applying(t)

    def application_rate(self, trust: float) -> float:
        acq = self.model.params.acquisition
        q = min(max(self.quality, -QUALITY_LIMIT), QUALITY_LIMIT)
        e = max(acq.trust_elasticity + acq.careful_elasticity * q, 0.0)
        ratio = max(trust, 1e-9) / acq.reference_trust
        return acq.application_rate / 365.0 * float(np.exp(e * float(np.log(ratio))))

    def consider_applying(self, t: int) -> None:
        m, books = self.model, self.model.books
        now = self.application_rate(self.trust)
        books.expected_applications_prior += CLOCK_GROUPS * self.application_rate(self.trust_prior)
        books.expected_applications += CLOCK_GROUPS * now
        self.app_hazard += CLOCK_GROUPS * now
        if self.app_hazard < self.app_threshold:
            return
        self.app_hazard = 0.0
        self.app_count += 1
        self.app_threshold = -float(np.log1p(-self.u_keyed("acquisition", self.app_count)))
        books.applications += 1
        m.applications_today += 1
        if self.score >= m.score_threshold:
            m.originations_today += 1
            self.originate(t)

    def originate(self, t: int) -> None:
        m, p, books = self.model, self.model.params, self.model.books
        nth = self.app_count
        is_pos = self.u_keyed("origination", nth, 0) < p.products.pos.share
        z = float(m.streams.person.origination.normal_keyed(one(self.index), one(nth), 1)[0])
        size = float(np.exp(0.3 * z))
        prod = p.products.pos if is_pos else p.products.cash
        rate = prod.annual_rate / 12.0
        principal = prod.principal_months * self.income * size
        term = prod.term_months
        if rate >= MIN_RATE:
            inst = principal * (rate / (1.0 - power(1.0 + rate, -float(term))))
        else:
            inst = principal * (1.0 / term)
        self.has_loan = True
        self.loan_id = m.next_loan_id
        m.next_loan_id += 1
        self.product = POS if is_pos else CASH
        self.orig_day = t
        self.principal = principal
        self.instalment = inst
        self.balance = inst * term
        self.principal_share = principal / (inst * term)
        self.amount_due = self.fees = 0.0
        k = p.loans.due_after_pay + 1
        lag = min(int(self.u_keyed("origination", nth, 2) * k), k - 1)
        self.next_due = t + 20 + (self.pay_offset + lag - t - 20) % CYCLE
        self.promise_day = -1
        self.dpd = self.max_dpd = self.plans_taken = self.episodes = 0
        for k in DPD_MILESTONES:
            setattr(self, f"day_dpd{k}", -1)
        self.first_plan_day = self.redefault_day = self.cause = -1
        self.promises = self.promises_broken = 0
        self.received_total += principal
        self.attention = 1.0
        self.attention_day = t
        books.disbursed += principal
        books.originations += 1
        books.origination_cost += p.lender.origination_cost

    # ---- step 9 ----
    def provision(self, pd_by_stage, lgd) -> None:
        books = self.model.books
        if self.has_loan:
            stage = 3 if self.dpd >= 90 else (2 if self.dpd >= 30 else 1)
            new = pd_by_stage[stage] * lgd * (self.balance * self.principal_share + self.fees)
        else:
            new = 0.0
        delta = new - self.allowance
        if delta > 0:
            books.provision_charged += delta
        elif delta < 0:
            books.provision_released -= delta
        self.allowance = new


class Lender(mesa.Agent):
    """Collects within its daily capacity: the reminder ladder, charge-off, recovery, costs."""

    def step(self) -> None:
        m = self.model
        t, p, books = m.day, m.params, m.books
        people = m.people
        if "reminders" in p.collection.tactics:
            rem = p.collection.reminders
            sms, calls = [], []
            for s in rem.schedule:
                if s.day < 0:
                    hit = [b for b in people if b.next_due == t - s.day and b.amount_due <= 0.0]
                else:
                    hit = [b for b in people if b.was_late and b.dpd >= s.day and (b.dpd - s.day) % CYCLE == 0]
                (sms if s.channel == "sms" else calls).extend(hit)
            books.sms += len(sms)
            books.sms_cost += rem.sms_cost * len(sms)
            for b in sms:
                b.message(t, rem.sms_attention)
            calls.sort(key=lambda b: -b.dpd)  # most overdue first (a stable sort: ladder order, then person)
            calls = calls[: m.call_capacity]
            books.calls += len(calls)
            books.phone_cost += rem.phone_cost * len(calls)
            for b in calls:
                b.call(t)
        for b in people:
            if b.was_late and b.dpd >= p.loans.charge_off_dpd:
                b.charge_off(t)
                b.was_late = False
        if "recovery" in p.collection.tactics:
            for b in people:
                if b.is_pay_day(t):
                    b.recover(t)
        lp = p.lender
        outstanding = sum(b.balance * b.principal_share for b in people)
        books.funding_cost += outstanding * lp.cost_of_funds / 365.0
        books.operating_cost += sum(1 for b in people if b.has_loan) * lp.operating_cost * 12.0 / 365.0
        books.capital_cost += outstanding * lp.capital_ratio * lp.hurdle_rate / 365.0

    def provisions(self) -> None:
        pv = self.model.params.lender.provisions
        pd_by_stage = (0.0, pv.pd_stage1, pv.pd_stage2, pv.pd_stage3)
        for b in self.model.people:
            b.provision(pd_by_stage, pv.lgd)
        self.model.books.provisions = sum(b.allowance for b in self.model.people)


DAILY = ("day", "active_loans", "current", "dpd_1_29", "dpd_30_59", "dpd_60_89", "dpd_90_plus", "charge_offs",
         "cures", "default_rate", "mean_stress", "high_stress_share", "brand_trust", "applications",
         "originations", "calls", "collection_cost", "profit", "provisions")


class MesaCoreModel(mesa.Model):
    """The core subset, one ``Borrower`` agent per person and one ``Lender`` agent.

    Keywords as :class:`sim.CreditModel`: ``scenario`` (default ``benchmarks/core.toml``),
    ``borrowers``, ``days``, ``overrides``, ``rng`` (the seed). Raises ``ValueError`` for parameters
    outside the core (:func:`check_core`).
    """

    def __init__(self, *, scenario: Any = CORE, borrowers: int | None = None, days: int | None = None,
                 overrides: dict[str, Any] | None = None, rng: int = 0):
        seed = int(rng)
        super().__init__(rng=seed)
        self.params = build_scenario(scenario, borrowers, days, overrides)
        check_core(self.params)
        self.seed = seed
        self.streams = Streams(seed)
        self.day = 0
        self.t0 = self.params.simulation.burn_in
        self.days = self.t0 + self.params.simulation.days
        state, allowance, start = initial_state(self.params, seed)
        self.books, self.score_threshold = start.books, start.score_threshold
        self.call_capacity, self.next_loan_id = start.call_capacity, start.next_loan_id
        self.stress_keep = float(np.exp2(-1.0 / self.params.stress.halflife))
        self.trust_keep = float(np.exp2(-1.0 / self.params.trust.halflife))
        self.ledger: list[dict] = []
        self.people = [Borrower(self, i, state, float(allowance[i])) for i in range(self.params.population.borrowers)]
        self.borrowers = self.agents_by_type[Borrower]
        self.lender = Lender(self)
        self.applications_today = self.originations_today = 0
        self.datacollector = mesa.DataCollector(model_reporters={k: (lambda m, k=k: m.snapshot[k]) for k in DAILY})
        self._record()

    def step(self) -> None:
        self.day += 1
        t = self.day
        self.applications_today = self.originations_today = 0
        self.borrowers.do("morning", t)  # steps 2-5, person by person
        self.lender.step()  # 6
        self.borrowers.do("evening", t)  # 7-8
        self.lender.provisions()  # 9
        self._record()
        if self.day >= self.days:
            self.running = False

    def _record(self) -> None:
        books, st, people = self.books, self.params.stress, self.people
        dpd = [b.dpd for b in people if b.was_late and b.dpd > 0]
        active = sum(1 for b in people if b.has_loan)
        stress = [b.stress for b in people if b.has_loan or b.co_balance > 0.0]
        loans = books.initial_loans + books.originations
        self.snapshot = {
            "day": self.day,
            "active_loans": active,
            "current": active - len(dpd),
            "dpd_1_29": sum(1 for d in dpd if d < 30),
            "dpd_30_59": sum(1 for d in dpd if 30 <= d < 60),
            "dpd_60_89": sum(1 for d in dpd if 60 <= d < 90),
            "dpd_90_plus": sum(1 for d in dpd if d >= 90),
            "charge_offs": books.charge_offs,
            "cures": books.cures,
            "default_rate": books.charge_offs / loans if loans else 0.0,
            "mean_stress": sum(stress) / max(len(stress), 1),
            "high_stress_share": sum(1 for s in stress if s >= st.high_threshold) / max(len(stress), 1),
            "brand_trust": sum(b.trust for b in people) / len(people),
            "applications": self.applications_today,
            "originations": self.originations_today,
            "calls": books.calls,
            "collection_cost": books.collection_cost,
            "profit": books.profit,
            "provisions": books.provisions,
        }
        self.datacollector.collect(self)
        if self.day == self.t0:  # the measurement window starts at the end of day t0
            self.books_t0 = dataclasses.replace(books)
            self.late_t0 = sum(1 for b in people if b.has_loan and b.dpd > 0)
            self.npv, self._profit = 0.0, books.profit
        elif self.day > self.t0:
            rate = self.params.lender.discount_rate
            self.npv += (books.profit - self._profit) * (1.0 + rate) ** (-(self.day - self.t0) / 365.0)
            self._profit = books.profit

    # ---- outputs ----
    def loans(self) -> pd.DataFrame:
        """One row per loan (ended, and active at the end), as ``sim.metrics.loan_table``'s ledger columns."""
        rows = list(self.ledger)
        for b in self.people:
            if b.has_loan:
                rows.append({k: getattr(b, k) for k in LEDGER if hasattr(b, k)}
                            | {"person": b.index, "end_day": -1, "outcome": ACTIVE, "plans": b.plans_taken})
        df = pd.DataFrame(rows, columns=list(LEDGER)) if rows else pd.DataFrame(columns=list(LEDGER))
        df["product"] = np.asarray(PRODUCTS)[df["product"].to_numpy(int)]
        df["outcome"] = np.asarray(OUTCOMES)[df["outcome"].to_numpy(int)]
        cause = df["cause"].to_numpy(int)
        df["cause"] = np.asarray((*CAUSES, "none"))[np.where(cause >= 0, cause, len(CAUSES))]
        return df.sort_values("loan_id", kind="stable").reset_index(drop=True)

    def daily(self) -> pd.DataFrame:
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def person_state(self, *names: str) -> dict[str, np.ndarray]:
        return {n: np.array([getattr(b, n) for b in self.people]) for n in names}

    def summary(self) -> dict[str, float]:
        """A subset of the summary keys of ``sim.metrics.SUMMARY``, by their definitions there."""
        b0, b, t0 = self.books_t0, self.books, self.t0
        d = {f.name: getattr(b, f.name) - getattr(b0, f.name) for f in dataclasses.fields(b)}
        window = dataclasses.replace(b, **d)
        led = self.loans()
        in_window = (led["outcome"] == "active") | (led["end_day"] > t0)
        booked = led["orig_day"] > t0
        ended = led["outcome"] != "active"
        length = np.where(ended, led["end_day"], self.day) - led["orig_day"]
        observed = booked & (ended | (length >= 365))
        hit30 = (led["day_dpd30"] >= 0) & (led["day_dpd30"] - led["orig_day"] <= 365)
        dpd = np.array([p.dpd for p in self.people if p.has_loan])
        daily = self.daily()
        win = daily["day"] > t0
        reached = in_window & (led["day_dpd30"] > t0)

        def ratio(a, c):
            return float(a) / float(c) if c else float("nan")

        out = {
            "default_rate": ratio((led["outcome"][in_window] == "charged_off").sum(), in_window.sum()),
            "ever_30dpd_rate": ratio(hit30[observed].sum(), observed.sum()),
            "dpd30_rate": ratio((dpd >= 30).sum(), len(dpd)),
            "dpd60_rate": ratio((dpd >= 60).sum(), len(dpd)),
            "dpd90_rate": ratio((dpd >= 90).sum(), len(dpd)),
            "cure_rate": ratio(window.cures, window.delinquency_episodes + self.late_t0),
            "mean_stress": float(daily["mean_stress"][win].mean()),
            "high_stress_share": float(daily["high_stress_share"][win].mean()),
            "brand_trust": sum(p.trust for p in self.people) / len(self.people),
            "applications": window.applications,
            "originations": window.originations,
            "collection_cost": window.collection_cost,
            "credit_loss": window.credit_loss,
            "recoveries": window.recoveries,
            "profit": window.profit,
            "contacts_per_delinquent_loan": ratio(window.dunning_contacts,
                                                  window.ever_delinquent_loans + self.late_t0),
            "late_payment_rate": ratio(window.delinquency_episodes, window.instalments_due),
            "loans": int(in_window.sum()),
            "charge_offs": window.charge_offs,
            "interest_income": window.interest_income,
            "fee_income": window.fee_income,
            "early_contacts": window.early_contacts,
            "sms": window.sms,
            "calls": window.calls,
            **{f"cause_{c}": ratio((led["cause"][reached] == c).sum(), reached.sum()) for c in CAUSES},
            "recoveries_net": window.recoveries_net,
            "provisions": b.provisions,
            "impairment": window.impairment,
            "origination_cost": window.origination_cost,
            "funding_cost": window.funding_cost,
            "operating_cost": window.operating_cost,
            "capital_cost": window.capital_cost,
            "npv": self.npv,
        }
        return out


def run(scenario: Any = CORE, *, borrowers: int | None = None, days: int | None = None, seed: int = 0,
        overrides: dict[str, Any] | None = None) -> MesaCoreModel:
    """Build and step a :class:`MesaCoreModel` to its last day."""
    model = MesaCoreModel(scenario=scenario, borrowers=borrowers, days=days, overrides=overrides, rng=seed)
    for _ in range(model.days):
        model.step()
    return model


if __name__ == "__main__":
    m = run(borrowers=1_000, days=365, seed=0)
    for key, value in m.summary().items():
        print(f"{key:<30} {value:,.4f}")
