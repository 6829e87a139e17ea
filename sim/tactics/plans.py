"""Flexible repayment plans: eligibility, acceptance, restructuring, and re-default.

Kinds, each switched on by the scenario and combined when several are on:

* **instalments on arrears**: the arrears are folded into the coming instalments, spread over at
  least ``arrears_months`` of them;
* **term extension**: ``extension_months`` are added to the term, so each instalment is smaller;
* **payment holiday**: a borrower out of work pays nothing for ``holiday_months``;
* **fee waiver**: the late fees accrued are written off.

A plan re-ages the loan (arrears become future instalments, DPD returns to 0, which counts as a
cure). The lender forgoes interest on the delay: the restructured schedule repays the balance owed,
no more. A plan loan that falls ``break_dpd`` behind is broken (a re-default) and collected as
before; a loan can have ``max_per_loan`` plans over its life.

Plans are offered in conversations on the channels the strategy names (``on_call``, ``on_visit``),
to borrowers whose hardship the conversation recognised, and to borrowers who call ahead of a
shortfall (``on_early_contact``).
"""

from __future__ import annotations

import numpy as np

from ..paramtypes import P, Section
from ..state import CYCLE
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


class FlexiblePlans(Tactic):
    name = "plans"
    doc = "Flexible repayment plans."
    Params = Plans
    rank = 25

    def offer(self, idx, t, channel) -> None:
        on = {"phone": self.p.on_call, "visit": self.p.on_visit}.get(channel.name, False)
        if on:
            offer(self.model, diagnosed(self.model, idx, t, channel), t)

    def inbound(self, idx, t) -> None:
        if self.p.on_early_contact:
            offer(self.model, idx, t)


def eligible(model, idx, t) -> np.ndarray:
    ppl, pl = model.people, model.params.collection.plans
    ok = ppl.has_loan[idx] & ~ppl.on_plan[idx] & (ppl.plans_taken[idx] < pl.max_per_loan) & (ppl.dpd[idx] <= pl.max_dpd)
    if pl.require_hardship:
        ok &= ppl.hardship_until[idx] >= t
    return idx[ok]


def offer(model, idx, t) -> np.ndarray:
    """Offer plans to ``idx``; returns those who took one."""
    ppl, pl, books = model.people, model.params.collection.plans, model.lender.books
    if len(idx) == 0:
        return idx[:0]
    idx = eligible(model, idx, t)
    books.plans_offered += len(idx)
    u = model.streams.person.plans.uniform(idx, t)
    take = idx[u < np.clip(pl.acceptance * (0.5 + ppl.trust[idx]), 0.0, 1.0)]
    restructure(model, take, t)
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

    books.cures += int((ppl.dpd[idx] > 0).sum())
    ppl.instalment[idx] = ppl.balance[idx] / periods
    ppl.amount_due[idx] = 0.0
    ppl.dpd[idx] = 0
    ppl.next_due[idx] = t + CYCLE * (1 + holiday)
    ppl.on_plan[idx] = True
    ppl.plans_taken[idx] += 1
    ppl.first_plan_day[idx] = np.where(ppl.first_plan_day[idx] < 0, t, ppl.first_plan_day[idx])
    ppl.queued_since[idx] = -1
    books.plans_accepted += len(idx)
    books.plan_cost += model.params.collection.plans.admin_cost * len(idx)
    tr = model.params.trust
    model.experience(idx, stress=-model.params.stress.plan_relief, quality=tr.plan_quality, weight=tr.plan_weight)


TACTIC = FlexiblePlans
