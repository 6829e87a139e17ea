"""The credsim daily rules written the naive way: one Mesa agent per borrower, scalar attributes.

This is the comparison point for the vectorised model in ``sim/`` (``benchmarks/bench_vs_mesa.py``
runs both). It reads the same parameters (:class:`sim.params.Scenario`, shipped scenario names or
TOML paths through ``sim.model.build_scenario``) and implements the same rules, one person at a
time, in plain Python:

* ``Borrower.step`` -- what one person does on a day (steps 2-5 of the daily order in sim/model.py):
  spending for the day, pay day, job loss / re-employment / emergencies, impulse purchases, setting
  the instalment aside, the instalment falling due, the repayment decision (ability x willingness),
  days past due, late fees, cures, broken plans and repaid loans, and calling the lender early.
* ``Lender.step`` -- the collection engine (step 6), applied borrower by borrower: the reminder
  ladder (SMS, phone calls within capacity, most overdue first), the visit queue (capacity, address
  verification, tone, complaints, hardship diagnosis and plan offers), charge-off, recovery and the
  funding cost.
* ``Borrower.feel`` / ``Borrower.tell_ties`` -- stress and trust update from the day's experiences,
  then word of mouth to each social tie (step 7).
* ``Borrower.consider_applying`` -- applications in proportion to trust, underwritten by the lender
  (step 8).
* a Mesa ``DataCollector`` records the daily numbers of ``sim.metrics.DAILY`` (step 9).

Random draws are per person per day (``model.random``, Python's generator), not the vectorised
model's named NumPy streams, so the two models agree in distribution, not draw for draw. Two
deliberate implementation differences, both "what the naive version would do":

* Subsistence and habit spending are taken every day (the vectorised model settles them lazily,
  just before anything reads a person's cash; the two agree unless cash runs out between events).
* Attention and pressure decay a little every day (the vectorised model stores level and date and
  evaluates the exponential when needed; these are mathematically identical).

Because cash here is always up to date, the early-contact projection sees today's cash; at the time
of writing the vectorised ``early_contact.foresee_shortfall`` reads cash that has not been settled,
which shows up as fewer early contacts there (see benchmarks/README.md).

At the end, ``MesaCreditModel.summary()`` copies the agents' state into :class:`sim.state.People`
arrays and a :class:`sim.state.LoanLedger` and calls :func:`sim.metrics.summary` (which also reads
the daily series), so every outcome has exactly the definition the vectorised model uses.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mesa
import numpy as np

from sim import metrics
from sim.lender import Books
from sim.mechanisms.income import FOREVER, HARDSHIP_AFTER_SHOCK
from sim.mechanisms.macro import conditions
from sim.model import build_scenario
from sim.params import Scenario
from sim.state import CASH, CHARGED_OFF, CYCLE, DPD_MILESTONES, LEDGER_FIELDS, POS, REPAID, LoanLedger, People

EPS = 1e-6
NEVER_VISITED = -(10**6)


def clip01(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


def annuity(principal: float, monthly_rate: float, months: int) -> float:
    """Instalment of an annuity loan."""
    if monthly_rate > 0:
        return principal * monthly_rate / (1.0 - (1.0 + monthly_rate) ** (-months))
    return principal / months


class Borrower(mesa.Agent):
    """One person in the market, with at most one loan. Attribute names follow sim.state.People."""

    def __init__(self, model: "MesaCreditModel", index: int):
        super().__init__(model)
        p = model.params
        pop, sh, r = p.population, p.shocks, model.random
        self.index = index  # row in the vectorised model's arrays (for the summary)

        # income and employment
        self.income = pop.income_median * r.lognormvariate(0.0, pop.income_sigma)
        monthly_loss = sh.job_loss_rate / 12.0
        unemployed_share = monthly_loss * sh.unemployment_months / (1.0 + monthly_loss * sh.unemployment_months)
        self.employed = r.random() >= unemployed_share
        self.pay_offset = r.randrange(CYCLE)
        self.hardship_until = -1
        # money
        self.cash = pop.savings_months * self.income * r.lognormvariate(0.0, 1.0)
        self.reserved = 0.0
        # traits
        self.present_bias = r.betavariate(pop.present_bias_mean * 8.0, (1.0 - pop.present_bias_mean) * 8.0)
        self.literacy = r.betavariate(pop.literacy_mean * 8.0, (1.0 - pop.literacy_mean) * 8.0)
        self.understanding = clip01(self.literacy - pop.understanding_gap + r.gauss(0.0, 0.1))
        self.address_ok = r.random() >= pop.address_unverifiable
        self.educated = False
        self.set_spending_rates()
        self.score = 0.0  # set by the model once everyone exists (it is relative to the market)
        # feelings
        self.stress = clip01(p.stress.baseline + r.gauss(0.0, 0.05))
        self.trust = r.betavariate(p.trust.initial_mean * 12.0, (1.0 - p.trust.initial_mean) * 12.0)
        self.attention = 0.5
        self.pressure = 0.0
        self.prompted_day = -1
        self.stress_today = 0.0  # sum of today's stress experiences
        self.trust_today: list[float] = []  # today's trust experiences, one per event (for word of mouth)
        # market status
        self.banned = False
        self.cooldown_until = 0
        self.co_balance = 0.0
        self.neighbors: list[Borrower] = []
        # cumulative ledgers
        self.income_received = 0.0
        self.shock_count = 0
        self.paid_total = 0.0
        self.received_total = 0.0
        self.contacts = 0
        # the loan slot
        self.has_loan = False
        self.loan_id = -1
        self.product = CASH
        self.orig_day = 0
        self.principal = 0.0
        self.principal_share = 0.0
        self.balance = 0.0
        self.instalment = 0.0
        self.amount_due = 0.0
        self.fees = 0.0
        self.next_due = -1
        self.dpd = 0
        self.reset_history()
        self.on_plan = False
        self.plans_taken = 0
        self.episodes = 0
        self.last_visit = NEVER_VISITED
        self.queued_since = -1

    def set_spending_rates(self) -> None:
        """Subsistence, and habit (more for the present-biased; none while out of work)."""
        pop = self.model.params.population
        daily_income = self.income / CYCLE
        self.daily_subsistence = pop.subsistence_share * daily_income
        habit = pop.habit_share * daily_income * (0.7 + 0.3 * self.present_bias / pop.present_bias_mean)
        self.daily_habit = habit if self.employed else 0.0

    # ---------------------------------------------------------------------------------------
    # What happens to a person (called by themselves and by the lender)
    # ---------------------------------------------------------------------------------------
    def experience(self, stress: float = 0.0, trust: float = 0.0) -> None:
        """Something happened: stress and trust move at step 7."""
        if stress:
            self.stress_today += stress
        if trust:
            self.trust_today.append(trust)

    def restore_attention(self, level: float) -> None:
        self.attention = max(self.attention, level)

    def add_pressure(self, amount: float) -> None:
        self.pressure = min(self.pressure + amount, 1.0)

    def contacted(self, stress: float, trust: float) -> None:
        """Every contact: counted, felt, and a reason to reconsider paying tomorrow."""
        self.contacts += 1
        if self.dpd > 0:
            self.model.lender.books.dunning_contacts += 1
        self.experience(stress=stress, trust=trust)
        self.prompted_day = self.model.day

    def spend(self, amount: float, use_reserved: bool) -> None:
        """Take ``amount`` from cash, then (if allowed) from money set aside."""
        from_cash = min(amount, self.cash)
        self.cash -= from_cash
        rest = amount - from_cash
        if use_reserved and rest > 0.0:
            self.reserved -= min(rest, self.reserved)

    def in_hardship(self, t: int) -> bool:
        return self.hardship_until >= t

    # ---------------------------------------------------------------------------------------
    # Steps 2-5: one person's day
    # ---------------------------------------------------------------------------------------
    def step(self) -> None:
        m = self.model
        t = m.day
        pay_day = t % CYCLE == self.pay_offset

        # the loan slips from mind (down to a floor) and collection pressure fades, a little every day
        floor = m.params.repayment.attention_floor
        self.attention = floor + max(self.attention - floor, 0.0) * m.attention_keep
        self.pressure *= m.pressure_keep

        # 3 (flows) today's subsistence (may eat into money set aside), then habit (free cash only)
        self.spend(self.daily_subsistence, use_reserved=True)
        self.spend(self.daily_habit, use_reserved=False)

        # 2 income and shocks
        if pay_day:
            self.get_paid()
        self.job_events(t)
        self.maybe_emergency(t)

        # 3 (events) an impulse purchase; on pay day, set the instalment aside
        self.maybe_impulse()
        if pay_day and self.has_loan:
            self.set_aside()

        # 4 the instalment falls due; decide whether to pay; days past due and what follows
        billed = self.has_loan and self.next_due == t and self.bill(m.lender.books)
        paid = False
        if self.has_loan and (billed or pay_day or self.prompted_day == t - 1):
            paid = self.decide_to_repay(t)
        if self.has_loan:
            self.update_loan(t, paid)

        # 5 foresee a shortfall and call the lender early
        if self.has_loan and self.next_due == t + m.params.early_contact.horizon_days and self.amount_due <= 0.0:
            self.maybe_call_early(t)

    def get_paid(self) -> None:
        p = self.model.params
        if self.employed:
            pay = self.income * self.model.random.lognormvariate(0.0, p.population.income_volatility)
        else:
            pay = self.income * p.shocks.benefit_share
        self.cash += pay
        self.income_received += pay

    def job_events(self, t: int) -> None:
        m = self.model
        sh = m.params.shocks
        if self.employed and m.random.random() < sh.job_loss_rate / 365.0 * m.macro.job_loss:
            self.employed = False
            self.set_spending_rates()
            self.hardship_until = FOREVER
            self.shock_count += 1
            self.experience(stress=m.params.stress.job_loss)
        if not self.employed and m.random.random() < m.macro.reemployment / (sh.unemployment_months * CYCLE):
            self.employed = True
            self.set_spending_rates()
            self.hardship_until = t + HARDSHIP_AFTER_SHOCK

    def maybe_emergency(self, t: int) -> None:
        m = self.model
        sh = m.params.shocks
        if m.random.random() < sh.emergency_rate / 365.0 * m.macro.emergency:
            cost = m.random.expovariate(1.0) * sh.emergency_cost_months * self.income
            self.spend(cost, use_reserved=True)
            self.hardship_until = max(self.hardship_until, t + HARDSHIP_AFTER_SHOCK)
            self.shock_count += 1
            self.experience(stress=m.params.stress.emergency)

    def maybe_impulse(self) -> None:
        pop = self.model.params.population
        if self.model.random.random() < pop.impulse_rate / CYCLE * self.present_bias / pop.present_bias_mean:
            self.cash -= pop.impulse_size * self.cash

    def set_aside(self) -> None:
        """Planners earmark what the loan will ask for this cycle."""
        rp = self.model.params.repayment
        planning = rp.earmark_weight * (1.0 - self.present_bias) * (0.5 + 0.5 * self.understanding)
        planning *= 0.5 + 0.5 * self.attention
        need = self.amount_due + self.fees + min(self.instalment, self.balance - self.amount_due)
        move = min(max(planning * need - self.reserved, 0.0), self.cash)
        self.cash -= move
        self.reserved += move

    def bill(self, books) -> bool:
        """The instalment falls due: it joins the arrears."""
        if self.amount_due <= 0.0:
            books.instalments_due += 1  # falling due on a loan that is current
        add = min(self.instalment, self.balance - self.amount_due)
        if add <= EPS:
            return False
        self.amount_due += add
        self.next_due += CYCLE
        return True

    def ability(self, t: int) -> float:
        """Cash that can go to the loan without going hungry before the next pay day."""
        days_to_pay = (self.pay_offset - t) % CYCLE or CYCLE
        return max(self.cash + self.reserved - self.daily_subsistence * days_to_pay, 0.0)

    def willingness(self) -> float:
        p = self.model.params
        rp, pop = p.repayment, p.population
        z = (
            rp.intercept
            + rp.attention_weight * (self.attention - 0.5)
            + rp.literacy_weight * (self.literacy - pop.literacy_mean)
            + rp.understanding_weight * (self.understanding - (pop.literacy_mean - pop.understanding_gap))
            - rp.present_bias_weight * (self.present_bias - pop.present_bias_mean)
            - rp.stress_weight * (self.stress - p.stress.baseline)
            + rp.trust_weight * (self.trust - p.trust.initial_mean)
            + rp.pressure_weight * self.pressure
        )
        return 1.0 / (1.0 + math.exp(-z))

    def decide_to_repay(self, t: int) -> bool:
        """Ability times willingness. Returns whether anything was paid."""
        owed = self.amount_due + self.fees
        if owed <= 0.0:
            return False
        if self.model.random.random() >= self.willingness():
            return False
        amount = min(self.ability(t), owed)
        if amount <= 0.0:
            return False
        self.pay(amount)
        return True

    def pay(self, amount: float) -> None:
        """Arrears first, then fees; the money comes from what was set aside, then cash."""
        books = self.model.lender.books
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

    def update_loan(self, t: int, paid: bool) -> None:
        """Cures, days past due, late fees, history, broken plans, and a loan repaid in full."""
        p, books = self.model.params, self.model.lender.books
        if self.dpd > 0 and self.amount_due <= 0.0:  # was behind, now current
            books.cures += 1
            self.dpd = 0
        if self.amount_due > 0.0:
            missed = math.ceil(self.amount_due / self.instalment - 1e-9)
            oldest_due = self.next_due - CYCLE * missed
            old_dpd = self.dpd
            self.dpd = max(t - oldest_due, 0)
            if old_dpd == 0 and self.dpd > 0:  # a new delinquency episode
                books.delinquency_episodes += 1
                if self.episodes == 0:
                    books.ever_delinquent_loans += 1
                self.episodes += 1
                self.experience(stress=p.stress.missed_payment)
            if self.dpd >= p.loans.fee_dpd and (self.dpd - p.loans.fee_dpd) % CYCLE == 0:
                self.fees += p.loans.late_fee_share * self.instalment
            self.max_dpd = max(self.max_dpd, self.dpd)
            for k in DPD_MILESTONES:
                if self.dpd >= k and getattr(self, f"day_dpd{k}") < 0:
                    setattr(self, f"day_dpd{k}", t)
            if self.dpd >= 30 and 0 <= self.first_plan_day < t and self.redefault_day < 0:
                self.redefault_day = t
            if self.on_plan and self.dpd >= p.collection.plans.break_dpd:
                self.on_plan = False
                books.plans_broken += 1
        if paid and self.balance <= 0.0 and self.fees <= 0.0:
            books.repaid_loans += 1
            self.close(t, REPAID)

    def foresee_shortfall(self, t: int) -> bool:
        """Will cash on the due date fall short of the instalment plus food until the next pay?"""
        p = self.model.params
        h = p.early_contact.horizon_days
        paid_before = 1 <= (self.pay_offset - t) % CYCLE <= h
        expected_pay = self.income * (1.0 if self.employed else p.shocks.benefit_share) if paid_before else 0.0
        burn = (self.daily_subsistence + self.daily_habit) * h
        at_due = self.cash + self.reserved + expected_pay - burn
        food = self.daily_subsistence * ((self.pay_offset - (t + h)) % CYCLE or CYCLE)
        return at_due < self.instalment + food

    def maybe_call_early(self, t: int) -> None:
        m = self.model
        ec = m.params.early_contact
        base = ec.channel_prob if ec.channel else ec.base_prob
        prob = base * (self.literacy + self.trust) * (1.0 - self.stress)
        if m.random.random() < prob and self.foresee_shortfall(t):
            m.lender.books.early_contacts += 1
            self.restore_attention(1.0)
            if m.params.collection.plans.on_early_contact:
                m.lender.offer_plan(self, t)

    # ---------------------------------------------------------------------------------------
    # Loan life (called by the lender too)
    # ---------------------------------------------------------------------------------------
    def open_loan(self, t: int, *, first_due: int | None = None, initial: bool = False) -> None:
        m = self.model
        p, books, r = m.params, m.lender.books, m.random
        is_pos = r.random() < p.products.pos.share
        prod = p.products.pos if is_pos else p.products.cash
        principal = prod.principal_months * self.income * r.lognormvariate(0.0, 0.3)
        inst = annuity(principal, prod.annual_rate / 12.0, prod.term_months)
        self.has_loan = True
        self.loan_id = m.next_loan_id
        m.next_loan_id += 1
        self.product = POS if is_pos else CASH
        self.orig_day = t
        self.principal = principal
        self.instalment = inst
        self.balance = inst * prod.term_months
        self.principal_share = principal / self.balance
        self.amount_due = 0.0
        self.fees = 0.0
        self.next_due = self.first_due_day(t) if first_due is None else first_due
        self.dpd = 0
        self.reset_history()
        self.on_plan = False
        self.plans_taken = 0
        self.episodes = 0
        self.last_visit = NEVER_VISITED
        self.queued_since = -1
        self.received_total += principal
        self.attention = 1.0  # a new loan is on one's mind
        books.disbursed += principal
        if initial:  # the day-0 book: made before the strategy under study (no cost, no education)
            books.initial_loans += 1
        else:
            books.originations += 1
            books.origination_cost += p.lender.origination_cost
            self.educate()

    def first_due_day(self, t: int) -> int:
        """20 to 49 days ahead, 0..due_after_pay days after a pay day."""
        lag = self.model.random.randint(0, self.model.params.loans.due_after_pay)
        return t + 20 + (self.pay_offset + lag - t - 20) % CYCLE

    def educate(self) -> None:
        ed = self.model.params.education
        if not ed.enabled or self.educated:
            return
        self.literacy += ed.literacy_gain * (1.0 - self.literacy)
        self.understanding += ed.understanding_gain * (1.0 - self.understanding)
        self.present_bias *= 1.0 - ed.present_bias_reduction
        self.set_spending_rates()
        self.educated = True
        self.model.lender.books.education_cost += ed.cost

    def reset_history(self) -> None:
        """A new loan's history (the per-loan record of sim.state.People) starts empty."""
        self.max_dpd = 0
        for k in DPD_MILESTONES:
            setattr(self, f"day_dpd{k}", -1)
        self.first_plan_day = self.redefault_day = -1
        self.promises = self.promises_broken = 0
        self.cause = -1

    def close(self, t: int, outcome: int) -> None:
        """The loan ends (repaid or charged off): record it and free the slot."""
        m = self.model
        m.ledger.append({
            "loan_id": self.loan_id, "person": self.index, "product": self.product, "orig_day": self.orig_day,
            "end_day": t, "outcome": outcome, "principal": self.principal, "max_dpd": self.max_dpd,
            **{f"day_dpd{k}": getattr(self, f"day_dpd{k}") for k in DPD_MILESTONES},
            "promises": self.promises, "promises_broken": self.promises_broken, "plans": self.plans_taken,
            "first_plan_day": self.first_plan_day, "redefault_day": self.redefault_day, "cause": self.cause,
        })
        self.has_loan = False
        self.balance = self.amount_due = self.fees = self.instalment = 0.0
        self.dpd = 0
        self.next_due = -1
        self.on_plan = False
        self.queued_since = -1
        self.cash += self.reserved
        self.reserved = 0.0
        self.cooldown_until = t + m.params.acquisition.cooldown_days

    # ---------------------------------------------------------------------------------------
    # Step 7: feelings, then word of mouth; step 8: applying for a loan
    # ---------------------------------------------------------------------------------------
    def feel(self) -> None:
        """Stress decays to baseline and takes today's experiences; trust drifts and takes them too."""
        p, m = self.model.params, self.model
        self.stress = self.stress * m.stress_keep + (1.0 - m.stress_keep) * p.stress.baseline
        if self.stress_today:
            self.stress = clip01(self.stress + self.stress_today)
            self.stress_today = 0.0
        self.trust = self.trust * m.trust_keep + (1.0 - m.trust_keep) * p.trust.prior
        for delta in self.trust_today:
            self.trust += delta

    def tell_ties(self) -> None:
        """Each of today's experiences is told to every tie; bad news travels further."""
        if not self.trust_today:
            return
        tr = self.model.params.trust
        for delta in self.trust_today:
            told = delta * tr.word_of_mouth * (tr.negativity_bias if delta < 0.0 else 1.0)
            for tie in self.neighbors:
                tie.trust += told
            if self.neighbors and delta < 0.0:
                self.model.lender.books.negative_stories += 1
        self.trust_today = []

    def consider_applying(self) -> None:
        m = self.model
        self.trust = clip01(self.trust)  # the day's news has all arrived: trust settles in 0..1
        if self.has_loan or self.banned or self.cooldown_until > m.day:
            return
        acq = m.params.acquisition
        if m.random.random() < acq.application_rate / 365.0 * (self.trust / acq.reference_trust) ** acq.trust_elasticity:
            m.lender.underwrite(self, m.day)


