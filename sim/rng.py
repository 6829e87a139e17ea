"""The one place random generators are made.

Every mechanism draws from its own named stream, derived from the run's seed with NumPy's
``SeedSequence``. Adding a mechanism, or one mechanism drawing more or fewer numbers (as happens
when strategies differ), never shifts the draws of another: two strategies run with the same seed
face the same people and the same income shocks (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np

#: The streams of the model, one per mechanism. Names are part of the reproducibility contract:
#: renaming one changes its draws.
STREAMS = (
    "population",
    "network",
    "income",
    "shocks",
    "spending",
    "repayment",
    "early_contact",
    "collection",
    "plans",
    "recovery",
    "acquisition",
)


def stream_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def seed_sequence(seed: int, *path: str | int) -> np.random.SeedSequence:
    """The SeedSequence for ``seed`` and a named path (e.g. a sweep's replicate number)."""
    key = tuple(stream_key(p) if isinstance(p, str) else int(p) for p in path)
    return np.random.SeedSequence(entropy=int(seed), spawn_key=key)


def replicate_seed(base_seed: int, replicate: int) -> int:
    """The run seed of replicate ``r`` of a sweep: the same for every scenario (paired designs)."""
    return int(seed_sequence(base_seed, "replicate", replicate).generate_state(1, np.uint32)[0])


class Streams:
    """Named generators for one run."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._gens = {name: np.random.Generator(np.random.PCG64(seed_sequence(self.seed, name))) for name in STREAMS}

    def __getitem__(self, name: str) -> np.random.Generator:
        return self._gens[name]

    def __getattr__(self, name: str) -> np.random.Generator:
        try:
            return self.__dict__["_gens"][name]
        except KeyError:
            raise AttributeError(name) from None


def sample_rows(rng: np.random.Generator, n: int, prob: float) -> np.ndarray:
    """Rows ``0..n-1`` each hit independently with probability ``prob``, sorted and unique.

    Draws the gaps between hits (geometric), so the cost is proportional to the hits, not to ``n``.
    """
    if n <= 0 or prob <= 0.0:
        return np.zeros(0, np.int64)
    if prob >= 1.0:
        return np.arange(n, dtype=np.int64)
    if prob < 1e-9:  # gaps would overflow int64: draw the count, then the rows
        k = int(rng.binomial(n, prob))
        return np.sort(rng.choice(n, k, replace=False)).astype(np.int64)
    expected = n * prob
    chunk = int(expected + 6.0 * np.sqrt(expected) + 16)
    pos = np.cumsum(rng.geometric(prob, chunk)) - 1
    parts = [pos]
    while pos[-1] < n - 1:
        pos = pos[-1] + np.cumsum(rng.geometric(prob, chunk))
        parts.append(pos)
    rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return rows[rows < n]
