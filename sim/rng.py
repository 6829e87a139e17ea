"""The one place random generators are made.

Every mechanism draws from its own named stream, derived from the run's seed with NumPy's
``SeedSequence``. Adding a mechanism, or one mechanism drawing more or fewer numbers (as happens
when strategies differ), never shifts the draws of another: two strategies run with the same seed
face the same people and the same income shocks (common random numbers).
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np

#: The streams of the model, one per mechanism. Names are part of the reproducibility contract:
#: renaming one changes its draws.
STREAMS = (
    "population",
    "network",
    "income",
    "shocks",
    "spending",
)

#: Per-person streams (:class:`PersonStream`): a draw is a function of (seed, stream, person, day,
#: slot) alone, so it does not depend on who else draws that day. Used wherever the set of people who
#: draw depends on the strategy (who is behind, who is contacted, who applies).
PERSON_STREAMS = (
    "decision",
    "contact",
    "visit",
    "promise",
    "plans",
    "early_contact",
    "recovery",
    "origination",
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


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective avalanche mix of 64-bit integers (wraps, by design).
    Works in place on ``x`` (an unsigned 64-bit array) and returns it."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def _mix_int(x: int) -> int:
    """:func:`_mix` of one number, in Python integers (the same bits, without NumPy scalar overhead)."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class PersonStream:
    """Counter-based uniform draws per person: ``u(person, day, slot)`` in [0, 1).

    Two runs with the same seed give person *i* the same number on day *t* for the same purpose
    (``slot``), whatever else differs between them: a strategy that contacts more people, or fewer,
    changes only the draws of the people it touches (common random numbers per person, as in
    Starsim: Klein et al. 2024, arXiv:2409.02086). The draw is a hash of the stream's key (from the
    run's ``SeedSequence``), the person, the day and the slot; no generator state is shared.
    """

    def __init__(self, seed: int, name: str):
        self.name = name
        self.key = np.uint64(seed_sequence(seed, "person", name).generate_state(1, np.uint64)[0])
        self._key = int(self.key)

    def uniform(self, idx: np.ndarray, day: int, slot: int = 0) -> np.ndarray:
        """One uniform number in [0, 1) per row of ``idx`` for ``day`` and ``slot``."""
        idx = np.asarray(idx)
        if idx.size == 0:
            return np.zeros(0)
        salt = _mix_int((((int(day) * 1_000_003 + int(slot)) & _MASK64) ^ self._key))
        return self._draw(idx, np.uint64(salt))

    def uniform_keyed(self, idx: np.ndarray, keys: np.ndarray, slot: int = 0) -> np.ndarray:
        """Like :meth:`uniform`, with a key per row instead of one day (e.g. each person's budget month):
        a row whose key equals ``day`` gets the same number as ``uniform(idx, day, slot)``."""
        idx = np.asarray(idx)
        if idx.size == 0:
            return np.zeros(0)
        with np.errstate(over="ignore"):
            k = np.asarray(keys).astype(np.int64).astype(np.uint64) * np.uint64(1_000_003) + np.uint64(slot)
            salt = _mix(k ^ self.key)
        return self._draw(idx, salt)

    @staticmethod
    def _draw(idx: np.ndarray, salt) -> np.ndarray:
        """The hash of each row and its salt, as a uniform number in [0, 1)."""
        x = idx.astype(np.uint64)
        x *= _GOLDEN
        x += salt
        x = _mix(x)
        x >>= _S11
        return np.multiply(x, 1.0 / 9007199254740992.0)  # converted to float64 (exact below 2**53), then scaled

    def normal_keyed(self, idx: np.ndarray, keys: np.ndarray, slot: int = 0) -> np.ndarray:
        """Standard normal draws per person (inverse CDF of :meth:`uniform_keyed`)."""
        u = self.uniform_keyed(idx, keys, slot)
        np.maximum(u, 1e-16, out=u)  # np.clip(u, 1e-16, 1 - 1e-16), without its wrapper
        np.minimum(u, 1.0 - 1e-16, out=u)
        return _ndtri()(u)


@cache
def _ndtri():
    """scipy.special.ndtri, imported on first use (scipy is slow to import)."""
    from scipy.special import ndtri

    return ndtri


class Streams:
    """Named generators for one run, and the per-person streams (``streams.person.NAME``)."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._gens = {name: np.random.Generator(np.random.PCG64(seed_sequence(self.seed, name))) for name in STREAMS}
        self.person = _PersonStreams({name: PersonStream(self.seed, name) for name in PERSON_STREAMS})

    def __getitem__(self, name: str) -> np.random.Generator:
        return self._gens[name]

    def __getattr__(self, name: str) -> np.random.Generator:
        try:
            return self.__dict__["_gens"][name]
        except KeyError:
            raise AttributeError(name) from None


class _PersonStreams:
    def __init__(self, streams: dict[str, PersonStream]):
        self.__dict__.update(streams)

    def __getitem__(self, name: str) -> PersonStream:
        return self.__dict__[name]


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
    pos = np.cumsum(rng.geometric(prob, chunk))
    pos -= 1
    parts = [pos]
    while pos[-1] < n - 1:
        pos = pos[-1] + np.cumsum(rng.geometric(prob, chunk))
        parts.append(pos)
    rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return rows[: rows.searchsorted(n)]  # rows < n: the rows increase strictly, so a prefix
