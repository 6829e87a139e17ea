"""Scenario discovery: which boxes of parameters lead to an outcome of interest.

``credsim discover RESULTS --where "EXPR"`` reads a sweep's results folder (``credsim sweep``: one case per
finished run, the inputs its design parameters and, with several scenarios, the scenario as a category)
or an optimisation folder (``credsim optimize``: one case per trial, the inputs its levers, the outcomes
the trial's combined means ``KEY``, intervals ``KEY_ci_low``/``KEY_ci_high`` and futures' means
``KEY__FUTURE``). ``EXPR`` marks the cases of interest: comparisons of outcome columns and numbers joined
by ``and``/``or`` (``"npv < 0"``, ``"default_rate > 0.02 and brand_trust < 0.5"``; :mod:`sim.optimize`'s
safe expression language).

Two methods, both on the same cases:

- **PRIM** (the patient rule induction method of Friedman and Fisher, 1999, in the EMA Workbench's
  implementation, ``ema_workbench.analysis.prim``, as used for scenario discovery by Bryant and Lempert,
  2010): peels the input space down to a box where the cases of interest are dense. Along its peeling
  trajectory, *coverage* is the share of all cases of interest inside the box and *density* the share
  of cases inside the box that are of interest. The box reported is the one of highest coverage whose
  density reaches ``min_density`` (default 0.8), the densest of those if several cover as much (the
  densest box of all if none reaches it).
- **A decision tree** (scikit-learn's CART, depth at most 3): its leaves that predict the outcome, as
  rules, each with its coverage and density.

Writes into ``RESULTS/discover/`` (or ``--out``): ``peeling.png``/``.svg`` (the trajectory: density
against coverage, colour = restricted dimensions, the chosen box marked), ``trajectory.csv`` (coverage,
density, mass and restricted dimensions of every box), ``box.json`` (the chosen box: its limits on each
restricted input, coverage, density, mass, and the tree's rules) and ``tree.txt``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .optimize import ExpressionError, STATE, evaluate_expression, expression_names, parse_expression
from .scenario import ScenarioError

MIN_DENSITY = 0.8


@dataclass
class Cases:
    kind: str  # "sweep" or "optimization"
    root: Path
    inputs: pd.DataFrame
    outcomes: pd.DataFrame


def load_cases(root: str | Path) -> Cases:
    """The cases of a results folder; :class:`ScenarioError` naming the folder if it is not one."""
    root = Path(root)
    if not root.is_dir():
        raise ScenarioError(root, "folder", "a sweep or optimisation results folder (credsim sweep / credsim "
                                            "optimize --out DIR)" + (", but it is a file" if root.exists() else
                                                                    ", but it does not exist"))
    if (root / "trials.parquet").is_file() and (root / STATE).is_file():
        state = json.loads((root / STATE).read_text(encoding="utf-8"))
        trials = pd.read_parquet(root / "trials.parquet")
        levers = list((state.get("spec") or {}).get("levers") or {})
        inputs = trials[[k for k in levers if k in trials.columns]].copy()
        outcomes = trials.drop(columns=list(inputs.columns))
        kind = "optimization"
    elif (root / "manifest.json").is_file() and (root / "summaries").is_dir():
        from . import analysis

        res = analysis.load(root)
        s = res.summaries
        if s.empty:
            raise ScenarioError(root, "summaries", "a sweep with finished runs, but it has none")
        keys = [k for k in res.design_keys if k in s.columns]
        inputs = s[keys].copy()
        if s["scenario"].nunique() > 1:
            inputs["strategy"] = s["scenario"].astype(str).to_numpy()  # (PRIM drops a column named 'scenario')
        outcomes = s.drop(columns=keys)
        kind = "sweep"
    else:
        raise ScenarioError(root, "folder", "a sweep results folder (manifest.json and summaries/) or an "
                                            "optimisation folder (trials.parquet and optimize.json)")
    if inputs.shape[1] == 0:
        raise ScenarioError(root, "inputs", "a folder whose cases differ in their inputs: a sweep with a design or "
                                            "several scenarios, or an optimisation with levers")
    for c in inputs.columns:
        if inputs[c].dtype == bool:
            inputs[c] = inputs[c].astype(int)
        elif inputs[c].dtype == object:
            inputs[c] = inputs[c].astype(str)
    return Cases(kind, root, inputs.reset_index(drop=True), outcomes.reset_index(drop=True))


def cases_of_interest(cases: Cases, where: str) -> np.ndarray:
    """The boolean outcome ``where`` over the cases; :class:`ScenarioError` (``--where``) if it is wrong."""
    try:
        tree = parse_expression(where)
    except ExpressionError as e:
        raise ScenarioError("--where", where, str(e)) from None
    names = expression_names(tree)
    frame = pd.concat([cases.outcomes, cases.inputs], axis=1)
    if not names:
        raise ScenarioError("--where", where, "an expression naming at least one column, e.g. \"npv < 0\"")
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        numeric = [c for c in cases.outcomes.columns if pd.api.types.is_numeric_dtype(cases.outcomes[c])]
        shown = ", ".join(numeric[:12]) + (" ..." if len(numeric) > 12 else "")
        raise ScenarioError("--where", where, f"column names of the results; {unknown[0]!r} is not one "
                                              f"(outcomes: {shown})")
    y = evaluate_expression(tree, lambda n: frame[n].to_numpy())
    y = np.broadcast_to(np.asarray(y, bool), (len(frame),))
    return np.array(y, bool)


@dataclass
class Discovery:
    cases: Cases
    where: str
    y: np.ndarray
    trajectory: pd.DataFrame  # coverage, density, mass, res_dim per box
    chosen: int
    limits: dict[str, dict]  # restricted input -> {"min", "max"} or {"in": [...]}
    coverage: float
    density: float
    mass: float
    rules: list[dict] = field(default_factory=list)  # tree leaves predicting the outcome
    tree_text: str = ""


def _restrictions(box_lim: pd.DataFrame, init: pd.DataFrame) -> dict[str, dict]:
    out = {}
    for c in box_lim.columns:
        lo, hi = box_lim[c].iloc[0], box_lim[c].iloc[1]
        ilo, ihi = init[c].iloc[0], init[c].iloc[1]
        if isinstance(lo, set):
            if lo != ilo:
                out[c] = {"in": sorted(map(str, lo))}
        elif lo != ilo or hi != ihi:
            out[c] = {"min": float(lo), "max": float(hi)}
    return out


def prim_box(inputs: pd.DataFrame, y: np.ndarray, min_density: float = MIN_DENSITY, peel_alpha: float = 0.05):
    """PRIM's first box and its trajectory: (trajectory, chosen index, limits, coverage, density, mass)."""
    import logging

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ipyparallel not installed": a parallel evaluator this never uses
        from ema_workbench.analysis import prim

    logging.getLogger("EMA").setLevel(logging.WARNING)
    # whole numbers as floats: the workbench's discrete peel writes a midpoint into an integer column, which
    # pandas 3 refuses (TypeError); as reals they peel the same way, between observed values
    x = inputs.apply(lambda c: c.astype(float) if pd.api.types.is_integer_dtype(c) else c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the workbench's own deprecation warnings under pandas 3
        p = prim.Prim(x, y.astype(int), peel_alpha=peel_alpha)
        box = p.find_box()
    traj = box.peeling_trajectory.reset_index(drop=True)
    ok = traj.index[traj.density >= min_density - 1e-12]
    if len(ok):  # the highest coverage at the density asked; of boxes as covering, the densest
        sub = traj.loc[ok]
        chosen = int(sub.sort_values(["coverage", "density"], ascending=False, kind="stable").index[0])
    else:
        chosen = int(traj.density.idxmax())
    limits = _restrictions(box.box_lims[chosen], p.box_init)
    row = traj.loc[chosen]
    return traj, chosen, limits, float(row.coverage), float(row.density), float(row["mass"])


def tree_rules(inputs: pd.DataFrame, y: np.ndarray, max_depth: int = 3) -> tuple[list[dict], str]:
    """A CART tree's leaves that predict the outcome, as rules with coverage and density."""
    from sklearn.tree import DecisionTreeClassifier, export_text

    x = pd.get_dummies(inputs, prefix_sep="=", dtype=float)
    leaf = max(2, int(0.02 * len(x)))
    clf = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=leaf, random_state=0).fit(x.to_numpy(), y)
    t = clf.tree_
    names = list(x.columns)
    rules: list[dict] = []

    def text(conds: list[tuple[str, str, float]]) -> str:
        """The path's conditions, one per input and side: a tree that splits an input twice on one path
        keeps only the tighter bound (``x <= 0.18 and x <= 0.16`` is ``x <= 0.16``)."""
        tight: dict[tuple[str, str], float] = {}
        for name, op, thr in conds:
            key = (name, op)
            tight[key] = thr if key not in tight else (min if op == "<=" else max)(tight[key], thr)
        return " and ".join(f"{name} {op} {thr:.4g}" for (name, op), thr in tight.items())

    def walk(node: int, conds: list[tuple[str, str, float]]) -> None:
        if t.children_left[node] == -1:
            counts = t.value[node][0]
            classes = list(clf.classes_)
            if True in classes or 1 in classes:
                idx = classes.index(True) if True in classes else classes.index(1)
                share = counts[idx] / counts.sum()
                if share > 0.5:
                    inside = clf.apply(x.to_numpy()) == node
                    hits = int((inside & y).sum())
                    rules.append({"rule": text(conds) or "(all cases)", "cases": int(inside.sum()),
                                  "coverage": hits / max(1, int(y.sum())), "density": hits / max(1, int(inside.sum()))})
            return
        name, thr = names[t.feature[node]], t.threshold[node]
        walk(t.children_left[node], [*conds, (name, "<=", float(thr))])
        walk(t.children_right[node], [*conds, (name, ">", float(thr))])

    walk(0, [])
    rules.sort(key=lambda r: -r["coverage"])
    return rules, export_text(clf, feature_names=names)


