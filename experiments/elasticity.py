"""No cliffs: how far moving each numeric parameter by +-20% (within its range) moves ``default_rate``
and ``roll_30_60`` at the baseline.

    .venv/bin/python experiments/elasticity.py                       # 3,000 people x 365 days, seed 1
    .venv/bin/python experiments/elasticity.py --borrowers 10000 --days 730 --seeds 2

Prints every variant sorted by the larger of its two ratios (new / baseline, or the inverse).

Every numeric parameter of the scenario tree is walked (flags, text, the population size, the run's
length, the burn-in and the two product shares, which must add up to 1, are not "numeric
parameters" of the model). Each variant runs with the same seed as the baseline (paired), 3,000
people x 365 days after the default burn-in (by default), in two worker processes. At that size a
run has only a few dozen charge-offs, so a ratio near 2 needs confirming at a larger size with more
seeds (``tests/test_elasticity.py`` does that for the most sensitive parameters).
"""

from __future__ import annotations

import math
import warnings

import sim
from sim.execute import run_each
from sim.params import Scenario, iter_parameters

BORROWERS, DAYS, SEED = 3000, 365, 1
SKIP = {"population.borrowers", "simulation.days", "simulation.burn_in", "products.cash.share", "products.pos.share"}
KEYS = ("default_rate", "roll_30_60")


def _bounds(path: str) -> tuple[float, float]:
    obj = Scenario()
    *parents, leaf = path.split(".")
    for p in parents:
        obj = getattr(obj, p)
    lo, hi = -math.inf, math.inf
    for m in type(obj).model_fields[leaf].metadata:
        lo = max(lo, getattr(m, "ge", None) if getattr(m, "ge", None) is not None else lo)
        hi = min(hi, getattr(m, "le", None) if getattr(m, "le", None) is not None else hi)
        if getattr(m, "gt", None) is not None:
            lo = max(lo, m.gt * 1.000001 if m.gt > 0 else m.gt + 1e-9)
        if getattr(m, "lt", None) is not None:
            hi = min(hi, m.lt - 1e-9)
    return lo, hi


def variants() -> list[tuple[str, float]]:
    out = []
    for path, _unit, value, _doc, _ann in iter_parameters(sim.load_scenario("baseline")):
        if path in SKIP or isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
            continue
        lo, hi = _bounds(path)
        for f in (0.8, 1.2):
            v = min(max(value * f, lo), hi)
            v = int(round(v)) if isinstance(value, int) else v
            if v != value:
                out.append((path, v))
    return out


def run(job):
    """``job`` = (parameter, value, borrowers, days, seed); returns (job, (default_rate, roll_30_60))."""
    path, value, borrowers, days, seed = job
    over = {} if path is None else {path: value}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = sim.run("baseline", borrowers=borrowers, days=days, seed=seed, overrides=over).summary
    return job, tuple(s[k] for k in KEYS)


def walk(params: list[tuple[str, float]], borrowers: int, days: int, seeds) -> dict:
    """Mean (default_rate, roll_30_60) over ``seeds`` for the baseline (key None) and each variant."""
    jobs = [(p, v, borrowers, days, s) for p, v in [(None, None)] + params for s in seeds]
    out = run_each(run, jobs, workers=2)
    acc: dict = {}
    for (p, v, *_), vals in out:
        acc.setdefault((p, v), []).append(vals)
    return {k: tuple(sum(x) / len(x) for x in zip(*vs)) for k, vs in acc.items()}


def ratios(result: dict) -> list[tuple[float, str, float, tuple]]:
    base = result[(None, None)]
    rows = []
    for (p, v), vals in result.items():
        if p is None:
            continue
        r = [x / b if x > 0 else math.inf for x, b in zip(vals, base)]
        rows.append((max(max(x, 1 / x) if x > 0 else math.inf for x in r), p, v, vals))
    return sorted(rows, key=lambda row: -row[0])


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="+-20% on every numeric parameter: default rate and roll 30-60")
    ap.add_argument("--borrowers", type=int, default=BORROWERS)
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--seeds", type=int, default=1)
    a = ap.parse_args()
    res = walk(variants(), a.borrowers, a.days, range(1, a.seeds + 1))
    b = res[(None, None)]
    print(f"baseline: default_rate {b[0]:.4f}, roll_30_60 {b[1]:.3f}")
    for worst, p, v, vals in ratios(res):
        print(f"{worst:5.2f}  {p} = {v:g}: default_rate {vals[0]:.4f}, roll_30_60 {vals[1]:.3f}")


if __name__ == "__main__":
    main()


