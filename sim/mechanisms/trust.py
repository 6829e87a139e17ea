"""Trust in the brand: personal priors, learning from experience against expectation, word of mouth.

A person's trust is what they expect of the lender (0 the worst, 1 the best). An experience shows
something of the lender: its **quality** ``q`` (an empathetic visit high, a harsh one low, a plan that
fits high, a charge-off low) and its salience ``w`` (a visit more than a call). Trust moves towards
what was shown, by the surprise::

    trust += learning_rate * w * (q - trust)

so the same harsh visit costs a trusting person much and a distrustful one little, and trust settles
where experience leads rather than adding up event by event. Each experience is told to the
person's ties: a listener's trust moves by ``word_of_mouth`` of the same step computed from their
own trust, and a story worse than the listener expected counts ``negativity_bias`` times as much.
Without news, trust drifts back to the person's own prior (half-life ``halflife``); priors differ
between people (``prior``, ``prior_concentration``).
"""

from __future__ import annotations

import numpy as np


def step(model, t, idx, quality, weight) -> None:
    """Step 7b: drift to the personal prior, direct experience, then word of mouth; kept in 0..1."""
    ppl, tr = model.people, model.params.trust
    keep = np.exp2(-1.0 / tr.halflife)
    drift = np.subtract(ppl.trust_prior, ppl.trust)  # (1 - keep) * (prior - trust), with one temporary
    drift *= 1.0 - keep
    ppl.trust += drift
    if len(idx) == 0:
        return
    rate = tr.learning_rate * weight
    surprise = quality - ppl.trust[idx]
    np.add.at(ppl.trust, idx, rate * surprise)
    k = ppl.neighbors.shape[1]
    if k and tr.word_of_mouth > 0.0:
        listeners = ppl.neighbors[idx].ravel()
        q = np.repeat(quality, k)
        heard = q - ppl.trust[listeners]
        told = np.repeat(rate * tr.word_of_mouth, k) * heard * np.where(heard < 0.0, tr.negativity_bias, 1.0)
        np.add.at(ppl.trust, listeners, told)
        model.lender.books.negative_stories += int((surprise < 0.0).sum())
        touched = np.concatenate([idx, listeners])
    else:
        touched = idx
    ppl.trust[touched] = np.minimum(np.maximum(ppl.trust[touched], 0.0), 1.0)  # np.clip, without its wrapper
