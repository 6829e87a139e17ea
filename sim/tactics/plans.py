"""Flexible repayment plans: eligibility, acceptance, restructuring, and re-default.

Kinds, each switched on by the scenario and combined when several are on:

* **instalments on arrears**: the arrears are folded into the coming instalments, spread over at
  least ``arrears_months`` of them;
* **term extension**: ``extension_months`` are added to the term, so each instalment is smaller;
* **payment holiday**: a borrower out of work pays nothing for ``holiday_months``;
* **fee waiver**: the late fees accrued are written off.

A plan re-ages the loan: the arrears become future instalments and DPD returns to 0, but the loan is
not yet cured. It is **on plan** until it has made ``qualifying_payments`` scheduled instalments on
the new schedule in full (an instalment billed on the plan and paid, late or not); only then does it
leave the plan as cured (``Books.cures``, if it was past due when the plan began; the tactic counts
``plans_completed``). While on plan the loan is reported in its own bucket (the daily ``on_plan``, the
roll-rate matrix's ``on_plan`` state, :mod:`sim.metrics`). The lender forgoes interest on the delay:
the restructured schedule repays the balance owed, no more, and each payment on it is split into
principal and interest like any other. A plan loan that falls ``break_dpd`` behind is broken (a
re-default: ``plans_broken``; the per-loan table's ``redefault_day`` is the first day 30+ DPD after
the plan) and collected as before; a loan can have ``max_per_loan`` plans over its life.

Who gets a plan. Plans are offered in conversations on the channels the strategy names (``on_call``,
``on_visit``) and to borrowers who call ahead of a shortfall (``on_early_contact``). With
``require_hardship`` only borrowers the lender finds in hardship are eligible, and the finding is
imperfect both ways: a conversation recognises real hardship only with the channel's ``diagnose``
probability (:func:`sim.tactics.pipeline.diagnosed`; a borrower who calls ahead is recognised), and a
borrower not in hardship who could pay but did not (last decision *unwilling* or *hoped*: present
bias, :mod:`sim.mechanisms.repayment`) asks for a plan and passes the check with probability
``false_hardship`` (the tactic counts ``plans_false_hardship``).
"""

from __future__ import annotations

import numpy as np

from ..paramtypes import P, Section
from ..state import CYCLE, HOPED, UNWILLING
from . import Tactic
from .pipeline import diagnosed


class Plans(Section):
    arrears_instalments: bool = P(True, "flag", "Kind: spread the arrears over the coming instalments.")
    arrears_months: int = P(6, "months", "Minimum number of instalments over which arrears are spread.", ge=1, le=60)
    term_extension: bool = P(True, "flag", "Kind: add months to the term, lowering the instalment.")
    extension_months: int = P(6, "months", "Months added by a term extension.", ge=1, le=60)
    payment_holiday: bool = P(True, "flag", "Kind: defer payments while the borrower is unemployed.")
    holiday_months: int = P(2, "months", "Length of a payment holiday.", ge=1, le=12)
    fee_waiver: bool = P(True, "flag", "Kind: waive the late fees accrued.")
    on_visit: bool = P(True, "flag", "Offer a plan when a visit diagnoses hardship.")
    on_call: bool = P(False, "flag", "Offer a plan on phone calls to borrowers in hardship.")
    on_early_contact: bool = P(True, "flag", "Offer a plan when a borrower calls ahead of a shortfall.")
    require_hardship: bool = P(True, "flag", "Only borrowers whose income fell or who had an emergency are eligible.")
    max_dpd: int = P(90, "DPD", "Loans further behind are not eligible.", ge=0, le=720)
    max_per_loan: int = P(1, "plans", "Plans one loan can have over its life.", ge=1, le=10)
    acceptance: float = P(0.75, "probability", "Chance an eligible borrower accepts the offer (scaled by trust).", ge=0, le=1)
    break_dpd: int = P(30, "DPD", "A plan loan this far behind is broken (re-default).", ge=1, le=720)
    admin_cost: float = P(15.0, "CU", "Cost of setting up one plan.", ge=0, le=1e6)
    qualifying_payments: int = P(3, "instalments", "Instalments paid on the new schedule before a plan loan counts as cured.", ge=1, le=60)
    false_hardship: float = P(0.1, "probability", "Chance a borrower not in hardship who could pay but did not asks for a plan and passes the hardship check (assumption).", ge=0, le=1)


class FlexiblePlans(Tactic):
    name = "plans"
    doc = "Flexible repayment plans."
    Params = Plans
    rank = 25
    counters = {
        "plans_completed": "plans that made their qualifying payments in the window (the loan cured)",
        "plans_false_hardship": "plans taken in the window by borrowers not in hardship",
    }
    state = {
        "plan_paid": (np.int8, 0),  # qualifying instalments paid on the current plan
        "plan_covered": (np.int32, -1),  # due date of the last instalment counted (or the plan's start)
        "plan_was_late": (np.bool_, False),  # past due when the plan began: its completion is a cure
    }

    def offer(self, idx, t, channel) -> None:
        on = {"phone": self.p.on_call, "visit": self.p.on_visit}.get(channel.name, False)
        if on:
            m = self.model
            found = diagnosed(m, idx, t, channel) if self.p.require_hardship else idx
            offer(m, np.union1d(found, false_hardship(m, idx, t)), t)

    def progress(self, t) -> None:
        """After the day's payments, active or not (loans may still be on a plan): :func:`progress`.
        :func:`sim.mechanisms.loans.update` calls it through the model."""
        progress(self.model, t)

    def inbound(self, idx, t) -> None:
        if self.p.on_early_contact:
            m = self.model
            found = idx[m.people.hardship_until[idx] >= t] if self.p.require_hardship else idx
            offer(m, np.union1d(found, false_hardship(m, idx, t)), t)


