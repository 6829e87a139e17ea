"""Trust in the brand and word of mouth.

Direct experiences (calls, visits by tone, plans, charge-off) move a person's trust. Each experience
is also told to the person's social ties: every tie's trust moves by ``word_of_mouth`` times the
experience, and negative stories count ``negativity_bias`` times as much. Without news, trust drifts
back to ``prior`` with a long half-life.
"""

from __future__ import annotations

import numpy as np


def step(model, t, idx, delta) -> None:
    """Step 7b: drift, direct experience, then word of mouth; kept in 0..1."""
    ppl, tr = model.people, model.params.trust
    keep = np.exp2(-1.0 / tr.halflife)
    ppl.trust *= keep
    ppl.trust += (1.0 - keep) * tr.prior
    if len(idx) == 0:
        return
    np.add.at(ppl.trust, idx, delta)
    told = delta * tr.word_of_mouth * np.where(delta < 0.0, tr.negativity_bias, 1.0)
    k = ppl.neighbors.shape[1]
    if k:
        listeners = ppl.neighbors[idx].ravel()
        np.add.at(ppl.trust, listeners, np.repeat(told, k))
        model.lender.books.negative_stories += int((delta < 0.0).sum())
        touched = np.concatenate([idx, listeners])
    else:
        touched = idx
    ppl.trust[touched] = np.clip(ppl.trust[touched], 0.0, 1.0)