def discover(root: str | Path, where: str, min_density: float = MIN_DENSITY) -> Discovery:
    cases = load_cases(root)
    y = cases_of_interest(cases, where)
    if not y.any() or y.all():
        raise ScenarioError("--where", where, f"an outcome true for some cases and false for others; it is "
                                              f"{'false' if not y.any() else 'true'} for all {len(y)} cases")
    traj, chosen, limits, cov, dens, mass = prim_box(cases.inputs, y, min_density)
    rules, text = tree_rules(cases.inputs, y)
    return Discovery(cases, where, y, traj, chosen, limits, cov, dens, mass, rules, text)


def _limit_text(k: str, v: dict) -> str:
    if "in" in v:
        return f"{k} in {{{', '.join(v['in'])}}}"
    return f"{v['min']:.4g} <= {k} <= {v['max']:.4g}"


def report(d: Discovery) -> list[str]:
    n, k = len(d.y), int(d.y.sum())
    lines = [f"{d.cases.kind} {d.cases.root}: {n} cases, {k} of interest ({d.where}), inputs: "
             f"{', '.join(d.cases.inputs.columns)}",
             f"PRIM box {d.chosen} of {len(d.trajectory)} on the peeling trajectory: coverage {d.coverage:.2f}, "
             f"density {d.density:.2f}, mass {d.mass:.2f}"]
    lines += [f"  {_limit_text(key, v)}" for key, v in d.limits.items()] or ["  (no restriction)"]
    lines.append("decision tree (depth <= 3), leaves predicting the outcome:")
    lines += [f"  {r['rule']}  (coverage {r['coverage']:.2f}, density {r['density']:.2f}, {r['cases']} cases)"
              for r in d.rules] or ["  (none)"]
    return lines


