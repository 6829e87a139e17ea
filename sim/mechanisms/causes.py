"""The main cause of a loan's serious delinquency, recorded when it first reaches 30 DPD.

The first rule that holds names the cause (``sim.state.CAUSES``):

1. ``job_loss``: the borrower is out of work, or lost a job within the last ``WINDOW`` days;
2. ``emergency``: a family emergency or illness within the last ``WINDOW`` days;
3. the borrower's latest decision found them short of cash (``UNABLE``, paid part, or stopped paying
   and hoped): ``over_indebted`` if their monthly debt service to other creditors is at least the
   instalment (without those debts they could have paid), else ``spending`` (habit, impulse and
   irregular pay ate the money);
4. otherwise they could pay but chose not to: ``misunderstood`` if their contract understanding is
   below ``MISUNDERSTOOD``, else ``strategic`` (won't pay).

This only labels; nothing downstream reads it but the outputs (the cause mix, outcomes by cause).
"""

from __future__ import annotations

import numpy as np

from ..state import CAUSES, HOPED, PAID_PART, UNABLE

WINDOW = 90  #: days a shock stays the explanation
MISUNDERSTOOD = 0.4  #: contract understanding below which unwillingness is put down to misunderstanding

JOB_LOSS, EMERGENCY, OVER_INDEBTED, SPENDING, MISUNDERSTOOD_CODE, STRATEGIC = range(len(CAUSES))


def classify(model, idx, t) -> np.ndarray:
    """The cause code of each borrower in ``idx`` on day ``t``."""
    ppl = model.people
    last = ppl.last_decision[idx]
    short = (last == UNABLE) | (last == PAID_PART) | (last == HOPED)  # np.isin, without its set machinery
    other_monthly = ppl.other_dsti[idx] * ppl.income[idx]
    return np.select(
        [
            ~ppl.employed[idx] | (t - ppl.last_job_loss[idx] <= WINDOW),
            t - ppl.last_emergency[idx] <= WINDOW,
            short & (other_monthly >= ppl.instalment[idx]),
            short,
            ppl.understanding[idx] < MISUNDERSTOOD,
        ],
        [JOB_LOSS, EMERGENCY, OVER_INDEBTED, SPENDING, MISUNDERSTOOD_CODE],
        STRATEGIC,
    ).astype(np.int8)


def assign(model, idx, t) -> None:
    """Loans in ``idx`` reached 30 DPD for the first time today."""
    ppl = model.people
    idx = idx[ppl.cause[idx] < 0]
    if len(idx):
        ppl.cause[idx] = classify(model, idx, t)