def false_hardship(model, idx, t) -> np.ndarray:
    """Those in ``idx`` not in hardship who ask for a plan they do not need and pass the check: they
    could pay but did not (last decision unwilling or hoped), with probability ``false_hardship``."""
    ppl, pl = model.people, model.params.collection.plans
    if not pl.require_hardship or pl.false_hardship <= 0.0 or len(idx) == 0:
        return idx[:0]
    asks = (ppl.hardship_until[idx] < t) & np.isin(ppl.last_decision[idx], (UNWILLING, HOPED))
    idx = idx[asks]
    return idx[model.streams.person.plans.uniform(idx, t, 1) < pl.false_hardship]


def eligible(model, idx, t, *, checked=False) -> np.ndarray:
    """Those in ``idx`` a plan can be offered to: a loan not on a plan, with plans left, not too far
    behind. With ``require_hardship``, only those in hardship, unless ``checked``: ``idx`` are those
    the lender's hardship check passed (which may be wrong both ways)."""
    ppl, pl = model.people, model.params.collection.plans
    ok = ppl.has_loan[idx] & ~ppl.on_plan[idx] & (ppl.plans_taken[idx] < pl.max_per_loan) & (ppl.dpd[idx] <= pl.max_dpd)
    if pl.require_hardship and not checked:
        ok &= ppl.hardship_until[idx] >= t
    return idx[ok]


def offer(model, idx, t) -> np.ndarray:
    """Offer plans to ``idx``, the borrowers whose hardship check passed (or everyone, without
    ``require_hardship``); returns those who took one."""
    ppl, pl, books = model.people, model.params.collection.plans, model.lender.books
    if len(idx) == 0:
        return idx[:0]
    idx = eligible(model, idx, t, checked=True)
    books.plans_offered += len(idx)
    u = model.streams.person.plans.uniform(idx, t)
    take = idx[u < np.clip(pl.acceptance * (0.5 + ppl.trust[idx]), 0.0, 1.0)]
    restructure(model, take, t)
    tac = model.tactics["plans"]
    tac.counts["plans_false_hardship"] += int(np.count_nonzero(ppl.hardship_until[take] < t))
    return take


def restructure(model, idx, t) -> None:
    ppl, pl, books = model.people, model.params.collection.plans, model.lender.books
    if len(idx) == 0:
        return
    inst = ppl.instalment[idx]
    remaining = np.ceil((ppl.balance[idx] - ppl.amount_due[idx]) / inst - 1e-9)
    missed = np.ceil(ppl.amount_due[idx] / inst - 1e-9)
    if pl.arrears_instalments:
        periods = np.maximum(remaining, pl.arrears_months)
    else:
        periods = remaining + missed
    if pl.term_extension:
        periods = periods + pl.extension_months
    periods = np.maximum(periods, 1)
    holiday = np.zeros(len(idx), np.int32)
    if pl.payment_holiday:
        holiday = np.where(ppl.employed[idx], 0, pl.holiday_months).astype(np.int32)
    if pl.fee_waiver:
        books.fees_waived += float(ppl.fees[idx].sum())
        ppl.fees[idx] = 0.0

    ppl.plan_was_late[idx] = ppl.dpd[idx] > 0  # the cure is counted when the plan completes
    ppl.plan_paid[idx] = 0
    ppl.instalment[idx] = ppl.balance[idx] / periods
    ppl.amount_due[idx] = 0.0
    ppl.dpd[idx] = 0
    ppl.next_due[idx] = t + CYCLE * (1 + holiday)
    ppl.plan_covered[idx] = ppl.next_due[idx] - CYCLE  # no instalment on the plan is paid yet
    ppl.on_plan[idx] = True
    ppl.plans_taken[idx] += 1
    ppl.first_plan_day[idx] = np.where(ppl.first_plan_day[idx] < 0, t, ppl.first_plan_day[idx])
    ppl.queued_since[idx] = -1
    books.plans_accepted += len(idx)
    books.plan_cost += model.params.collection.plans.admin_cost * len(idx)
    tr = model.params.trust
    model.experience(idx, stress=-model.params.stress.plan_relief, quality=tr.plan_quality, weight=tr.plan_weight)



def progress(model, t) -> None:
    """After the day's payments (step 3, :func:`sim.mechanisms.loans.update`): a plan loan whose latest
    instalment on the new schedule is paid in full has made one more qualifying payment; at
    ``qualifying_payments`` it leaves the plan cured."""
    ppl = model.people
    onp = ppl.on_plan.nonzero()[0]
    if len(onp) == 0:
        return
    due = ppl.next_due[onp] - CYCLE  # the latest due date billed
    paid = (ppl.amount_due[onp] <= 0.0) & (due > ppl.plan_covered[onp])
    q, due = onp[paid], due[paid]
    ppl.plan_paid[q] += 1
    ppl.plan_covered[q] = due
    done = q[ppl.plan_paid[q] >= model.params.collection.plans.qualifying_payments]
    ppl.on_plan[done] = False
    model.lender.books.cures += int(np.count_nonzero(ppl.plan_was_late[done]))
    model.tactics["plans"].counts["plans_completed"] += len(done)


TACTIC = FlexiblePlans