class Lender(mesa.Agent):
    """Underwrites applicants and collects, borrower by borrower, within its daily capacity."""

    def __init__(self, model: "MesaCreditModel"):
        super().__init__(model)
        self.books = Books()
        p = model.params
        per_thousand = p.population.borrowers / 1000.0
        self.call_capacity = int(round(p.collection.reminders.phone_capacity * per_thousand))
        self.visit_capacity = int(round(p.collection.visits.capacity * per_thousand))
        self.applications_today = 0
        self.originations_today = 0

    def underwrite(self, b: Borrower, t: int) -> None:
        self.books.applications += 1
        self.applications_today += 1
        if b.score >= self.model.score_threshold:
            self.originations_today += 1
            b.open_loan(t)

    def step(self) -> None:
        """Step 6: reminders, visits, charge-off, recovery, funding cost."""
        m = self.model
        t = m.day
        late = [b for b in m.borrowers if b.amount_due > 0.0]  # behind after today's payments
        self.remind(late, t)
        self.visit(late, t)
        self.charge_off(late, t)
        self.recover(t)
        outstanding = sum(b.balance * b.principal_share for b in m.borrowers)
        self.books.funding_cost += outstanding * m.params.lender.cost_of_funds / 365.0

    def remind(self, late: list[Borrower], t: int) -> None:
        p = self.model.params
        rem = p.collection.reminders
        if not rem.enabled:
            return
        sms, calls = [], []
        for s in rem.schedule:
            if s.day < 0:  # before the due date, to borrowers who are current
                targets = [b for b in self.model.borrowers if b.next_due == t - s.day and b.amount_due <= 0.0]
            else:  # s.day days past due, and every 30 days after while still behind
                targets = [b for b in late if b.dpd >= s.day and (b.dpd - s.day) % CYCLE == 0]
            (sms if s.channel == "sms" else calls).extend(targets)
        for b in sms:
            b.restore_attention(rem.sms_attention)
            self.books.sms += 1
            self.books.sms_cost += rem.sms_cost
            b.contacted(stress=p.stress.sms, trust=0.0)
        calls = sorted(calls, key=lambda b: -b.dpd)[: self.call_capacity]  # capacity goes to the most overdue
        for b in calls:
            b.restore_attention(rem.phone_attention)
            b.add_pressure(rem.phone_pressure)
            self.books.calls += 1
            self.books.phone_cost += rem.phone_cost
            b.contacted(stress=p.stress.phone, trust=p.trust.phone)
        if p.collection.plans.on_call:
            for b in calls:
                self.offer_plan(b, t)

    def visit(self, late: list[Borrower], t: int) -> None:
        m = self.model
        p = m.params
        vis, tone = p.collection.visits, p.collection.tone
        if not vis.enabled:
            m.visit_queue = 0
            return
        h = tone.harshness
        for b in late:  # join the queue
            if b.dpd >= vis.start_dpd and b.queued_since < 0 and t - b.last_visit >= vis.repeat_days:
                b.queued_since = t
        queue = []
        for b in m.borrowers:
            if b.queued_since >= 0:
                if b.amount_due <= 0.0:  # cured or closed: leaves the queue
                    b.queued_since = -1
                else:
                    queue.append(b)
        queue.sort(key=lambda b: b.queued_since)  # longest waiting first
        go = queue[: self.visit_capacity]
        m.visit_queue = len(queue) - len(go)
        for b in go:
            b.queued_since = -1
            b.last_visit = t
            self.books.visits_attempted += 1
            self.books.visit_cost += vis.cost
            u_find, u_complain, u_diagnose = m.random.random(), m.random.random(), m.random.random()
            if not (b.address_ok and u_find < vis.verify_prob):
                continue  # nobody found at the address
            self.books.visits_completed += 1
            b.restore_attention(vis.attention)
            b.add_pressure(vis.pressure * (1.0 + tone.pressure_bonus * h))
            b.contacted(stress=p.stress.visit + p.stress.visit_harsh * h, trust=p.trust.visit + p.trust.visit_harsh * h)
            if u_complain < p.trust.complaint_prob * h:
                self.books.complaints += 1
            if u_diagnose < tone.diagnoses_hardship * (1.0 - h) and p.collection.plans.on_visit:
                self.offer_plan(b, t)

    def offer_plan(self, b: Borrower, t: int) -> None:
        pl = self.model.params.collection.plans
        if not pl.enabled:
            return
        eligible = b.has_loan and not b.on_plan and b.plans_taken < pl.max_per_loan and b.dpd <= pl.max_dpd
        if pl.require_hardship:
            eligible = eligible and b.in_hardship(t)
        if not eligible:
            return
        self.books.plans_offered += 1
        if self.model.random.random() < clip01(pl.acceptance * (0.5 + b.trust)):
            self.restructure(b, t)

    def restructure(self, b: Borrower, t: int) -> None:
        p = self.model.params
        pl = p.collection.plans
        remaining = math.ceil((b.balance - b.amount_due) / b.instalment - 1e-9)
        missed = math.ceil(b.amount_due / b.instalment - 1e-9)
        periods = max(remaining, pl.arrears_months) if pl.arrears_instalments else remaining + missed
        if pl.term_extension:
            periods += pl.extension_months
        periods = max(periods, 1)
        holiday = pl.holiday_months if (pl.payment_holiday and not b.employed) else 0
        if pl.fee_waiver:
            self.books.fees_waived += b.fees
            b.fees = 0.0
        if b.dpd > 0:
            self.books.cures += 1
        b.instalment = b.balance / periods
        b.amount_due = 0.0
        b.dpd = 0
        b.next_due = t + CYCLE * (1 + holiday)
        b.on_plan = True
        b.plans_taken += 1
        if b.first_plan_day < 0:
            b.first_plan_day = t
        b.queued_since = -1
        self.books.plans_accepted += 1
        self.books.plan_cost += pl.admin_cost
        b.experience(stress=-p.stress.plan_relief, trust=p.trust.plan)

    def charge_off(self, late: list[Borrower], t: int) -> None:
        p = self.model.params
        for b in late:
            if b.has_loan and b.dpd >= p.loans.charge_off_dpd:
                self.books.credit_loss += b.balance * b.principal_share
                self.books.charge_offs += 1
                b.co_balance += b.balance + b.fees
                b.banned = True
                b.experience(stress=p.stress.charge_off, trust=p.trust.charge_off)
                b.close(t, CHARGED_OFF)

    def recover(self, t: int) -> None:
        rc = self.model.params.collection.recovery
        for b in self.model.borrowers:
            if b.co_balance > 0.0 and t % CYCLE == b.pay_offset and self.model.random.random() < rc.pay_prob:
                amount = min(rc.pay_share * b.cash, b.co_balance)
                b.cash -= amount
                b.co_balance -= amount
                b.paid_total += amount
                self.books.received += amount
                self.books.recoveries += amount
                self.books.recovery_cost += rc.cost_share * amount


