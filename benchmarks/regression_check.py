"""Regression check for performance work: the outputs of every shipped scenario must not change.

    .venv/bin/python benchmarks/regression_check.py --check                          # against the committed digest
    .venv/bin/python benchmarks/regression_check.py --save benchmarks/regression_reference.json   # refresh it
    .venv/bin/python benchmarks/regression_check.py --save /tmp/credsim-ref.pkl     # a full copy (on the reference commit)
    .venv/bin/python benchmarks/regression_check.py --check /tmp/credsim-ref.pkl    # on the changed code

Runs every ``scenarios/*.toml`` for seeds 0, 1, 2 at 3,000 borrowers x (default burn-in + 365 days)
and saves, or compares against a saved reference, the summary dict, the daily DataFrame and the
loans table. The comparison is exact; a float that differs is reported with its relative difference
and accepted only if it is within ``--rtol`` (default 0: exact). A change of a float sum's order may
legitimately move the last bits; any such difference is printed so it can be explained.

A reference is either a full copy of the outputs (a pickle, ``*.pkl``: tens of MB, for a detailed
comparison) or a digest (JSON, any other name): the summary values exactly, and per column of the
daily and loans tables its dtype, a SHA-256 of its bytes and its sum. The digest of the current code
is committed as ``benchmarks/regression_reference.json`` (``--check`` without a path); with a digest a
changed column is reported with the relative difference of its sum (``--rtol`` applies to that).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 2)
BORROWERS = 3_000
DAYS = 365
REFERENCE = Path(__file__).resolve().parent / "regression_reference.json"


def outputs() -> dict:
    import sim

    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        for seed in SEEDS:
            r = sim.run(path, borrowers=BORROWERS, days=DAYS, seed=seed)
            out[(path.stem, seed)] = {"summary": dict(r.summary), "daily": r.daily, "loans": r.loans}
    return out


def digest(out: dict) -> dict:
    """The compact form of :func:`outputs`: summaries exactly, tables as per-column hashes and sums."""
    doc = {}
    for (name, seed), r in out.items():
        tables = {}
        for table in ("daily", "loans"):
            cols = {}
            for c in r[table].columns:
                col = r[table][c]
                x = np.ascontiguousarray(col.to_numpy())
                numeric = x.dtype.kind in "fiub"
                raw = x.tobytes() if numeric else "\x00".join(map(str, x)).encode()  # text/categories by value
                total = float(x.sum()) if numeric else None
                cols[c] = {"dtype": str(col.dtype), "sha256": hashlib.sha256(raw).hexdigest()[:32], "sum": total}
            tables[table] = {"rows": len(r[table]), "columns": cols}
        doc[f"{name}/{seed}"] = {"summary": {k: (v.item() if hasattr(v, "item") else v) for k, v in r["summary"].items()},
                                 **tables}
    return doc


def write_digest(doc: dict, path) -> None:
    """The digest as JSON, one run per line."""
    with open(path, "w") as fh:
        fh.write("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in doc.items()) + "\n}\n")


def compare_digest(ref: dict, new: dict, rtol: float) -> list[str]:
    problems = []
    for key, r in ref.items():
        n = new.get(key)
        if n is None:
            problems.append(f"{key}: missing from this run")
            continue
        tag = key.replace("/", " seed ")
        for k in r["summary"].keys() | n["summary"].keys():
            a, b = r["summary"].get(k), n["summary"].get(k)
            same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
            if not same:
                num = isinstance(a, (int, float)) and isinstance(b, (int, float))
                rel = _rel(a, b) if num else math.inf
                problems.append(f"{tag}: summary[{k}] {a!r} != {b!r} (rel {rel:.3g})" + (" [within rtol]" if rel <= rtol else ""))
        for table in ("daily", "loans"):
            a, b = r[table], n[table]
            if a["rows"] != b["rows"] or list(a["columns"]) != list(b["columns"]):
                problems.append(f"{tag}: {table} shape/columns differ: {a['rows']} vs {b['rows']} rows")
                continue
            for c, x in a["columns"].items():
                y = b["columns"][c]
                if x["dtype"] != y["dtype"]:
                    problems.append(f"{tag}: {table}.{c} dtype {x['dtype']} != {y['dtype']}")
                elif x["sha256"] != y["sha256"]:
                    rel = _rel(x["sum"], y["sum"]) if x["sum"] is not None and x["dtype"][0] == "f" else math.inf
                    problems.append(f"{tag}: {table}.{c} differs (sum {x['sum']!r} vs {y['sum']!r}, rel {rel:.3g})"
                                    + (" [within rtol]" if rel <= rtol else ""))
    return problems


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
    g.add_argument("--save", metavar="PATH", help="write the reference outputs here (*.pkl: full copy; else a JSON digest)")
    g.add_argument("--check", metavar="PATH", nargs="?", const=str(REFERENCE),
                   help=f"compare against the reference saved here (default: the committed digest, {REFERENCE.name})")
    ap.add_argument("--rtol", type=float, default=0.0, help="accepted relative difference of floats (default 0: exact)")
    args = ap.parse_args(argv)
    new = outputs()
    path = args.save or args.check
    full = path.endswith(".pkl")
    if args.save:
        if full:
            with open(path, "wb") as fh:
                pickle.dump(new, fh)
        else:
            write_digest(digest(new), path)
        print(f"saved {len(new)} runs to {path}")
        return 0
    if full:
        with open(path, "rb") as fh:
            ref = pickle.load(fh)
        problems = compare(ref, new, args.rtol)
    else:
        with open(path) as fh:
            ref = json.load(fh)
        problems = compare_digest(ref, digest(new), args.rtol)
    for p in problems:
        print(p)
    bad = [p for p in problems if not p.endswith("[within rtol]")]
    print(f"{len(ref)} runs compared: {'IDENTICAL' if not problems else ('within rtol' if not bad else 'DIFFERENT')}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
