"""Collectors: the call agents and field collectors the lender employs.

The lender employs ``collection.collectors.call_agents`` call agents and
``collection.collectors.field_collectors`` field collectors. Each makes a set number of contacts a
day (``calls_per_agent``, ``visits_per_collector``), so the daily capacity of the call centre and of
the field force is headcount x contacts per collector, rounded. A headcount left unset is what the
per-1,000-people capacity of the channel needs (``collection.reminders.phone_capacity``,
``collection.visits.capacity``); a fractional headcount is a part-time collector, who makes the
remainder.

Every collector has, for the whole run, a **skill** (log-odds: it shifts the chance that a
conversation ends in a promise to pay and that it learns of a borrower's hardship) and a **tone**
(harshness 0..1, field collectors: it raises the pressure, stress and complaint chance of a visit and
lowers what the visit shows of the lender). Both are drawn once, one standard normal per collector
and trait from the stream ``collectors`` (:func:`sim.rng.seed_sequence`), around means the strategy
sets: harshness ``collection.tone.harshness + incentive_harshness x incentive`` (spread
``harshness_sd``, clipped to 0..1), skill ``collection.tone.skill + incentive_effort x incentive``
(spread ``skill_sd``). A change of strategy mid-run moves every collector by the same amount: the
same people, retrained or paid differently.

Each day the contacts that pass capacity are shared out as if dealt round-robin, the part-timer
dropping out once their share is dealt: no collector makes more contacts than they can and the day's
work is spread evenly. Each collector's share goes to a contiguous run of the people in a random order
(per-person stream ``collectors``), so who meets whom does not depend on the queue's order, and a
person's collector follows their own number rather than how many others are contacted that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .rng import PersonStream, seed_sequence

Kind = Literal["call", "field"]
_CAP = 2**62  # capacities beyond this are unlimited in practice (and stay integers)
_SLOT = {"call": 0, "field": 1}


@dataclass(frozen=True)
class Team:
    """One kind of collector: their number, daily capacity and lasting traits."""

    kind: Kind
    headcount: float  # people employed (a fraction: one part-timer)
    rate: int  # contacts a collector makes per day
    capacity: int  # contacts the team makes per day
    harshness: np.ndarray  # per collector, 0..1
    skill: np.ndarray  # per collector, logit
    draw: PersonStream  # the stream of the daily assignment (stream "collectors", one slot per kind)

    @property
    def size(self) -> int:
        return len(self.skill)

    def assign(self, idx: np.ndarray, t: int) -> np.ndarray:
        """The collector of each of the day's contacts ``idx`` (no more than ``capacity``)."""
        n = len(idx)
        if n == 0 or self.size == 0:
            return np.zeros(n, np.int64)
        # each collector's share of the day's work (the part-timer drops out once their share is dealt)
        # goes to a contiguous run of people in the order of their per-person number: a person's
        # collector follows their own number, about floor(u x size), and not how many others are
        # contacted that day (common random numbers: one more contact moves only the people at the
        # runs' edges, where a rank-based round-robin would move everyone after them)
        load = self._loads(n)
        order = self.draw.uniform(idx, t, _SLOT[self.kind]).argsort(kind="stable")
        owner = np.empty(n, np.int64)
        owner[order] = np.repeat(np.arange(self.size), load)
        return owner

    def _loads(self, n: int) -> np.ndarray:
        """Contacts of each collector when ``n`` are made: dealt one each in turn, the part-timer
        leaving once their share is dealt (no collector over their capacity, the rest even)."""
        part = self.capacity - (self.size - 1) * self.rate  # slots of the last collector
        full = part * self.size  # slots dealt while everyone is in
        load = np.full(self.size, min(n, full) // self.size, np.int64)
        load[: min(n, full) % self.size] += 1
        if n > full:
            extra = n - full
            load[: self.size - 1] += extra // (self.size - 1)
            load[: extra % (self.size - 1)] += 1
        return load


def _setting(params, kind: Kind) -> tuple[float | None, float, float]:
    c = params.collection.collectors
    if kind == "call":
        return c.call_agents, c.calls_per_agent, params.collection.reminders.phone_capacity
    return c.field_collectors, c.visits_per_collector, params.collection.visits.capacity


def headcount(params, kind: Kind) -> float:
    """Collectors of ``kind`` employed: the parameter, or what the per-1,000 capacity needs."""
    n, rate, per_thousand = _setting(params, kind)
    if n is None:
        return per_thousand * params.population.borrowers / 1000.0 / rate
    return n


def capacity(params, kind: Kind) -> int:
    """Contacts per day: headcount x contacts per collector (or the per-1,000 capacity), rounded."""
    n, rate, per_thousand = _setting(params, kind)
    daily = per_thousand * params.population.borrowers / 1000.0 if n is None else n * rate
    return int(min(round(daily), _CAP))


def traits(params, seed: int, kind: Kind, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(harshness, skill) of ``size`` collectors of ``kind``: one normal draw per collector and trait."""
    c, tone = params.collection.collectors, params.collection.tone
    rng = np.random.Generator(np.random.PCG64(seed_sequence(seed, "collectors", kind, "traits")))
    z = rng.standard_normal((size, 2))
    skill = tone.skill + c.incentive_effort * c.incentive + c.skill_sd * z[:, 1]
    if kind == "field":
        mean = tone.harshness + c.incentive_harshness * c.incentive
        harsh = np.clip(mean + c.harshness_sd * z[:, 0], 0.0, 1.0)
    else:  # a call's tone is not modelled: every call agent is the call the channel describes
        harsh = np.zeros(size)
    return harsh, skill


def team(model, kind: Kind) -> Team:
    """The model's team of ``kind`` (built once, and again if its parameters change mid-run)."""
    p = model.params
    key = (p.collection.collectors, p.collection.tone, p.collection.reminders.phone_capacity,
           p.collection.visits.capacity, p.population.borrowers)
    cache = model.collector_teams
    hit = cache.get(kind)
    if hit is not None and hit[0] == key:
        return hit[1]
    n, cap, rate = headcount(p, kind), capacity(p, kind), _setting(p, kind)[1]
    size = 0 if cap == 0 else max(1, int(np.ceil(cap / rate - 1e-9)))  # the last may be part-time
    harsh, skill = traits(p, model.seed, kind, size)
    built = Team(kind, n, rate, cap, harsh, skill, PersonStream(model.seed, "collectors"))
    cache[kind] = (key, built)
    return built


def staff(model, kind: Kind, *, harshness=None, skill=None) -> Team:
    """Give the model's team of ``kind`` set traits (one value per collector, or one for all): a lender
    that hires these particular people. Lasts until the team's parameters change."""
    base = team(model, kind)
    harsh = base.harshness if harshness is None else np.broadcast_to(np.asarray(harshness, float), base.harshness.shape)
    sk = base.skill if skill is None else np.broadcast_to(np.asarray(skill, float), base.skill.shape)
    built = Team(kind, base.headcount, base.rate, base.capacity, np.clip(harsh, 0.0, 1.0).copy(), sk.copy(),
                 base.draw)
    cache = model.collector_teams
    cache[kind] = (cache[kind][0], built)
    return built