class MesaCreditModel(mesa.Model):
    """The market with one Mesa agent per borrower; same keywords as sim.CreditModel."""

    def __init__(
        self,
        *,
        scenario: str | Path | Scenario = "baseline",
        borrowers: int | None = None,
        days: int | None = None,
        overrides: dict[str, Any] | None = None,
        rng: int | None = 0,
    ):
        super().__init__(rng=0 if rng is None else int(rng))
        self.params = p = build_scenario(scenario, borrowers, days, overrides)
        self.day = 0
        self.days = p.simulation.days
        self.macro = conditions(p, 0)
        self.next_loan_id = 0
        self.ledger: list[dict] = []
        self.visit_queue = 0
        self.attention_keep = 2.0 ** (-1.0 / p.repayment.attention_halflife)
        self.pressure_keep = 2.0 ** (-1.0 / p.repayment.pressure_halflife)
        self.stress_keep = 2.0 ** (-1.0 / p.stress.halflife)
        self.trust_keep = 2.0 ** (-1.0 / p.trust.halflife)

        self.lender = Lender(self)
        n = p.population.borrowers
        self.borrowers = [Borrower(self, i) for i in range(n)]
        self.people = self.agents_by_type[Borrower]

        # credit score: a noisy view of what drives repayment, standardised over the market
        risk = [1.2 * b.present_bias - 0.8 * b.literacy - 0.3 * math.log1p(b.cash / b.income) for b in self.borrowers]
        mean = sum(risk) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in risk) / n)
        for b, x in zip(self.borrowers, risk):
            b.score = -(x - mean) / (sd + 1e-12) + p.acquisition.score_noise * self.random.gauss(0.0, 1.0)
        self.score_threshold = float(np.quantile([b.score for b in self.borrowers], p.acquisition.cutoff))
        # social ties: random people in the market
        for b in self.borrowers:
            b.neighbors = [self.borrowers[self.random.randrange(n)] for _ in range(p.population.network_degree)]
        self.initial_book()
        self.books_at_start = dataclasses.replace(self.lender.books)  # the window starts at day 0

        self.snapshot = self.take_snapshot()
        # the same reporters as sim.CreditModel (each reads one key of self.snapshot)
        self.datacollector = mesa.DataCollector(
            model_reporters={k: partial(metrics.read, k) for k in metrics.DAILY if k in self.snapshot}
        )
        self.datacollector.collect(self)

    def initial_book(self) -> None:
        """Day 0: a share of approvable people hold a seasoned, current loan (as sim/population.py)."""
        p, r = self.params, self.random
        share = min(1.0, p.population.initial_loan_share / max(1e-9, 1.0 - p.acquisition.cutoff))
        for b in self.borrowers:
            if b.score >= self.score_threshold and r.random() < share:
                first_due = b.first_due_day(-19)  # within days 1..30
                b.open_loan(0, first_due=first_due, initial=True)
                term = round(b.balance / b.instalment)
                paid = math.floor(r.random() * term)  # instalments already paid
                b.orig_day = first_due - CYCLE * (paid + 1)
                repaid = paid * b.instalment
                b.balance -= repaid
                already = repaid * b.principal_share
                b.received_total -= already
                self.lender.books.disbursed -= already

    def step(self) -> None:
        """One day, in the order of sim/model.py."""
        self.day += 1
        self.macro = conditions(self.params, self.day)  # 1
        self.people.do("step")  # 2-5, each person on their own
        self.lender.step()  # 6
        self.people.do("feel")  # 7
        self.people.do("tell_ties")
        self.lender.applications_today = self.lender.originations_today = 0
        self.people.do("consider_applying")  # 8
        self.snapshot = self.take_snapshot()  # 9
        self.datacollector.collect(self)
        if self.day >= self.days:
            self.running = False

    # ---- outcomes, with the vectorised model's definitions ----
    def take_snapshot(self) -> dict:
        """Step 9: the day's numbers (the keys of sim.metrics.DAILY), one pass over the agents."""
        books, high = self.lender.books, self.params.stress.high_threshold
        active = on_plan = n_borrowers = n_high = 0
        buckets = [0, 0, 0, 0]  # 1-29, 30-59, 60-89, 90+ DPD
        stress_sum = trust_sum = 0.0
        for b in self.borrowers:
            trust_sum += b.trust
            if b.has_loan:
                active += 1
                on_plan += b.on_plan
                if b.amount_due > 0.0 and b.dpd > 0:  # billed today and not yet paid is still current
                    buckets[min(b.dpd // 30, 3)] += 1
            if b.has_loan or b.co_balance > 0.0:
                n_borrowers += 1
                stress_sum += b.stress
                n_high += b.stress >= high
        loans_so_far = books.initial_loans + books.originations
        return {
            "day": self.day,
            "window_day": self.day,  # no burn-in
            "burn_in": False,
            "active_loans": active,
            "current": active - sum(buckets),
            "dpd_1_29": buckets[0],
            "dpd_30_59": buckets[1],
            "dpd_60_89": buckets[2],
            "dpd_90_plus": buckets[3],
            "on_plan": on_plan,
            "charge_offs": books.charge_offs,
            "cures": books.cures,
            "default_rate": books.charge_offs / loans_so_far if loans_so_far else 0.0,
            "mean_stress": stress_sum / n_borrowers if n_borrowers else 0.0,
            "high_stress_share": n_high / n_borrowers if n_borrowers else 0.0,
            "brand_trust": trust_sum / len(self.borrowers),
            "applications": self.lender.applications_today,
            "originations": self.lender.originations_today,
            "visit_queue": self.visit_queue,
            "visits": books.visits_attempted,
            "calls": books.calls,
            "complaints": books.complaints,
            "collection_cost": books.collection_cost,
            "profit": books.profit,
        }

    def as_people(self) -> People:
        """The agents' state as sim.state.People arrays (same attribute names)."""
        ppl = People(len(self.borrowers))
        for name, arr in vars(ppl).items():
            if isinstance(arr, np.ndarray) and arr.ndim == 1 and hasattr(self.borrowers[0], name):
                arr[:] = [getattr(b, name) for b in self.borrowers]
        return ppl

    def summary(self) -> dict:
        ppl = self.as_people()
        ledger = LoanLedger()
        if self.ledger:
            ledger.chunks.append({k: np.array([rec[k] for rec in self.ledger], dtype=v) for k, v in LEDGER_FIELDS.items()})

        # exactly what sim.metrics.summary reads from a model. This reference runs from day 0 without
        # burn-in (t0 = 0) and gathers no window counts: its roll rates and stress odds ratio are NaN.
        window = SimpleNamespace(started=True, books=self.books_at_start, late_at_t0=0, plans_at_t0=0,
                                 stress_counts=np.zeros(4, np.int64),
                                 roll_counts=np.zeros((len(metrics.ROLL_FROM), len(metrics.ROLL_TO)), np.int64))
        view = SimpleNamespace(people=ppl, params=self.params, day=self.day, t0=0, window=window, lender=self.lender,
                               ledger=ledger, datacollector=self.datacollector, snapshot=self.snapshot)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
            return metrics.summary(view)


def run(scenario="baseline", *, borrowers=None, days=None, seed=0, overrides=None) -> MesaCreditModel:
    model = MesaCreditModel(scenario=scenario, borrowers=borrowers, days=days, overrides=overrides, rng=seed)
    for _ in range(model.days):
        model.step()
    return model


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    m = run("baseline", borrowers=1000, days=365)
    print(f"{time.perf_counter() - t0:.1f} s")
    for k, v in m.summary().items():
        print(f"{k:30s} {v:,.4f}")