def plot_trajectory(d: Discovery, figdir: Path) -> list[Path]:
    from .plots import _plt, _save

    plt = _plt()
    t = d.trajectory
    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    sc = ax.scatter(t.coverage, t.density, c=t.res_dim, cmap="viridis", s=26, zorder=2)
    ax.plot(t.coverage, t.density, color="#bbbbbb", lw=0.8, zorder=1)
    ax.scatter([d.coverage], [d.density], s=140, facecolors="none", edgecolors="#c0392b", lw=1.8, zorder=3,
               label=f"chosen box {d.chosen}: coverage {d.coverage:.2f}, density {d.density:.2f}")
    fig.colorbar(sc, ax=ax, label="restricted dimensions")
    ax.set_xlabel("coverage (share of the cases of interest inside the box)")
    ax.set_ylabel("density (share of the box's cases of interest)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"PRIM peeling trajectory: {d.where}", fontsize=10)
    fig.tight_layout()
    out = _save(fig, figdir, "peeling")
    plt.close(fig)
    return out


def write(d: Discovery, out: Path) -> list[Path]:
    from .store import atomic_json, atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    traj = d.trajectory[[c for c in ("coverage", "density", "mass", "res_dim", "mean", "k", "n")
                         if c in d.trajectory.columns]]
    atomic_write_bytes(out / "trajectory.csv", traj.to_csv(index_label="box").encode("utf-8"))
    atomic_json({"where": d.where, "cases": len(d.y), "of_interest": int(d.y.sum()), "kind": d.cases.kind,
                 "inputs": list(d.cases.inputs.columns), "box": d.chosen, "coverage": d.coverage,
                 "density": d.density, "mass": d.mass, "limits": d.limits, "tree_rules": d.rules}, out / "box.json")
    atomic_write_bytes(out / "tree.txt", d.tree_text.encode("utf-8"))
    return [out / "trajectory.csv", out / "box.json", out / "tree.txt", *plot_trajectory(d, out)]
