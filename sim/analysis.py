"""Looking at a sweep's results: load a results folder, means with confidence intervals, paired differences.

A results folder is what ``credsim sweep --out DIR`` writes (the layout is in :mod:`sim.store`). Every
function here returns a tidy pandas DataFrame; notebooks, ``credsim compare`` and ``credsim plot`` all
call them::

    from sim import analysis

    res = analysis.load("results/strategies")
    table = analysis.compare(res)                      # every summary key: mean, CI, paired difference
    table[table.outcome == "default_rate"]
    analysis.daily_stats(res, ["brand_trust"])         # per scenario, point and day: mean and CI
    res.sql("SELECT scenario, avg(profit) FROM summaries GROUP BY 1")   # DuckDB over the folder

Statistics are over replicates. A confidence interval is Student's t: ``mean ± t(1 - α/2, n - 1) · sd / √n``
with the sample standard deviation (``ddof = 1``); with one replicate it is NaN (with a
:class:`SingleReplicateWarning`), with identical values
it has zero width. Rates (shares in [0, 1]: ``sim.metrics.RATE_KEYS`` and the rates of
:func:`segments`) get the same interval on the logit scale, ``expit(logit(m) ± t · sd / (√n · m (1 − m)))``
(the delta method), so it stays inside [0, 1]; a mean of exactly 0 or 1 comes from identical values and
has zero width. Undefined values (NaN: a ratio a run could not define) are left out, and ``n`` counts
the runs that defined it. Replicate r of every scenario and design point runs with the same seed (common
random numbers), so the difference between a scenario and the baseline is taken run by run, joined on
``(point, replicate)``, and its interval is the t interval of those paired differences — usually far
narrower than the two scenarios' own intervals suggest.

A sweep run under posterior draws (``[posterior]``, see :mod:`sim.sweep`) is a crossed design of draws
x replicate seeds: :func:`describe` and :func:`paired_differences` then pair on ``(point, draw,
replicate)`` and give, by :func:`two_level`, a seed-only interval (``ci_low``/``ci_high``,
``diff_low``/``diff_high``) and a total one that adds the parameter uncertainty (``total_low``/
``total_high``, ``diff_total_low``/``diff_total_high``).

Only finished runs count (a run is finished when its summary file exists): daily series and vintages
of a run that was killed before its summary was written are ignored, as are files being written.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .metrics import DAILY, LOAN_COLUMNS, RATE_KEYS, ROLL_FROM, ROLL_TO, SEGMENTS, SUMMARY, SUMMARY_KEYS
from .scenario import ScenarioError
from .store import ID_COLUMNS, TABLES

CONFIDENCE = 0.95

#: The outcomes ``credsim compare`` shows by default (``--all`` shows every summary key).
KEY_OUTCOMES = [
    "default_rate",
    "ever_30dpd_rate",
    "roll_30_60",
    "cure_rate",
    "mean_stress",
    "high_stress_share",
    "brand_trust",
    "complaints",
    "collection_cost",
    "profit",
    "npv",
]

#: The daily DPD buckets, in order, as shares of active loans (see :func:`dpd_composition`).
DPD_BUCKETS = {
    "current": "current",
    "dpd_1_29": "1–29 DPD",
    "dpd_30_59": "30–59 DPD",
    "dpd_60_89": "60–89 DPD",
    "dpd_90_plus": "90+ DPD",
}


class ResultsError(ScenarioError):
    """A folder that is not (or not yet) a sweep's results: ``DIR: what: what was expected``."""


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """How to show an outcome: its values are multiplied by ``scale`` and labelled ``label``."""

    label: str  # of the value, e.g. "%", "0–1", "kCU"
    scale: float
    decimals: int
    diff_label: str  # of a difference, e.g. "pp" (percentage points)


def unit(key: str) -> Unit:
    """Display unit of a summary key (or a daily column), from its definition in :mod:`sim.metrics`."""
    definition = SUMMARY.get(key) or DAILY.get(key, "")
    if key in RATE_KEYS or key.endswith(("_rate", "_share")):
        return Unit("%", 100.0, 2, "pp")
    if "(CU)" in definition:
        if key.startswith("cost_per_"):
            return Unit("CU", 1.0, 2, "CU")
        return Unit("kCU", 1e-3, 1, "kCU")
    if "(0..1)" in definition or key in ("mean_stress", "brand_trust"):
        return Unit("0–1", 1.0, 4, "")
    if key.startswith("contacts_per_"):
        return Unit("per loan", 1.0, 3, "per loan")
    return Unit("count", 1.0, 1, "")


def axis_label(key: str, text: str | None = None) -> str:
    """``text (unit)`` for an axis, e.g. ``Default rate (% of loans)``."""
    u = unit(key)
    names = {
        "%": "%",
        "0–1": "0–1",
        "kCU": "thousand currency units, kCU",
        "CU": "currency units, CU",
        "count": "count",
        "per loan": "per loan",
    }
    return f"{text or key} ({names[u.label]})"


# --------------------------------------------------------------------------- loading


def _sql_str(s: str | Path) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files(folder: Path) -> list[str]:
    """The finished files of one kind: ``*.parquet``, never a ``.tmp-*`` file being written."""
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith("."))


