"""Regression check for performance work: the outputs of every shipped scenario must not change.

    .venv/bin/python benchmarks/regression_check.py --save /tmp/credsim-ref.pkl     # on the reference commit
    .venv/bin/python benchmarks/regression_check.py --check /tmp/credsim-ref.pkl    # on the changed code

Runs every ``scenarios/*.toml`` for seeds 0, 1, 2 at 3,000 borrowers x (default burn-in + 365 days)
and saves, or compares against a saved reference, the summary dict, the daily DataFrame and the
loans table. The comparison is exact; a float that differs is reported with its relative difference
and accepted only if it is within ``--rtol`` (default 0: exact). A change of a float sum's order may
legitimately move the last bits; any such difference is printed so it can be explained.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 2)
BORROWERS = 3_000
DAYS = 365


def outputs() -> dict:
    import sim

    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        for seed in SEEDS:
            r = sim.run(path, borrowers=BORROWERS, days=DAYS, seed=seed)
            out[(path.stem, seed)] = {"summary": dict(r.summary), "daily": r.daily, "loans": r.loans}
    return out


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
    return float(np.max(np.where(diff == 0.0, 0.0, diff / scale), initial=0.0))


def compare(ref: dict, new: dict, rtol: float) -> list[str]:
    problems = []
    for key, r in ref.items():
        n = new[key]
        tag = f"{key[0]} seed {key[1]}"
        rs, ns = r["summary"], n["summary"]
        if rs.keys() != ns.keys():
            problems.append(f"{tag}: summary keys differ")
        for k in rs.keys() & ns.keys():
            a, b = rs[k], ns[k]
            same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
            if not same:
                rel = _rel(a, b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else math.inf
                problems.append(f"{tag}: summary[{k}] {a!r} != {b!r} (rel {rel:.3g})" + (" [within rtol]" if rel <= rtol else ""))
        for table in ("daily", "loans"):
            a, b = r[table], n[table]
            if list(a.columns) != list(b.columns) or len(a) != len(b):
                problems.append(f"{tag}: {table} shape/columns differ: {a.shape} vs {b.shape}")
                continue
            for c in a.columns:
                x, y = a[c].to_numpy(), b[c].to_numpy()
                if x.dtype != y.dtype:
                    problems.append(f"{tag}: {table}.{c} dtype {x.dtype} != {y.dtype}")
                    continue
                if x.dtype.kind == "f":
                    eq = (x == y) | (np.isnan(x) & np.isnan(y))
                else:
                    eq = x == y
                if not np.all(eq):
                    rel = _rel(x, y) if x.dtype.kind in "fiu" else math.inf
                    problems.append(f"{tag}: {table}.{c} differs in {int((~eq).sum())} rows (max rel {rel:.3g})"
                                    + (" [within rtol]" if rel <= rtol else ""))
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", metavar="PATH", help="write the reference outputs here")
    g.add_argument("--check", metavar="PATH", help="compare against the reference saved here")
    ap.add_argument("--rtol", type=float, default=0.0, help="accepted relative difference of floats (default 0: exact)")
    args = ap.parse_args(argv)
    new = outputs()
    if args.save:
        with open(args.save, "wb") as fh:
            pickle.dump(new, fh)
        print(f"saved {len(new)} runs to {args.save}")
        return 0
    with open(args.check, "rb") as fh:
        ref = pickle.load(fh)
    problems = compare(ref, new, args.rtol)
    for p in problems:
        print(p)
    bad = [p for p in problems if not p.endswith("[within rtol]")]
    print(f"{len(ref)} runs compared: {'IDENTICAL' if not problems else ('within rtol' if not bad else 'DIFFERENT')}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
