"""Customer education at origination: literacy and contract understanding rise, impatience falls.

Each gain closes a share of the gap to 1 (``literacy_gain``, ``understanding_gain``); planning advice
removes a share of present bias. A person is educated once.
"""

from __future__ import annotations

from . import population, spending


def at_origination(model, idx) -> None:
    ed = model.params.education
    if not ed.enabled or len(idx) == 0:
        return
    ppl = model.people
    idx = idx[~ppl.educated[idx]]
    ppl.literacy[idx] += ed.literacy_gain * (1.0 - ppl.literacy[idx])
    ppl.understanding[idx] += ed.understanding_gain * (1.0 - ppl.understanding[idx])
    ppl.present_bias[idx] *= 1.0 - ed.present_bias_reduction
    spending.settle(model, idx, model.day)
    population.set_spending_rates(model, ppl, idx)
    ppl.educated[idx] = True
    model.lender.books.education_cost += ed.cost * len(idx)
