"""Spending: subsistence, other creditors, habit, impulse, present bias, and setting money aside for
the instalment.

Subsistence, debt service to other creditors and habitual spending are flows per day. They are taken
lazily: ``settle`` charges a person for the days since they were last settled, just before anything
reads their cash, so days without events cost nothing. Subsistence comes first and may eat into money
set aside for this lender's instalment; so do other creditors for people who pay them first
(``People.other_first``); then habit, which only spends free cash; then other creditors for the rest,
from free cash only (what they cannot pay them goes unpaid, outside this model). Impulse purchases are events whose rate rises with present bias. On pay day a
planner sets the next instalment aside, more so the more attentive, patient and understanding.
"""

from __future__ import annotations

import numpy as np

from ..rng import sample_rows
from ..state import CYCLE


def spend(ppl, idx, amount, *, use_reserved: bool) -> np.ndarray:
    """Take ``amount`` from cash (then from money set aside if allowed); returns the unmet part."""
    from_cash = np.minimum(amount, ppl.cash[idx])
    ppl.cash[idx] -= from_cash
    rest = amount - from_cash
    if use_reserved:
        from_res = np.minimum(rest, ppl.reserved[idx])
        ppl.reserved[idx] -= from_res
        rest = rest - from_res
    return rest


def settle(model, idx, t) -> None:
    """Charge daily subsistence and habit spending up to day ``t``."""
    if len(idx) == 0:
        return
    ppl = model.people
    cash, reserved, since = ppl.cash[idx], ppl.reserved[idx], ppl.settled_day[idx]
    # people already settled today have nothing to pay (except clearing rounding dust below zero)
    todo = since < t
    if not todo.all():  # the rounding-dust test only matters when someone was settled already
        todo |= (cash < 0.0) | (reserved < 0.0)
        idx, cash, reserved, since = idx[todo], cash[todo], reserved[todo], since[todo]
    if len(idx) == 0:
        return
    # the three charges of spend(), on gathered copies: subsistence (and other creditors paid
    # first) from cash then set-aside money, habit from cash, other creditors from cash
    days = np.subtract(t, since, dtype=float)  # (t - since).astype(float), in one pass (exact: whole days)
    first = ppl.other_first[idx]
    other = ppl.daily_other[idx] * days
    need = ppl.daily_subsistence[idx] * days + np.where(first, other, 0.0)
    from_cash = np.minimum(need, cash)
    cash -= from_cash
    reserved -= np.minimum(need - from_cash, reserved)
    cash -= np.minimum(ppl.daily_habit[idx] * days, cash)
    cash -= np.minimum(np.where(first, 0.0, other), cash)
    ppl.cash[idx] = cash
    ppl.reserved[idx] = reserved
    ppl.settled_day[idx] = t


def step(model, t) -> None:
    """Step 3 of the day: impulse purchases, and budgeting on pay day."""
    impulses(model, t)
    set_aside(model, model.pay_groups[t % CYCLE], t)


def impulses(model, t) -> None:
    ppl, pop = model.people, model.params.population
    rng = model.streams.spending
    # thinning: candidates at the highest possible rate, kept in proportion to each person's rate
    max_ratio = 1.0 / pop.present_bias_mean
    cand = sample_rows(rng, ppl.n, pop.impulse_rate / CYCLE * max_ratio)
    u = rng.random(len(cand))
    buy = cand[u < (ppl.present_bias[cand] / pop.present_bias_mean) / max_ratio]
    settle(model, buy, t)
    cash = ppl.cash[buy]  # spend() of free cash, gathering it once (the rows are unique)
    ppl.cash[buy] = cash - np.minimum(pop.impulse_size * cash, cash)


def set_aside(model, idx, t) -> None:
    """On pay day, planners earmark what the loan will ask for this cycle."""
    ppl, rp = model.people, model.params.repayment
    idx = idx[ppl.has_loan[idx]]
    if len(idx) == 0:
        return
    settle(model, idx, t)
    attention = ppl.attention_now(idx, t, rp.attention_halflife)
    planning = rp.earmark_weight * (1.0 - ppl.present_bias[idx]) * (0.5 + 0.5 * ppl.understanding[idx])
    planning *= 0.5 + 0.5 * attention
    due = ppl.amount_due[idx]  # gathered once
    need = due + ppl.fees[idx] + np.minimum(ppl.instalment[idx], ppl.balance[idx] - due)
    target = planning * need
    move = np.minimum(np.maximum(target - ppl.reserved[idx], 0.0), ppl.cash[idx])  # np.clip, without its wrapper
    ppl.cash[idx] -= move
    ppl.reserved[idx] += move