def _source(folder: Path) -> str | None:
    """A DuckDB ``read_parquet(...)`` of the finished files in ``folder`` (None if there are none).

    A glob that skips hidden files (``[!.]*.parquet``: never a file being written) keeps the SQL short
    however many runs there are; a folder whose path holds glob characters gets the explicit list.
    """
    files = _files(folder)
    if not files:
        return None
    if any(c in str(folder) for c in "*?[]{}"):
        return f"read_parquet([{', '.join(_sql_str(f) for f in files)}], union_by_name = true)"
    return f"read_parquet({_sql_str(folder / '[!.]*.parquet')}, union_by_name = true)"


@dataclass
class Results:
    """A sweep's results folder, loaded: the plan, the finished runs' summaries, and DuckDB views.

    ``summaries`` holds one row per finished run (ids, design values, every summary key); the daily
    series and vintages stay on disk and are queried through DuckDB (:meth:`sql`, views ``summaries``,
    ``daily``, ``vintages``, ``runs``), so a sweep of any size loads in a second.
    """

    root: Path
    manifest: dict
    runs: pd.DataFrame  # every planned run: run_id, scenario, point, replicate, seed, design values
    summaries: pd.DataFrame  # every finished run
    failures: list[str] = field(default_factory=list)
    _con: object = field(default=None, repr=False)

    # ---- what is in the folder
    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    @property
    def design_keys(self) -> list[str]:
        return list(self.manifest.get("design_parameters") or [])

    @property
    def posterior_keys(self) -> list[str]:
        """The parameters drawn from a posterior (``[posterior]`` of the spec); empty without one."""
        return list(self.manifest.get("posterior_parameters") or [])

    @property
    def has_posterior(self) -> bool:
        """Whether every run ran under a posterior draw (its summaries have a ``draw`` column)."""
        return bool(self.manifest.get("posterior")) and (
            "draw" in self.summaries.columns or "draw" in self.runs.columns)

    @property
    def pair_keys(self) -> list[str]:
        """What pairs a run with the baseline's: the design point, the posterior draw (if any), the replicate."""
        return ["point", "draw", "replicate"] if self.has_posterior else ["point", "replicate"]

    @property
    def scenarios(self) -> list[str]:
        """Scenario labels in the spec's order."""
        order = list(self.manifest.get("scenarios") or {})
        for s in list(self.runs.get("scenario", [])) + list(self.summaries.get("scenario", [])):
            if s not in order:
                order.append(s)
        return order

    @property
    def points(self) -> pd.DataFrame:
        """One row per design point: ``point`` and the design values."""
        src = self.runs if len(self.runs) else self.summaries
        cols = ["point", *[k for k in self.design_keys if k in src.columns]]
        return src[cols].drop_duplicates("point").sort_values("point").reset_index(drop=True)

    @property
    def outcomes(self) -> list[str]:
        """The summary keys present, in ``sim.metrics.SUMMARY_KEYS`` order."""
        return [k for k in SUMMARY_KEYS if k in self.summaries.columns]

    @property
    def planned(self) -> int:
        return int(self.manifest.get("runs_planned") or len(self.runs))

    @property
    def finished(self) -> int:
        return len(self.summaries)

    @property
    def complete(self) -> bool:
        return self.finished >= self.planned and not self.failures

    def status(self) -> str | None:
        """One line saying how a sweep is incomplete, or None when every planned run finished."""
        if self.complete:
            return None
        parts = [f"{self.root}: incomplete sweep: {self.finished} of {self.planned} planned runs finished"]
        if self.failures:
            parts.append(f"{len(self.failures)} failed (see {self.root / 'failures'})")
        waiting = self.planned - self.finished - len(self.failures)
        if waiting > 0:
            parts.append(f"{waiting} not run yet (rerun `credsim sweep SPEC --out {self.root}` to finish)")
        return ", ".join(parts) + "; statistics use the finished runs"

    def baseline(self, name: str | None = None) -> str:
        """The baseline scenario: ``name`` if given (must exist), else "baseline" if present, else the first."""
        names = self.scenarios
        if name is not None:
            if name not in names:
                raise ResultsError("--baseline", name, f"a scenario of this sweep: {', '.join(names)}")
            return name
        return "baseline" if "baseline" in names else names[0]

    def label(self, scenario: str, point: int, *, with_design: bool | None = None) -> str:
        """``scenario`` or, in a sweep with several design points, ``scenario (start_dpd=30, ...)``."""
        if with_design is None:
            with_design = len(self.points) > 1
        if not with_design or not self.design_keys:
            return scenario
        row = self.points.set_index("point").loc[point]
        vals = ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(row[k])}" for k in self.design_keys if k in row.index)
        return f"{scenario} ({vals})"

    # ---- DuckDB
    @property
    def con(self):
        """A DuckDB connection with views ``summaries``, ``daily``, ``vintages``, ``loans``, ``roll`` and ``runs``."""
        if self._con is None:
            import duckdb

            con = duckdb.connect()
            # the summaries as loaded; daily series and vintages only of those (finished) runs
            con.register("summaries", self.summaries)
            con.register("_finished", self.summaries[["run_id"]])
            for kind in TABLES:
                src = _source(self.root / kind)
                if src:
                    con.execute(f"CREATE VIEW {kind} AS SELECT * FROM {src} "
                                f"WHERE run_id IN (SELECT run_id FROM _finished)")
            runs = self.root / "runs.parquet"
            if runs.is_file():
                con.execute(f"CREATE VIEW runs AS SELECT * FROM read_parquet({_sql_str(runs)})")
            self._con = con
        return self._con

    def sql(self, query: str, params: Sequence | None = None) -> pd.DataFrame:
        """Run a DuckDB query over the views ``summaries``, ``daily``, ``vintages``, ``loans``, ``roll``, ``runs``."""
        return self.con.execute(query, params or []).df()

    def has(self, kind: str) -> bool:
        return bool(_files(self.root / kind)) and self.finished > 0

    def daily(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The daily series of every finished run: ids, ``day`` and the requested DAILY columns (default all)."""
        wanted = [*ID_COLUMNS, "day", *[c for c in (columns or DAILY) if c not in (*ID_COLUMNS, "day")]]
        if not self.has("daily"):
            return pd.DataFrame(columns=wanted)
        cols = ", ".join(_ident(c) for c in wanted) if columns else "*"
        return self.sql(f"SELECT {cols} FROM daily ORDER BY run_id, day")

    def vintages(self) -> pd.DataFrame:
        """The vintage tables of every finished run (ids, cohort, months_on_book, loans, charged_off)."""
        if not self.has("vintages"):
            return pd.DataFrame(columns=[*ID_COLUMNS, "cohort", "months_on_book", "loans", "charged_off"])
        return self.sql("SELECT * FROM vintages ORDER BY run_id, cohort, months_on_book")

    def loans(self, columns: Iterable[str] | None = None, where: str | None = None) -> pd.DataFrame:
        """The per-loan tables of every finished run: ids and the requested columns (default all),
        optionally filtered by an SQL condition, e.g. ``where="in_window"``."""
        wanted = [*ID_COLUMNS, *[c for c in (columns or LOAN_COLUMNS) if c not in ID_COLUMNS]]
        if not self.has("loans"):
            return pd.DataFrame(columns=wanted)
        cols = ", ".join(_ident(c) for c in wanted)
        cond = f" WHERE {where}" if where else ""
        return self.sql(f"SELECT {cols} FROM loans{cond} ORDER BY run_id, loan_id")

    def roll(self) -> pd.DataFrame:
        """The roll-rate matrices of every finished run (ids, from, to, count, share)."""
        if not self.has("roll"):
            return pd.DataFrame(columns=[*ID_COLUMNS, "from", "to", "count", "share"])
        return self.sql("SELECT * FROM roll ORDER BY run_id")


def _short(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def load(root: str | Path) -> Results:
    """Load a sweep's results folder. Raises :class:`ResultsError` if it is not one."""
    root = Path(root)
    if not root.exists():
        raise ResultsError(root, "folder", "an existing sweep results folder (made by `credsim sweep --out DIR`)")
    if not root.is_dir():
        raise ResultsError(root, "folder", "a sweep results folder, but it is a file")
    mpath = root / "manifest.json"
    if not mpath.is_file():
        raise ResultsError(root, "manifest.json", "a sweep results folder (made by `credsim sweep --out DIR`), "
                                                  "but it has no manifest.json")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsError(mpath, "json", f"a valid manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise ResultsError(mpath, "json", "a JSON object")

    import duckdb

    runs_path = root / "runs.parquet"
    try:
        runs = pd.read_parquet(runs_path) if runs_path.is_file() else pd.DataFrame(columns=ID_COLUMNS)
        src = _source(root / "summaries")
        if src:
            summaries = duckdb.connect().execute(f"SELECT * FROM {src}").df()
        else:
            summaries = pd.DataFrame(columns=ID_COLUMNS)
    except (OSError, duckdb.Error) as e:
        raise ResultsError(root, "parquet", f"readable results files ({' '.join(str(e).split())[:200]})") from None
    failures = sorted(p.stem for p in (root / "failures").glob("*.json") if not p.name.startswith(".")) \
        if (root / "failures").is_dir() else []
    res = Results(root, manifest, runs, summaries, failures)
    order = {s: i for i, s in enumerate(res.scenarios)}
    if len(summaries):
        summaries = summaries.sort_values(["scenario", "point", "replicate"],
                                          key=lambda c: c.map(order) if c.name == "scenario" else c)
        res.summaries = summaries.reset_index(drop=True)
    failures = [f for f in failures if f not in set(res.summaries.get("run_id", []))]
    res.failures = failures
    return res


# --------------------------------------------------------------------------- statistics


class SingleReplicateWarning(UserWarning):
    """A confidence interval was asked of one replicate: it is NaN (undefined), never zero width."""


def t_halfwidth(sd, n, confidence: float = CONFIDENCE):
    """Half-width of the Student-t interval of a mean: ``t(1 - α/2, n - 1) · sd / √n`` (NaN for n < 2).

    One replicate says nothing about the spread: its interval is NaN, with a
    :class:`SingleReplicateWarning` (every interval of the project comes through here).
    """
    from scipy import stats

    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n == 1):
        warnings.warn(f"a {confidence:.0%} interval from a single value is undefined (NaN): one replicate, or an "
                      "outcome only one replicate defines; run more replicates", SingleReplicateWarning, stacklevel=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = stats.t.ppf(0.5 + confidence / 2.0, np.where(n >= 2, n - 1, np.nan))
        half = q * sd / np.sqrt(n)
    # identical values: a zero-width interval, exactly
    return np.where((n >= 2) & (sd == 0.0), 0.0, half)


def interval(mean, sd, n, rate, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """``(ci_low, ci_high)`` of means: Student t, or for rates (``rate`` true) the t interval on the
    logit scale (delta method), which stays inside [0, 1]. Element-wise over arrays."""
    return _bounds(mean, t_halfwidth(sd, n, confidence), rate)


def mean_ci(values, confidence: float = CONFIDENCE, rate: bool = False) -> tuple[int, float, float, float]:
    """``(n, mean, ci_low, ci_high)`` of the finite values: Student-t interval, or its logit-scale
    version for a rate (values in [0, 1]), which stays inside [0, 1]."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    m = float(x.mean())
    rate = rate and bool(((x >= 0) & (x <= 1)).all())
    lo, hi = interval(m, x.std(ddof=1) if n > 1 else math.nan, n, rate, confidence)
    return n, m, float(lo), float(hi)


def _group_stats(frame: pd.DataFrame, by: list[str], cols: list[str], confidence: float,
                 rates: Iterable[str] = ()) -> pd.DataFrame:
    """Tidy ``by..., outcome, n, mean, sd, ci_low, ci_high`` of each column of ``frame`` per group.

    Columns named in ``rates`` get the logit-scale interval (:func:`interval`) where all their values
    lie in [0, 1].
    """
    if frame.empty or not cols:
        return pd.DataFrame(columns=[*by, "outcome", "n", "mean", "sd", "ci_low", "ci_high"])
    long = frame[by + cols].melt(id_vars=by, value_vars=cols, var_name="outcome", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    long.loc[~np.isfinite(long["value"]), "value"] = np.nan
    g = long.groupby([*by, "outcome"], sort=False, dropna=False)["value"]
    out = g.agg(n="count", mean="mean", sd="std", lo="min", hi="max").reset_index()
    rate = out["outcome"].isin(list(rates)).to_numpy() & ~(out["lo"] < 0).to_numpy() & ~(out["hi"] > 1).to_numpy()
    out["ci_low"], out["ci_high"] = interval(out["mean"], out["sd"], out["n"], rate, confidence)
    out["n"] = out["n"].astype(int)
    return out.drop(columns=["lo", "hi"])


def _bounds(mean, half, rate) -> tuple[np.ndarray, np.ndarray]:
    """``mean ± half``, or for rates its logit-scale version ``expit(logit(m) ± half / (m (1 − m)))``
    (as :func:`interval`), inside [0, 1]."""
    mean = np.asarray(mean, dtype=float)
    half = np.asarray(half, dtype=float)
    rate = np.broadcast_to(np.asarray(rate, bool), mean.shape)
    lo, hi = mean - half, mean + half
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        inner = rate & (mean > 0.0) & (mean < 1.0)
        m = np.where(inner, mean, 0.5)
        h = np.where(inner, half, 0.0) / (m * (1.0 - m))
        logit = np.log(m / (1.0 - m))
        lo = np.where(inner, 1.0 / (1.0 + np.exp(-(logit - h))), lo)
        hi = np.where(inner, 1.0 / (1.0 + np.exp(-(logit + h))), hi)
        edge = rate & ((mean == 0.0) | (mean == 1.0)) & np.isfinite(half)
        lo = np.where(edge, mean, lo)
        hi = np.where(edge, mean, hi)
    return lo, hi


def two_level(x, confidence: float = CONFIDENCE, rate: bool = False) -> dict[str, float]:
    """Seed-only and total intervals of a mean over a crossed design: ``x[d, r]`` is the outcome of
    posterior draw ``d`` at replicate seed ``r`` (the same seeds in every draw). NaN cells drop their
    replicate (a seed counts only where every draw defined the outcome).

    With ``D`` draws, ``R`` replicates, ``c_r`` the mean over draws at seed ``r`` and ``m`` the grand mean:

    - **seed-only**: the Student-t interval of the ``c_r`` (``m ± t(R − 1) · sd(c) / √R``): the run-to-run
      noise of the reported mean with the drawn parameter sets taken as known (for ``D = 1``, the usual
      interval over replicates);
    - **parameter spread**: ``σ_θ² = max(0, (MS_draws − MS_resid) / R)``, the two-way ANOVA (method of
      moments) estimate of the variance over the posterior of the outcome's expected value, with
      ``MS_draws = R · var(m_d)`` and ``MS_resid`` the mean square of ``x − m_d − c_r + m`` on
      ``(D − 1)(R − 1)`` degrees of freedom (the seed noise left in the draw means);
    - **total**: half-widths added in quadrature, ``√(h_seed² + h_θ²)`` with
      ``h_θ = t(D − 1) · σ_θ · √(1 + 1/D)`` (a 95% prediction interval for the expected outcome at a new
      draw: it does not shrink as draws are added; the 1/D term is the error of ``m`` from finitely
      many draws). Rates get both intervals on the logit scale.

    Returns ``n, draws, replicates, mean, sd`` (of the ``c_r``), ``ci_low, ci_high`` (seed-only),
    ``sd_param`` (σ_θ), ``total_low, total_high``; the total interval needs ``D, R ≥ 2``.
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    if x.ndim == 2 and x.size:
        x = x[~np.isnan(x).all(axis=1)]  # a draw with no value at all
        x = x[:, ~np.isnan(x).any(axis=0)]  # a seed some draw did not define
    nan = math.nan
    d, r = x.shape if x.ndim == 2 else (0, 0)
    if d == 0 or r == 0:
        return dict(n=0, draws=0, replicates=0, mean=nan, sd=nan, ci_low=nan, ci_high=nan, sd_param=nan,
                    total_low=nan, total_high=nan)
    m = float(x.mean())
    c = x.mean(axis=0)
    sd = float(c.std(ddof=1)) if r > 1 else nan
    h_seed = float(t_halfwidth(sd, r, confidence))
    sd_param, h_total = nan, nan
    if d >= 2 and r >= 2:
        md = x.mean(axis=1)
        ms_draws = r * float(md.var(ddof=1))
        resid = x - md[:, None] - c[None, :] + m
        ms_resid = float((resid ** 2).sum()) / ((d - 1) * (r - 1))
        sd_param = math.sqrt(max(0.0, (ms_draws - ms_resid) / r))
        h_param = float(stats.t.ppf(0.5 + confidence / 2.0, d - 1)) * sd_param * math.sqrt(1.0 + 1.0 / d)
        h_total = math.hypot(h_seed, h_param)
    rate = rate and bool(((x >= 0) & (x <= 1)).all())
    lo, hi = _bounds(m, h_seed, rate)
    tlo, thi = _bounds(m, h_total, rate)
    return dict(n=d * r, draws=d, replicates=r, mean=m, sd=sd, ci_low=float(lo), ci_high=float(hi),
                sd_param=sd_param, total_low=float(tlo), total_high=float(thi))


def two_level_stats(frame: pd.DataFrame, by: list[str], cols: list[str], confidence: float = CONFIDENCE,
                    rates: Iterable[str] = ()) -> pd.DataFrame:
    """:func:`two_level` of each column of ``frame`` (with ``draw`` and ``replicate`` columns) per group.

    Columns: ``by..., outcome, n, draws, replicates, mean, sd, ci_low, ci_high, sd_param, total_low,
    total_high``.
    """
    names = [*by, "outcome", "n", "draws", "replicates", "mean", "sd", "ci_low", "ci_high", "sd_param",
             "total_low", "total_high"]
    if frame.empty or not cols:
        return pd.DataFrame(columns=names)
    rates = set(rates)
    rows = []
    with warnings.catch_warnings(record=True) as caught:  # one warning for the whole table, as _group_stats
        warnings.simplefilter("always", SingleReplicateWarning)
        rows = _two_level_rows(frame, by, cols, confidence, rates)
    said = [w for w in caught if issubclass(w.category, SingleReplicateWarning)]
    if said:
        warnings.warn(said[0].message, SingleReplicateWarning, stacklevel=3)
    out = pd.DataFrame(rows, columns=names)
    for c in ("n", "draws", "replicates"):
        out[c] = out[c].astype(int)
    return out


def _two_level_rows(frame: pd.DataFrame, by: list[str], cols: list[str], confidence: float, rates: set) -> list[dict]:
    rows = []
    for group, g in frame.groupby(by, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        for k in cols:
            v = pd.to_numeric(g[k], errors="coerce").astype(float)
            v = v.where(np.isfinite(v))
            grid = pd.DataFrame({"draw": g["draw"].to_numpy(), "replicate": g["replicate"].to_numpy(),
                                 "v": v.to_numpy()}).pivot(index="draw", columns="replicate", values="v")
            rows.append({**dict(zip(by, group)), "outcome": k,
                         **two_level(grid.to_numpy(dtype=float), confidence, rate=k in rates)})
    return rows


def _sort(frame: pd.DataFrame, res: Results, by: list[str]) -> pd.DataFrame:
    """Sort by ``by``, scenarios in the spec's order."""
    sc = {s: i for i, s in enumerate(res.scenarios)}
    return frame.sort_values(by, key=lambda c: c.map(sc) if c.name == "scenario" else c,
                             kind="stable").reset_index(drop=True)


def _order(frame: pd.DataFrame, res: Results, outcomes: list[str] | None = None) -> pd.DataFrame:
    sc = {s: i for i, s in enumerate(res.scenarios)}
    keys = ["scenario", "point"] + (["outcome"] if "outcome" in frame.columns else [])
    oc = {k: i for i, k in enumerate(outcomes or [])}

    def key(c: pd.Series) -> pd.Series:
        if c.name == "scenario":
            return c.map(sc)
        if c.name == "outcome":
            return c.map(oc)
        return c

    return frame.sort_values(keys, key=key, kind="stable").reset_index(drop=True)


def _with_design(frame: pd.DataFrame, res: Results) -> pd.DataFrame:
    """Add the design values of each point (after ``point``)."""
    keys = [k for k in res.design_keys if k not in frame.columns]
    if not keys or "point" not in frame.columns:
        return frame
    out = frame.merge(res.points[["point", *keys]], on="point", how="left")
    cols = list(frame.columns)
    at = cols.index("point") + 1
    return out[cols[:at] + keys + cols[at:]]


def _outcomes(res: Results, outcomes: Sequence[str] | None) -> list[str]:
    if outcomes is None:
        return res.outcomes
    missing = [k for k in outcomes if k not in res.summaries.columns]
    if missing:
        raise KeyError(f"not a summary column of {res.root}: {', '.join(missing)}")
    return list(outcomes)


def describe(res: Results, outcomes: Sequence[str] | None = None, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Mean and CI over replicates of each outcome, per (scenario, design point): Student t, on the
    logit scale for rates (see the module docstring); ``n`` counts the runs where it is defined.

    Columns: ``scenario, point, <design values>, outcome, n, mean, sd, ci_low, ci_high``. Every planned
    (scenario, point) appears, with ``n = 0`` if none of its runs has finished.
    """
    keys = _outcomes(res, outcomes)
    if res.has_posterior:
        out = two_level_stats(res.summaries, ["scenario", "point"], keys, confidence, rates=RATE_KEYS)
    else:
        out = _group_stats(res.summaries, ["scenario", "point"], keys, confidence, rates=RATE_KEYS)
    planned = res.runs[["scenario", "point"]].drop_duplicates() if len(res.runs) else None
    if planned is not None and len(planned) and keys:
        grid = planned.merge(pd.DataFrame({"outcome": keys}), how="cross")
        out = grid.merge(out, on=["scenario", "point", "outcome"], how="left")
        out["n"] = out["n"].fillna(0).astype(int)
    return _with_design(_order(out, res, keys), res)


def paired_differences(
    res: Results,
    baseline: str | None = None,
    outcomes: Sequence[str] | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Paired differences ``scenario - baseline`` per (scenario, design point), with Student-t CIs.

    Each run is paired with the baseline's run at the same design point and replicate (the same seed),
    and the interval is that of the mean of the paired differences. Columns: ``scenario, point,
    <design values>, outcome, baseline, n_pairs, diff, diff_sd, diff_low, diff_high``. The baseline's own
    rows are exactly 0 with a zero-width interval.
    """
    keys = _outcomes(res, outcomes)
    base_name = res.baseline(baseline)
    s = res.summaries
    pair = res.pair_keys
    cols = ["scenario", *pair, *keys]
    if s.empty:
        merged = pd.DataFrame(columns=["scenario", *pair, *keys])
    else:
        b = s.loc[s["scenario"] == base_name, [*pair, *keys]]
        merged = s[cols].merge(b, on=pair, suffixes=("", "__base"), how="inner")
        for k in keys:
            merged[k] = pd.to_numeric(merged[k], errors="coerce").astype(float) - \
                pd.to_numeric(merged[f"{k}__base"], errors="coerce").astype(float)
    if res.has_posterior:
        st = two_level_stats(merged, ["scenario", "point"], keys, confidence).drop(columns=["draws", "replicates"])
    else:
        st = _group_stats(merged, ["scenario", "point"], keys, confidence)
    st = st.rename(columns={"n": "n_pairs", "mean": "diff", "sd": "diff_sd", "ci_low": "diff_low",
                            "ci_high": "diff_high", "sd_param": "diff_sd_param", "total_low": "diff_total_low",
                            "total_high": "diff_total_high"})
    st.insert(st.columns.get_loc("outcome") + 1, "baseline", base_name)
    return _with_design(_order(st, res, keys), res)


def compare(
    res: Results,
    baseline: str | None = None,
    outcomes: Sequence[str] | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """:func:`describe` and :func:`paired_differences` side by side, one row per (scenario, point, outcome).

    Columns: ``scenario, point, <design values>, outcome, n, mean, sd, ci_low, ci_high, baseline,
    n_pairs, diff, diff_sd, diff_low, diff_high``.
    """
    keys = _outcomes(res, outcomes)
    with warnings.catch_warnings():  # said once below, naming the outcomes
        warnings.simplefilter("ignore", SingleReplicateWarning)
        d = describe(res, keys, confidence)
        p = paired_differences(res, baseline, keys, confidence)
    extra = ["diff_sd_param", "diff_total_low", "diff_total_high"] if res.has_posterior else []
    p = p[["scenario", "point", "outcome", "baseline", "n_pairs", "diff", "diff_sd", "diff_low", "diff_high", *extra]]
    out = d.merge(p, on=["scenario", "point", "outcome"], how="left")
    out["baseline"] = res.baseline(baseline)
    out["n_pairs"] = out["n_pairs"].fillna(0).astype(int)
    single = out[(out["n"] == 1) | ((out["n_pairs"] == 1) & (out["scenario"] != out["baseline"]))]
    if len(single):
        _warn_single(single, bool((out["n"] <= 1).all()), confidence)  # nothing has two values
    return out


def _warn_single(rows: pd.DataFrame, everywhere: bool, confidence: float) -> None:
    """One :class:`SingleReplicateWarning` for a table: which outcomes of which scenarios have a single value."""
    if everywhere:
        warnings.warn(f"no {confidence:.0%} interval (NaN) anywhere: a single replicate gives each value; run at "
                      "least 2 replicates", SingleReplicateWarning, stacklevel=3)
        return
    by = rows.groupby("scenario", sort=False)["outcome"].unique()
    named = "; ".join(f"{sc}: {', '.join(dict.fromkeys(o))}" for sc, o in list(by.items())[:4])
    more = f"; and {len(by) - 4} more scenario(s)" if len(by) > 4 else ""
    warnings.warn(f"no {confidence:.0%} interval (NaN) where a single replicate gives a value ({named}{more}): "
                  "the other replicates leave it undefined, or only one ran; run more replicates",
                  SingleReplicateWarning, stacklevel=3)


# --------------------------------------------------------------------------- series over time


def _daily_frame(res: Results, exprs: dict[str, str], confidence: float, diff_of: str | None = None) -> pd.DataFrame:
    """Per (scenario, point, day): n, mean, sd, CI of each SQL expression over replicates (tidy).

    ``window_day`` (day - t0) and ``burn_in`` come along, so figures can draw the window only.
    """
    cols = ["scenario", "point", "day", "window_day", "burn_in", "series", "n", "mean", "sd", "ci_low", "ci_high"]
    if not res.has("daily") or not exprs:
        return pd.DataFrame(columns=cols)
    sel = ", ".join(
        f"count({e}) AS {_ident(n + '__n')}, avg({e}) AS {_ident(n + '__mean')}, "
        f"stddev_samp({e}) AS {_ident(n + '__sd')}"
        for n, e in exprs.items()
    )
    clock = "min(d.window_day) AS window_day, bool_and(d.burn_in) AS burn_in"
    if diff_of is None:
        q = f"SELECT scenario, point, day, {clock}, {sel} FROM daily d GROUP BY scenario, point, day"
        wide = res.sql(q)
    else:
        q = (f"SELECT d.scenario, d.point, d.day, {clock}, {sel} FROM daily d JOIN daily b "
             f"ON b.point = d.point AND b.replicate = d.replicate AND b.day = d.day AND b.scenario = ? "
             f"{'AND b.draw = d.draw ' if res.has_posterior else ''}"
             f"GROUP BY d.scenario, d.point, d.day")
        wide = res.sql(q, [diff_of])
    parts = []
    for n in exprs:
        part = wide[["scenario", "point", "day", "window_day", "burn_in"]].copy()
        part["series"] = n
        part["n"] = wide[f"{n}__n"].astype(int)
        part["mean"] = wide[f"{n}__mean"].astype(float)
        part["sd"] = wide[f"{n}__sd"].astype(float)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    half = t_halfwidth(out["sd"], out["n"], confidence)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    sc = {s: i for i, s in enumerate(res.scenarios)}
    sr = {s: i for i, s in enumerate(exprs)}
    out = out.sort_values(["series", "scenario", "point", "day"],
                          key=lambda c: c.map(sc) if c.name == "scenario" else (c.map(sr) if c.name == "series" else c))
    return out[cols].reset_index(drop=True)


def daily_stats(
    res: Results, columns: Sequence[str] = ("brand_trust",), confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """Mean and t CI over replicates of daily columns, per (scenario, point, day), burn-in included.

    Columns: ``scenario, point, day, window_day, burn_in, series, n, mean, sd, ci_low, ci_high``
    (``series`` = the column; ``window_day`` = day - t0; select ``~burn_in`` for the window).
    """
    return _daily_frame(res, {c: f"d.{_ident(c)}" for c in columns}, confidence)


def daily_differences(
    res: Results, columns: Sequence[str] = ("brand_trust",), baseline: str | None = None, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """Paired differences ``scenario - baseline`` of daily columns, per (scenario, point, day), with t CIs."""
    base = res.baseline(baseline)
    return _daily_frame(res, {c: f"d.{_ident(c)} - b.{_ident(c)}" for c in columns}, confidence, diff_of=base)


def dpd_composition(res: Results) -> pd.DataFrame:
    """Shares of active loans in each DPD bucket per (scenario, point, day), mean over replicates.

    Columns: ``scenario, point, day, window_day, burn_in, n, current, dpd_1_29, dpd_30_59, dpd_60_89,
    dpd_90_plus`` (fractions of active loans; they add up to 1 on days when every run has active loans).
    """
    cols = ["scenario", "point", "day", "window_day", "burn_in", "n", *DPD_BUCKETS]
    if not res.has("daily"):
        return pd.DataFrame(columns=cols)
    shares = ", ".join(f"avg({_ident(b)} / nullif(active_loans, 0)) AS {_ident(b)}" for b in DPD_BUCKETS)
    out = res.sql(f"SELECT scenario, point, day, min(window_day) AS window_day, bool_and(burn_in) AS burn_in, "
                  f"count(*) AS n, {shares} FROM daily GROUP BY scenario, point, day")
    return _sort(out, res, ["scenario", "point", "day"])[cols]


def vintage_curves(res: Results, by_cohort: bool = False, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Cumulative charge-off share by months on book, mean and t CI over replicates.

    Pooled over cohorts (``by_cohort=False``): for each run, :func:`sim.metrics.pooled_vintage` (month
    ``m`` adds the share charged off in month ``m`` on book, from the cohorts observed that long, so
    the curve never decreases); columns ``scenario, point, months_on_book, cohorts, loans, n, mean, sd,
    ci_low, ci_high`` (``cohorts`` and ``loans``: those observed that long). Per cohort
    (``by_cohort=True``): each cohort's own cumulative share, with a ``cohort`` column (``cohort``: the
    30-day period of origination in the window, 0 = window days 1..30).
    """
    from .metrics import pooled_vintage

    extra = ["cohort"] if by_cohort else []
    cols = ["scenario", "point", *extra, "months_on_book", "cohorts", "loans", "n", "mean", "sd", "ci_low", "ci_high"]
    if not res.has("vintages"):
        return pd.DataFrame(columns=cols)
    raw = res.vintages()
    if by_cohort:
        per_run = raw.assign(cohorts=1)
    else:
        parts = []
        for (scenario, point, replicate, _run), g in raw.groupby(["scenario", "point", "replicate", "run_id"],
                                                                  sort=False):
            parts.append(pooled_vintage(g).assign(scenario=scenario, point=point, replicate=replicate))
        per_run = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["scenario", "point", "replicate", "months_on_book", "cohorts", "loans", "charged_off"])
    by = ["scenario", "point", *extra, "months_on_book"]
    st = _group_stats(per_run, by, ["charged_off"], confidence, rates=["charged_off"]).drop(columns="outcome")
    size = per_run.groupby(by, sort=False).agg(cohorts=("cohorts", "max"), loans=("loans", "mean")).reset_index()
    out = st.merge(size, on=by)
    return _sort(out, res, by)[cols]


# --------------------------------------------------------------------------- roll rates and segments


def roll_matrix(res: Results, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The monthly roll-rate matrix per (scenario, point), from every finished run's ``roll`` table.

    Columns: ``scenario, point, from, to, count`` (summed over replicates), ``share`` (pooled:
    ``count`` / the loans in ``from``, all replicates together), and ``n, mean, ci_low, ci_high`` of
    the per-run shares over replicates (logit-scale t interval; runs with no loan in ``from`` left out).
    """
    cols = ["scenario", "point", "from", "to", "count", "share", "n", "mean", "ci_low", "ci_high"]
    raw = res.roll()
    if raw.empty:
        return pd.DataFrame(columns=cols)
    keys = ["scenario", "point", "from", "to"]
    tot = raw.groupby(keys, sort=False)["count"].sum().reset_index()
    rows = tot.groupby(["scenario", "point", "from"], sort=False)["count"].transform("sum")
    tot["share"] = tot["count"] / rows.where(rows > 0)
    st = _group_stats(raw.rename(columns={"share": "s"}), keys, ["s"], confidence, rates=["s"])
    out = tot.merge(st.drop(columns=["outcome", "sd"]), on=keys, how="left")
    order = {"from": {k: i for i, k in enumerate(ROLL_FROM)}, "to": {k: i for i, k in enumerate(ROLL_TO)}}
    sc = {s: i for i, s in enumerate(res.scenarios)}
    out = out.sort_values(["scenario", "point", "from", "to"], kind="stable",
                          key=lambda c: c.map(sc) if c.name == "scenario" else c.map(order[c.name])
                          if c.name in order else c)
    out["n"] = out["n"].fillna(0).astype(int)
    return out[cols].reset_index(drop=True)


#: Outcomes by segment (:func:`segment_table`, :func:`segments`): name: definition. Every rate is over
#: the segment's window loans (active at the window's start or booked in it).
SEGMENT_OUTCOMES = {
    "loans": "window loans in the segment",
    "default_rate": "share of them charged off",
    "ever_30dpd_rate": "share of them that reached 30+ DPD at some point (day_dpd30 >= 0)",
    "plan_rate": "share of them that took a flexible plan",
    "redefault_rate": "share of the loans that took a plan that were 30+ DPD again after it",
}
SEGMENT_RATES = [k for k in SEGMENT_OUTCOMES if k != "loans"]


def check_segment(by: str) -> str:
    """``by`` if it is a segment column of the loan table, else :class:`ResultsError`."""
    if by not in SEGMENTS:
        raise ResultsError("--by", by, f"a segment: {', '.join(SEGMENTS)}")
    return by


def segment_table(loans: pd.DataFrame, by: str, groups: Sequence[str] = ()) -> pd.DataFrame:
    """Outcomes by segment of one loan table (``Result.loans``, or several runs' with ``groups``, e.g.
    ``["run_id"]``): columns ``*groups, segment, loans, default_rate, ever_30dpd_rate, plan_rate,
    redefault_rate`` (definitions in ``SEGMENT_OUTCOMES``; NaN where a segment has no loan to divide by).
    Only window loans count (``in_window``).
    """
    check_segment(by)
    groups = list(groups)
    w = loans[loans["in_window"].astype(bool)] if "in_window" in loans.columns else loans
    frame = pd.DataFrame({
        **{g: w[g] for g in groups},
        "segment": w[by],
        "charged_off": (w["outcome"] == "charged_off").astype(float),
        "hit30": (w["day_dpd30"] >= 0).astype(float),
        "planned": (w["first_plan_day"] >= 0).astype(float),
        "redefault": (w["redefault_day"] >= 0).astype(float),
    })
    g = frame.groupby([*groups, "segment"], sort=True, observed=True)
    out = pd.DataFrame({
        "loans": g.size(),
        "default_rate": g["charged_off"].mean(),
        "ever_30dpd_rate": g["hit30"].mean(),
        "plan_rate": g["planned"].mean(),
        "redefault_rate": g["redefault"].sum() / g["planned"].sum().where(lambda x: x > 0),
    }).reset_index()
    return out


def segments(res: Results, by: str, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Outcomes by segment per (scenario, point), mean and CI over replicates, from the loan tables.

    ``by`` is one of ``sim.metrics.SEGMENTS``. Each run's outcomes come from :func:`segment_table`;
    columns ``scenario, point, segment, outcome, n, mean, sd, ci_low, ci_high`` (``outcome`` one of
    ``SEGMENT_OUTCOMES``; rates get the logit-scale interval).
    """
    check_segment(by)
    cols = ["scenario", "point", "segment", "outcome", "n", "mean", "sd", "ci_low", "ci_high"]
    need = ["in_window", by, "outcome", "day_dpd30", "first_plan_day", "redefault_day"]
    loans = res.loans(list(dict.fromkeys(need)), where="in_window")
    if loans.empty:
        return pd.DataFrame(columns=cols)
    per_run = segment_table(loans, by, groups=["scenario", "point", "replicate", "run_id"])
    out = _group_stats(per_run, ["scenario", "point", "segment"], list(SEGMENT_OUTCOMES), confidence,
                       rates=SEGMENT_RATES)
    oc = {k: i for i, k in enumerate(SEGMENT_OUTCOMES)}
    sc = {s: i for i, s in enumerate(res.scenarios)}
    out = out.sort_values(["outcome", "scenario", "point", "segment"], kind="stable",
                          key=lambda c: c.map(oc) if c.name == "outcome" else c.map(sc) if c.name == "scenario" else c)
    return out[cols].reset_index(drop=True)
