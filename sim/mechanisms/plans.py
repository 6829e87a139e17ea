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
"""

from __future__ import annotations

import numpy as np

from ..state import CYCLE


def eligible(model, idx, t) -> np.ndarray:
    ppl, pl = model.people, model.params.collection.plans
    ok = ppl.has_loan[idx] & ~ppl.on_plan[idx] & (ppl.plans_taken[idx] < pl.max_per_loan) & (ppl.dpd[idx] <= pl.max_dpd)
    if pl.require_hardship:
        ok &= ppl.hardship_until[idx] >= t
    return idx[ok]


def offer(model, idx, t) -> np.ndarray:
    """Offer plans to ``idx``; returns those who took one."""
    ppl, pl, books = model.people, model.params.collection.plans, model.lender.books
    if not pl.enabled or len(idx) == 0:
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
