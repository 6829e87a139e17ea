"""The browser app: Mesa's SolaraViz over :class:`sim.CreditModel` (``credsim viz``).

Run it with ``credsim viz [SCENARIO]`` (or ``solara run sim.app``). Every browser session gets its
own model: :func:`Page` builds one per session, and SolaraViz rebuilds it from the controls on
Reset. The app is a thin layer over the library: :class:`AppModel` only turns the controls into a
scenario name and dotted overrides for ``CreditModel`` (and records the cure rate daily, for its
chart); every number shown comes from the model.

Charts are drawn here as small inline SVGs and the borrower picture is a Vue template, so a step
costs milliseconds to draw and the page needs nothing from the internet except Solara's own
front-end assets, which the set-up installs locally (the ``solara-assets`` package; README,
"Watching a run in the browser").

Settings read from the environment when the module is imported (``credsim viz`` sets them):
``CREDSIM_VIZ_SCENARIO`` (a shipped name or a scenario file; default ``baseline``) and
``CREDSIM_VIZ_BORROWERS`` (default :data:`DEFAULT_BORROWERS`).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, wraps
from pathlib import Path
from typing import Any

import ipyvuetify as v
import mesa
import numpy as np
import reacton.core
import solara
import traitlets
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from .model import CreditModel
from .scenario import load_scenario, resolve_path, shipped_scenarios
from .state import CYCLE
from .tactics import DEFAULT as DEFAULT_TACTICS
from .tactics import registry as tactic_registry

#: People in the market when the app starts (a step of the model takes about 2 ms at this size; the
#: page's drawing does not depend on it, except for the stress histogram)
DEFAULT_BORROWERS = 10_000
#: People shown in the borrower picture (a sample of the social network)
SAMPLE = 300
STRATEGY = "strategy"  #: a lever left as the strategy (scenario) sets it


def serve_installed_assets_only() -> None:
    """Solara's server serves ``/_solara/cdn/`` from the installed assets (``solara-assets``) and, for
    a file it does not have, would fetch the path from the internet (retrying, with back-off, in one
    of its few threads). The app needs nothing it does not have: a miss is an immediate 404."""
    from solara.server import cdn_helper

    def not_installed(url: str) -> bytes:
        raise FileNotFoundError(f"not among the installed assets: {url}")

    cdn_helper.fetch_from_cdn = not_installed


serve_installed_assets_only()  # the server imports the app before it serves a page


def fix_solara_navigator_script() -> None:
    """Solara's router widget (``solara/widgets/vue/navigator.vue``, every Solara page has one) opens
    its script with ``modules.export = {`` for ``module.exports = {``. The front end then warns on
    the console at every page load ("Failed to evaluate Vue script and find module.exports, falling
    back to old method, please use module.exports = { ... }") and reads the script the old way,
    which works. The app hands the front end the script as it was meant; if Solara corrects the
    file, this does nothing."""
    from ipyvue import Template
    from solara.widgets.widgets import Navigator

    if getattr(Navigator, "_credsim_script_fixed", False):
        return
    init = Navigator.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        t = self.template
        if isinstance(t, Template) and "modules.export =" in (t.template or ""):
            t.template = t.template.replace("modules.export =", "module.exports =", 1)

    Navigator.__init__ = __init__
    Navigator._credsim_script_fixed = True


fix_solara_navigator_script()

#: seconds after a session closed when its memory is handed back: soon, and again after Solara's own
#: collection after a close (1 s, which waits for the closing code to drop its references)
RELEASE_AFTER = (0.25, 1.5)


def release_memory() -> None:
    """Collect the garbage and hand the freed heap back to the system (glibc's ``malloc_trim``).

    A closed session's model, arrays and widgets are freed, but the C heap keeps most of what
    they used: many of its blocks live in the arenas of the session's threads and sit below the
    size glibc returns by itself, so the server's resident memory stayed where it was with the
    session open. Nothing else on Linux without glibc."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _release_after_close(closed: threading.Event) -> None:
    closed.wait()
    start = time.monotonic()
    for at in RELEASE_AFTER:
        time.sleep(max(at - (time.monotonic() - start), 0.0))
        release_memory()


def _on_session_start():
    """Each session, when it ends (tab closed and culled, or the server stopping): release its memory."""
    from solara.lifecycle import kernel_closed_event

    closed = kernel_closed_event()

    def on_close():
        t = threading.Thread(target=_release_after_close, args=(closed,), daemon=True, name="credsim-release")
        t.current_context = None  # Solara's threads carry the session's context; this one must not keep it alive
        t.start()

    return on_close


solara.lab.on_kernel_start(_on_session_start)

# --------------------------------------------------------------------------- levers

REMINDERS = {
    "ladder: SMS -3/+1, calls +5/+10/+20": [(-3, "sms"), (1, "sms"), (5, "phone"), (10, "phone"), (20, "phone")],
    "SMS only: -3/+1/+7/+15": [(-3, "sms"), (1, "sms"), (7, "sms"), (15, "sms")],
    "calls only: +1/+5/+10/+20": [(1, "phone"), (5, "phone"), (10, "phone"), (20, "phone")],
    "late: SMS +7, calls +15/+25": [(7, "sms"), (15, "phone"), (25, "phone")],
    "none": [],
}
VISITS_FROM = ["off", "15", "30", "45", "60", "90"]
TONE = {"empathetic (0.1)": 0.1, "neutral (0.5)": 0.5, "firm (0.8)": 0.8, "harsh (1.0)": 1.0}
PLANS = {
    "off": None,
    "on visits": (True, False, False),
    "on visits + early contact": (True, False, True),
    "on visits, calls + early contact": (True, True, True),
}
PLAN_ELIGIBILITY = {
    "hardship, up to 90 DPD": (True, 90),
    "hardship, up to 30 DPD": (True, 30),
    "anyone, up to 90 DPD": (False, 90),
    "anyone, any DPD": (False, 720),
}
ON_OFF = ["off", "on"]
#: severity choices: a choice, not a slider, so it can be left as the strategy sets it, and shows its value
SEVERITIES = ["0", "0.25", "0.5", "0.75", "1", "1.25", "1.5", "1.75", "2"]


def _with_tactic(tactics: list[str], name: str, on: bool) -> list[str]:
    """The tactic list with ``name`` switched on or off (in the order the tactics run)."""
    chosen = (set(tactics) | {name}) if on else (set(tactics) - {name})
    return [t for t in tactic_registry() if t in chosen]


def lever_overrides(
    *,
    tactics: Sequence[str] = DEFAULT_TACTICS,
    reminders: str = STRATEGY,
    visits_from: str = STRATEGY,
    tone: str = STRATEGY,
    plans: str = STRATEGY,
    plan_eligibility: str = STRATEGY,
    education: str = STRATEGY,
    recession: str = STRATEGY,
    severity: float | str | None = STRATEGY,
    switches: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Dotted parameter overrides for the app's levers (a lever at ``"strategy"`` sets nothing).

    ``tactics`` is the strategy's own list of tactics, which the on/off levers edit; ``switches`` maps
    a tactic's name to ``"on"``/``"off"`` (:func:`tactic_levers`), applied last."""
    out: dict[str, Any] = {}
    chosen = list(tactics)
    if reminders != STRATEGY:
        ladder = REMINDERS[reminders]
        chosen = _with_tactic(chosen, "reminders", bool(ladder))
        if ladder:
            out["collection.reminders.schedule"] = [{"day": d, "channel": c} for d, c in ladder]
    if visits_from != STRATEGY:
        chosen = _with_tactic(chosen, "visits", visits_from != "off")
        if visits_from != "off":
            out["collection.visits.start_dpd"] = int(visits_from)
    if tone != STRATEGY:
        out["collection.tone.harshness"] = TONE[tone]
    if plans != STRATEGY:
        where = PLANS[plans]
        chosen = _with_tactic(chosen, "plans", where is not None)
        if where is not None:
            for key, on in zip(("on_visit", "on_call", "on_early_contact"), where):
                out[f"collection.plans.{key}"] = on
    if plan_eligibility != STRATEGY:
        hardship, max_dpd = PLAN_ELIGIBILITY[plan_eligibility]
        out["collection.plans.require_hardship"] = hardship
        out["collection.plans.max_dpd"] = max_dpd
    if education != STRATEGY:
        out["education.enabled"] = education == "on"
    if recession != STRATEGY:
        out["macro.recession.enabled"] = recession == "on"
    if severity is not None and severity != STRATEGY:
        out["macro.recession.severity"] = float(severity)
    for name, state in (switches or {}).items():
        if state != STRATEGY:
            chosen = _with_tactic(chosen, name, state == "on")
    if chosen != list(tactics):
        out["collection.tactics"] = chosen
    return out


TACTIC_PREFIX = "tactic_"


def tactic_levers() -> dict[str, dict[str, Any]]:
    """One on/off lever per collection tactic, generated from the tactic components (sim/tactics/):
    a tactic added there gets its lever, labelled with its name, without a line here."""
    return {f"{TACTIC_PREFIX}{name}": {"type": "Select", "label": f"Tactic: {name}", "value": STRATEGY,
                                       "values": [STRATEGY, *ON_OFF]} for name in tactic_registry()}


def seed_of(text: int | str | None) -> int:
    """The seed typed in the app (a whole number, 0 or more; blank: 0)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return 0
    try:
        seed = int(str(text).strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(f"Seed: expected a whole number (0 or more), got {text!r}") from None
    if seed < 0:
        raise ValueError(f"Seed: expected a whole number (0 or more), got {text!r}")
    return seed


def _cure_rate(model) -> float:
    books = model.lender.books
    return books.cures / books.delinquency_episodes if books.delinquency_episodes else 0.0


STRESS_BINS = np.linspace(0.0, 1.0, 21)


class Series:
    """The daily series of a DataCollector as float arrays, kept up to date by appending.

    A DataCollector's ``model_vars`` are lists that only grow (one value a day). :meth:`read` copies
    the days added since the last read into arrays with room to grow and returns read-only views of
    the filled part: a day's copy costs the new values, not the whole history. A view stays valid
    after later reads (they write past its end, or into a new, larger array)."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}
        self._filled: dict[str, int] = {}

    def read(self, model_vars: dict[str, list]) -> dict[str, np.ndarray]:
        out = {}
        for key, values in model_vars.items():
            n, done = len(values), self._filled.get(key, 0)
            buf = self._arrays.get(key)
            if buf is None or n < done:  # new (or, never expected, shorter): start again
                buf, done = np.empty(max(2 * n, 64)), 0
            elif n > buf.size:
                buf = np.concatenate([buf[:done], np.empty(max(2 * n, 64) - done)])
            if n > done:
                buf[done:n] = np.asarray(values[done:n], float)
            self._arrays[key], self._filled[key] = buf, n
            view = buf[:n]
            view.flags.writeable = False
            out[key] = view
        return out


@dataclass(frozen=True)
class View:
    """A copy of what the panels show, taken between two days (:meth:`AppModel.view`).

    The panels never read the live model: a step half-done in another thread would give them series
    of different lengths, or today's arrays with yesterday's counts."""

    day: int
    days: int
    t0: int
    running: bool
    seed: int
    strategy: str
    n: int
    params: Any
    snapshot: dict[str, Any]
    series: dict[str, np.ndarray]
    cure: np.ndarray
    stress_counts: np.ndarray
    stress_n: int
    stress_mean: float
    sample: tuple[np.ndarray, np.ndarray, np.ndarray]
    states: np.ndarray
    stress: np.ndarray
    trust: np.ndarray
    dpd: np.ndarray

    @classmethod
    def of(cls, model: AppModel) -> View:
        p = model.people
        stress = p.stress[p.borrowers()]
        people = model.sample[0]
        return cls(
            day=int(model.day), days=int(model.days), t0=int(model.t0), running=bool(model.running),
            seed=int(model.seed), strategy=model.strategy, n=int(p.n), params=model.params,
            snapshot=dict(model.snapshot),
            series=model.series.read(model.datacollector.model_vars),
            cure=model.series.read(model.app_collector.model_vars)["cure_rate"],
            stress_counts=np.histogram(stress, bins=STRESS_BINS)[0],
            stress_n=int(stress.size), stress_mean=float(stress.mean()) if stress.size else 0.0,
            sample=model.sample, states=loan_states(model, people),
            stress=p.stress[people].copy(), trust=p.trust[people].copy(), dpd=p.dpd[people].copy(),
        )


class AppModel(CreditModel):
    """``CreditModel`` built from the app's controls.

    ``strategy`` names the scenario (SolaraViz passes Mesa's own, empty ``Scenario`` object as
    ``scenario`` when it rebuilds a model on Reset; it is ignored). The levers become dotted
    overrides (:func:`lever_overrides`). Adds one daily series the model does not keep: the cure
    rate so far.
    """

    def __init__(
        self,
        *,
        strategy: str = "baseline",
        borrowers: int | None = None,
        days: int | None = None,
        rng: int | str | None = 0,
        reminders: str = STRATEGY,
        visits_from: str = STRATEGY,
        tone: str = STRATEGY,
        plans: str = STRATEGY,
        plan_eligibility: str = STRATEGY,
        education: str = STRATEGY,
        recession: str = STRATEGY,
        severity: float | str | None = STRATEGY,
        scenario: Any = None,
        **switches: str,
    ):
        unknown = [k for k in switches if not k.startswith(TACTIC_PREFIX) or k[len(TACTIC_PREFIX):] not in tactic_registry()]
        if unknown:
            raise TypeError(f"AppModel: unknown lever(s) {', '.join(unknown)}; tactic levers are "
                            f"{', '.join(tactic_levers())}")
        tactic_switches = {k[len(TACTIC_PREFIX):]: str(v) for k, v in switches.items()}
        overrides = lever_overrides(
            tactics=load_scenario(strategy).collection.tactics,
            reminders=reminders,
            visits_from=visits_from,
            tone=tone,
            plans=plans,
            plan_eligibility=plan_eligibility,
            education=education,
            recession=recession,
            severity=severity,
            switches=tactic_switches,
        )
        try:
            seed, seed_error = seed_of(rng), None
        except ValueError as e:  # typed in the page: the run goes on with seed 0 and says so (no traceback)
            seed, seed_error = 0, f"{e}; this run uses seed 0: type a whole number and press Reset"
        super().__init__(
            scenario=strategy,
            borrowers=None if borrowers is None else int(borrowers),
            days=days,
            overrides=overrides,
            rng=seed,
        )
        #: what was wrong with the controls this model was built from (shown above the panels), or None
        self.input_error = seed_error
        #: the scenario the run started from (``params`` changes with a policy change on a given day)
        self.scenario_given = self.params
        self.strategy = str(strategy)
        #: the controls this model was built from (what the page's address records)
        self.controls = {"strategy": self.strategy, "reminders": reminders, "visits_from": visits_from, "tone": tone,
                         "plans": plans, "plan_eligibility": plan_eligibility, "education": education,
                         "recession": recession, "severity": str(severity), "borrowers": int(self.people.n),
                         "rng": str(seed), **dict.fromkeys(tactic_levers(), STRATEGY),
                         **{k: str(v) for k, v in switches.items()}}
        self.levers = overrides
        self.app_collector = mesa.DataCollector(model_reporters={"cure_rate": _cure_rate})
        self.app_collector.collect(self)
        # SolaraViz steps the model in a thread of its own while the page redraws (a lever moved,
        # "Use Threads"): a step holds this lock, and the panels read a View taken under it
        self.lock = threading.Lock()
        self._view: View | None = None
        self.series = Series()  # the daily series as arrays, read under the lock (View.of)
        self.render_context: Any = None  # the session's, set by the panels when they draw

    def _wait_for_the_page(self) -> None:
        """Let a redraw under way in another thread finish before the next day starts.

        SolaraViz plays in a thread of its own and asks for a redraw after every step; when a redraw
        runs elsewhere (a lever moved, "Use Threads"), a day that ends during it asks for one more
        pass, and a play interval shorter than a pass makes that endless: the renderer gives up with
        "Too many renders triggered" and the page is replaced by the traceback. Waiting for the pass
        in progress (at most a few seconds) keeps one redraw per day at most."""
        rc = self.render_context
        lock = getattr(rc, "thread_lock", None)
        if lock is None or getattr(rc, "_lock_thread", None) is threading.current_thread():
            return
        if lock.acquire(timeout=5.0):
            lock.release()

    def step(self) -> None:
        """One day; past the last day, nothing (SolaraViz steps ``render_interval`` days at a time
        and does not look at ``running`` in between)."""
        self._wait_for_the_page()
        with self.lock:
            if self.day >= self.days:
                self.running = False
                return
            super().step()
            self.app_collector.collect(self)
            finished = not self.running
        if finished:  # draw the last day: with "Use Threads", SolaraViz's drawing thread stops with the run
            update_counter.set(update_counter.value + 1)  # and may never draw it (a race in Mesa 3.5)

    def view(self) -> View:
        """What the panels draw: a consistent copy of the model between two days (one per day)."""
        with self.lock:
            if self._view is None or self._view.day != self.day:
                self._view = View.of(self)
            return self._view

    @property
    def strategy_name(self) -> str:
        return self.params.name

    def export(self, name: str) -> bytes:
        """Export ``name`` (:data:`sim.app_export.EXPORTS`) of the run so far, read between two days."""
        from .app_export import export_bytes

        with self.lock:
            return export_bytes(self, name)

    def record(self, i: int) -> tuple[int, dict[str, Any]]:
        """(day, borrower ``i``'s full record), read between two days."""
        with self.lock:
            return self.day, self.borrower(i).as_dict()

    @cached_property
    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The borrower picture: (people, x, y, edges as index pairs into people), fixed per model.

        A snowball sample of the social network: from a few random people, their ties and their
        ties' ties, until :data:`SAMPLE` people are in; laid out by a spring layout (networkx).
        It depends only on the seed and the network, so models with the same ones (sessions opened
        with the same controls, a Reset) share one computation (:func:`network_sample`).
        """
        return network_sample(self.people.neighbors, self.seed)

    @cached_property
    def geometry(self) -> tuple[list, list, list, str]:
        """The borrower picture's fixed part (:func:`map_geometry` of :attr:`sample`)."""
        return map_geometry(self.sample)


#: network_sample's results by (seed, digest of the network), the most recent few
_SAMPLES: OrderedDict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
_SAMPLES_KEPT = 8
_SAMPLES_LOCK = threading.Lock()


def network_sample(nb: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:attr:`AppModel.sample` of a network (``People.neighbors``) and seed, computed once for each
    (kept for the :data:`_SAMPLES_KEPT` most recent; the arrays are read-only, as they are shared)."""
    nb = np.ascontiguousarray(nb)
    key = (int(seed), f"{nb.shape}{nb.dtype}" + hashlib.blake2b(nb.tobytes(), digest_size=16).hexdigest())
    with _SAMPLES_LOCK:  # sessions opened together wait for one computation instead of each doing it
        if key not in _SAMPLES:
            arrays = _network_sample(nb, int(seed))
            for a in arrays:
                a.flags.writeable = False
            _SAMPLES[key] = arrays
            while len(_SAMPLES) > _SAMPLES_KEPT:
                _SAMPLES.popitem(last=False)
        _SAMPLES.move_to_end(key)
        return _SAMPLES[key]


def _network_sample(nb: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import networkx as nx

    n = nb.shape[0]
    gen = np.random.default_rng(seed + 7919)
    want = min(SAMPLE, n)
    chosen: dict[int, None] = {}
    per_seed = max(want // 6, 1)
    for start in gen.permutation(n):
        if len(chosen) >= want:
            break
        if int(start) in chosen:
            continue
        frontier, group = [int(start)], 0
        while frontier and group < per_seed and len(chosen) < want:
            nxt = []
            for i in frontier:
                if i in chosen:
                    continue
                chosen[i] = None
                group += 1
                if group >= per_seed or len(chosen) >= want:
                    break
                nxt.extend(int(j) for j in nb[i] if j >= 0 and int(j) not in chosen)
            frontier = nxt
    people = np.fromiter(chosen, np.int64, len(chosen))
    pos = {int(p): k for k, p in enumerate(people)}
    edges = sorted(
        {(min(pos[i], pos[int(j)]), max(pos[i], pos[int(j)])) for i in pos for j in nb[i] if int(j) in pos and int(j) != i}
    )
    g = nx.Graph()
    g.add_nodes_from(range(len(people)))
    g.add_edges_from(edges)
    layout = nx.spring_layout(g, seed=seed % (2**32), iterations=60, k=1.6 / math.sqrt(max(len(people), 1)))
    xy = np.array([layout[k] for k in range(len(people))]).reshape(-1, 2)
    return people, xy, np.array(edges, np.int64).reshape(-1, 2)


# --------------------------------------------------------------------------- small SVG charts

FONT = "font-family='Roboto, Helvetica, Arial, sans-serif'"
COLORS = {
    "current": "#4caf50",
    "on plan": "#00acc1",
    "1-29 DPD": "#fdd835",
    "30-59 DPD": "#fb8c00",
    "60-89 DPD": "#e53935",
    "90+ DPD": "#8e24aa",
    "charged off": "#37474f",
    "no loan": "#bdbdbd",
}


def nice_ticks(lo: float, hi: float, n: int = 4, whole: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (``whole``: whole numbers only)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if whole:
        step = max(round(step), 1)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def fmt_num(x: float) -> str:
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    if a >= 100 or a == int(a):
        return f"{x:,.0f}"
    return f"{x:.3g}"


def fmt_pct(x: float) -> str:
    """A share as a percentage, always with one decimal."""
    return f"{x * 100:.1f}%"


def _tick_fmt(fmt, ticks: list[float]):
    """Tick labels: percentages with as many decimals as the tick step needs (the same for every tick)."""
    if fmt is not fmt_pct or len(ticks) < 2:
        return fmt
    step = abs(ticks[1] - ticks[0]) * 100
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 1
    return lambda t: f"{t * 100:.{decimals}f}%"


def fmt_money(x: float) -> str:
    return fmt_num(x).replace("-", "\u2212")


def decimate(xs: np.ndarray, ys: Sequence[np.ndarray], per_pixel: int = 2) -> np.ndarray | None:
    """Indices of the points a line chart needs when it has more points than pixel columns.

    ``xs`` are the points' x positions in pixels (sorted), ``ys`` the series drawn at them. Keeps,
    in every pixel column, its first and last point and, for each series, its lowest and highest:
    the line then covers the same pixels (every peak and trough stays) with at most a few points per
    column. ``None`` when there are no more than ``per_pixel`` points per column: nothing to drop."""
    n = xs.size
    if n <= 2 or n <= per_pixel * (float(xs[-1]) - float(xs[0]) + 1):
        return None
    col = np.floor(xs).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], n] - 1
    keep = [starts, ends]
    for y in ys:
        order = np.lexsort((y, col))  # by column, then value: a column's lowest first, highest last
        keep += [order[starts], order[ends]]
    return np.unique(np.concatenate(keep))


def svg_chart(
    x: np.ndarray,
    series: list[tuple[str, str, np.ndarray]],
    *,
    fmt=fmt_num,
    stacked: bool = False,
    bars: bool = False,
    ylim: tuple[float | None, float | None] = (None, None),
    xlabel: str = "day",
    marker: tuple[float, str] | None = None,
    width: int = 480,
    height: int = 215,
    dashed: tuple[str, ...] = (),
    xmax: float | None = None,
    bands: Sequence[tuple[float, float, str]] = (),
    lines: Sequence[tuple[float, str]] = (),
    overlay: Sequence[tuple[str, str, np.ndarray, np.ndarray]] = (),
) -> str:
    """An SVG line, stacked-area or bar chart (``bars``: ``x`` holds the bin edges).

    ``xmax``: the x axis runs to it (the run's last day); ``bands``: shaded spans (from, to, label),
    e.g. the recession; ``lines``: marked days (day, label), e.g. the window's start; ``overlay``:
    dashed reference lines (label, colour, x, y), e.g. a pinned run."""
    ml, mr, mt, mb = 50, 10, 22, 30
    pw, ph = width - ml - mr, height - mt - mb
    x = np.asarray(x, float)
    ys = [np.asarray(s, float) for _, _, s in series]
    if stacked:
        ys = list(np.cumsum(np.vstack(ys), axis=0)) if ys else []
    allv = np.concatenate([y[np.isfinite(y)] for y in [*ys, *(np.asarray(o[3], float) for o in overlay)]]) if ys else np.zeros(0)
    lo = ylim[0] if ylim[0] is not None else (min(0.0, float(allv.min())) if allv.size else 0.0)
    hi = ylim[1] if ylim[1] is not None else (float(allv.max()) if allv.size else 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or (0.01 if fmt is fmt_pct else 1.0))
    yt = nice_ticks(lo, hi)
    tick = _tick_fmt(fmt, yt)
    lo, hi = min(lo, yt[0]), max(hi, yt[-1])
    x0, x1 = (float(x[0]), float(x[-1])) if x.size else (0.0, 1.0)
    if xmax is not None and not bars:
        x1 = max(x1, float(xmax))
    if x1 <= x0:
        x1 = x0 + 1.0

    def px(v):
        return ml + (np.asarray(v, float) - x0) / (x1 - x0) * pw

    def py(v):
        return mt + ph - (np.asarray(v, float) - lo) / (hi - lo) * ph

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' "
        f"preserveAspectRatio='xMidYMid meet' class='credsim-chart' {FONT} font-size='11'>"
    ]
    for a, b, label in bands:
        if a <= x1:
            xa, xb = px(max(a, x0)), px(min(b, x1))
            out.append(f"<rect class='credsim-band' x='{xa:.1f}' y='{mt}' width='{max(xb - xa, 1):.1f}' height='{ph}' "
                       f"fill='#ef5350' fill-opacity='0.10'><title>{html.escape(label)}</title></rect>")
            out.append(f"<text x='{xa + 2:.1f}' y='{mt + ph - 4}' fill='currentColor' fill-opacity='0.7' font-size='9'>"
                       f"{html.escape(label)}</text>")
    for day, label in lines:
        if x0 <= day <= x1:
            xx = px(day)
            out.append(f"<line class='credsim-mark' x1='{xx:.1f}' x2='{xx:.1f}' y1='{mt}' y2='{mt + ph}' stroke='currentColor' "
                       f"stroke-opacity='0.45' stroke-dasharray='2 3'/>")
            out.append(f"<text x='{xx + 2:.1f}' y='{mt + 9}' fill='currentColor' fill-opacity='0.7' font-size='9'>{html.escape(label)}</text>")
    for t in yt:
        y = py(t)
        out.append(f"<line x1='{ml}' x2='{ml + pw}' y1='{y:.1f}' y2='{y:.1f}' stroke='currentColor' stroke-opacity='0.15'/>")
        out.append(f"<text x='{ml - 4}' y='{y + 4:.1f}' text-anchor='end' fill='currentColor'>{html.escape(tick(t))}</text>")
    for t in nice_ticks(x0, x1, 5, whole=not bars):
        if x0 - 1e-9 <= t <= x1 + 1e-9:
            xx = px(t)
            out.append(f"<line x1='{xx:.1f}' x2='{xx:.1f}' y1='{mt + ph}' y2='{mt + ph + 4}' stroke='currentColor'/>")
            out.append(f"<text x='{xx:.1f}' y='{mt + ph + 15}' text-anchor='middle' fill='currentColor'>{fmt_num(t)}</text>")
    out.append(f"<text x='{ml + pw}' y='{height - 2}' text-anchor='end' fill='currentColor' fill-opacity='0.8'>{html.escape(xlabel)}</text>")
    out.append(f"<line x1='{ml}' x2='{ml + pw}' y1='{mt + ph}' y2='{mt + ph}' stroke='currentColor' stroke-opacity='0.6'/>")

    if bars and ys:
        y = ys[0]
        color = series[0][1]
        for k in range(len(y)):
            xa, xb = px(x[k]), px(x[k + 1])
            ya, yb = py(y[k]), py(lo)
            out.append(
                f"<rect x='{xa + 0.5:.1f}' y='{ya:.1f}' width='{max(xb - xa - 1, 0.5):.1f}' "
                f"height='{max(yb - ya, 0):.1f}' fill='{color}'/>"
            )
    elif x.size:
        xs = px(x)
        ys = [np.where(np.isfinite(y), y, lo) for y in ys]
        keep = decimate(xs, ys)  # a long run: no more points than the chart has pixels to show them
        if keep is not None:
            xs, ys = xs[keep], [y[keep] for y in ys]
        below = np.full(xs.size, lo)
        for (label, color, _), y in zip(series, ys):
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, py(y)))
            if stacked:
                back = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], py(below)[::-1]))
                out.append(f"<polygon points='{pts} {back}' fill='{color}' fill-opacity='0.85' stroke='none'/>")
                below = y
            else:
                dash = " stroke-dasharray='4 3'" if label in dashed else ""
                out.append(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='1.6'{dash}/>")
    for label, color, ox, oy in overlay:
        ox, oy = np.asarray(ox, float), np.asarray(oy, float)
        if ox.size:
            oxs, oy = px(ox), np.where(np.isfinite(oy), oy, lo)
            keep = decimate(oxs, [oy])
            if keep is not None:
                oxs, oy = oxs[keep], oy[keep]
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(oxs, py(oy)))
            out.append(f"<polyline class='credsim-pinned' points='{pts}' fill='none' stroke='{color}' stroke-width='1.3' "
                       f"stroke-dasharray='5 3' stroke-opacity='0.8'/>")
    if marker is not None:
        value, label = marker
        xx = px(value)
        out.append(f"<line x1='{xx:.1f}' x2='{xx:.1f}' y1='{mt}' y2='{mt + ph}' stroke='currentColor' stroke-dasharray='3 2'/>")
        out.append(f"<text x='{xx + 3:.1f}' y='{mt + 10}' fill='currentColor'>{html.escape(label)}</text>")
    # legend along the top
    lx = ml
    for label, color, _ in series if not bars else []:
        out.append(f"<rect x='{lx}' y='5' width='10' height='10' fill='{color}'/>")
        out.append(f"<text x='{lx + 13}' y='14' fill='currentColor'>{html.escape(label)}</text>")
        lx += 22 + 6.2 * len(label)
    if overlay:
        out.append(f"<text x='{ml + pw}' y='14' text-anchor='end' fill='currentColor' fill-opacity='0.8'>dashed: pinned run</text>")
    out.append("</svg>")
    return "".join(out)


log = logging.getLogger("credsim.app")


def panel_error(kind: str, title: str, error: BaseException, day: int | None = None) -> Any:
    """What a panel shows instead of itself when drawing it failed: one line, no traceback (that goes
    to the server's log), so the page, its controls and the run stay."""
    when = f" on day {day}" if day is not None else ""
    text = f"This panel could not be drawn{when}: {type(error).__name__}: {error}"
    first = text.splitlines()[0][:300]
    return Panel(kind, title, f"<div class='credsim-panel-error' style='color:#b71c1c;font-size:12px'>{html.escape(first)}</div>")


def guarded(kind: str, title: str) -> Callable:
    """A panel drawn from the model's :class:`View` inside an error boundary: if drawing fails, the
    panel says so in one line and everything else on the page stays.

    The component takes the model and ``tick``, the page's redraw counter (Mesa's ``update_counter``,
    read once for the whole grid by :func:`RunGrid`): a new tick redraws the panel."""

    def wrap(draw: Callable[[View], Any]):
        @wraps(draw)
        def component(model, tick: int | None = None):
            view = None
            try:
                model.render_context = reacton.core.get_render_context(required=False)
                view = model.view()
                return draw(view)
            except Exception as e:  # an error boundary: log it, show one line, keep the page
                log.exception("panel %s failed", kind)
                return panel_error(kind, title, e, None if view is None else view.day)

        return solara.component(component)

    return wrap


def _share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)


def Panel(kind: str, title: str, body: str):
    """One chart panel: a title and SVG body, in a div the browser test finds by its class."""
    return solara.HTML(
        tag="div",
        unsafe_innerHTML=f"<div class='credsim-panel-title'>{html.escape(title)}</div>{body}",
        classes=["credsim-panel", f"credsim-{kind}"],
        style="padding: 4px 8px;",
    )


# --------------------------------------------------------------------------- panels

#: the session's pinned reference run (a :class:`View`), overlaid on the charts; one per browser session
PINNED: solara.Reactive[View | None] = solara.reactive(None)


def timeline(view: View) -> dict[str, Any]:
    """Chart keywords every time chart shares: the x axis to the run's last day, the window's start
    marked, and the recession shaded where it is on (counted from the window's start)."""
    r = view.params.macro.recession
    bands = []
    if r.enabled:
        start = view.t0 + r.start_day
        bands.append((start, start + r.onset_days + r.peak_days + r.easing_days, f"recession (severity {r.severity:g})"))
    return {"xmax": view.days, "bands": bands, "lines": [(view.t0, "window starts")]}


def pinned_series(key: str, color: str, transform: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None):
    """The pinned run's series ``key`` as a chart overlay (none if nothing is pinned)."""
    pin = PINNED.value
    if pin is None:
        return ()
    d = {**pin.series, "cure_rate": pin.cure}
    y = transform(d) if transform is not None else d[key]
    return ((f"pinned {key}", color, d["day"], y),)



def _on(flag: bool) -> str:
    return "on" if flag else "off"


def levers_in_effect(p) -> list[tuple[str, str]]:
    """What the running model does, read from its parameters."""
    c = p.collection
    if "reminders" in c.tactics and c.reminders.schedule:
        ladder = ", ".join(f"{'SMS' if s.channel == 'sms' else 'call'} {s.day:+d}" for s in c.reminders.schedule)
    else:
        ladder = "none"
    plans = "off"
    if "plans" in c.tactics:
        where = [w for w, on in (("visits", c.plans.on_visit), ("calls", c.plans.on_call),
                                 ("early contact", c.plans.on_early_contact)) if on]
        who = "hardship" if c.plans.require_hardship else "anyone"
        plans = f"on {', '.join(where) or 'no channel'}; {who}, up to {c.plans.max_dpd} DPD"
    recession = (
        f"on, severity {p.macro.recession.severity:g} (from day {p.macro.recession.start_day})"
        if p.macro.recession.enabled
        else "off"
    )
    return [
        ("reminders", ladder),
        ("visits", f"from {c.visits.start_dpd} DPD" if "visits" in c.tactics else "off"),
        ("collector tone", f"harshness {c.tone.harshness:g}"),
        ("plans", plans),
        ("education", _on(p.education.enabled)),
        ("early-contact channel", _on(p.early_contact.channel)),
        ("recession", recession),
    ]


@guarded("status", "Run")
def StatusPanel(model: View):
    """The day counter, the strategy and the levers in effect, today's key numbers."""
    s = model.snapshot
    cure = model.cure[-1]
    rows = [
        ("active loans", f"{s['active_loans']:,}"),
        ("30+ DPD", fmt_pct(_share(np.array([s["dpd_30_59"] + s["dpd_60_89"] + s["dpd_90_plus"]]),
                                   np.array([s["active_loans"]]))[0])),
        ("default rate since day 0", fmt_pct(s["default_rate"])),
        ("cure rate since day 0", fmt_pct(cure)),
        ("mean stress", f"{s['mean_stress']:.3f}"),
        ("brand trust", f"{s['brand_trust']:.3f}"),
        ("profit since day 0", f"{fmt_money(s['profit'])} CU"),
    ]
    table = "".join(
        f"<tr><td style='opacity:0.7;padding-right:10px'>{html.escape(k)}</td><td>{html.escape(val)}</td></tr>"
        for k, val in rows + levers_in_effect(model.params)
    )
    if not model.running:
        status = "finished"
    elif model.day == 0:
        status = "ready: press Step or ▶"
    else:  # the burn-in is not measured: the summary counts from the window's start
        status = (f"burn-in: the measurement window starts after day {model.t0}" if model.day < model.t0
                  else f"measurement window day {model.day - model.t0} of {model.days - model.t0}")
    pin = PINNED.value
    compare = ""
    if pin is not None:
        k = min(model.day, pin.day)
        d, p = model.series, pin.series
        paired = "paired: the same seed" if pin.seed == model.seed and pin.n == model.n else "not paired: another seed or size"
        diffs = [("default rate", fmt_pct(d["default_rate"][k] - p["default_rate"][k]).replace("-", "\u2212")),
                 ("mean stress", f"{d['mean_stress'][k] - p['mean_stress'][k]:+.3f}".replace("-", "\u2212")),
                 ("brand trust", f"{d['brand_trust'][k] - p['brand_trust'][k]:+.3f}".replace("-", "\u2212")),
                 ("profit", f"{fmt_money(d['profit'][k] - p['profit'][k])} CU")]
        compare = (f"<div class='credsim-compare' style='font-size:12px;margin-top:6px'><b>Against the pinned run</b> "
                   f"({html.escape(pin.strategy)}, seed {pin.seed}; {paired}), this run minus it on day {k}: "
                   + "; ".join(f"{html.escape(a)} <b>{html.escape(b)}</b>" for a, b in diffs) + "</div>")
    body = (
        f"<div style='font-size:22px;margin:4px 0'>Day <span class='credsim-day'>{model.day}</span>"
        f" of {model.days} <span class='credsim-state' style='font-size:13px;opacity:0.75'>({status})</span></div>"
        f"<div class='credsim-strategy' style='margin-bottom:6px'>strategy <b>{html.escape(model.strategy)}</b>, "
        f"<span class='credsim-people'>{model.n:,}</span> people, seed {model.seed}</div>"
        f"<table style='font-size:13px;border-collapse:collapse'>{table}</table>"
        f"{compare}"
        "<div class='credsim-hint' style='font-size:11px;opacity:0.75;margin-top:6px'>Levers changed in the sidebar "
        "take effect on <b>Reset</b>, which starts a new run from day 0.</div>"
    )
    return Panel("status", "Run", body)


@guarded("dpd", "DPD buckets")
def DpdPanel(model: View):
    """DPD-bucket composition of the active loans over time."""
    d = model.series
    act = d["active_loans"]
    buckets = [("1-29 DPD", "dpd_1_29"), ("30-59 DPD", "dpd_30_59"), ("60-89 DPD", "dpd_60_89"), ("90+ DPD", "dpd_90_plus")]
    series = [(label, COLORS[label], _share(d[k], act)) for label, k in buckets]
    series_plan = [("on plan", COLORS["on plan"], _share(d["on_plan"], act))]
    late = pinned_series("30+ DPD", "#212121", lambda p: _share(p["dpd_1_29"] + p["dpd_30_59"] + p["dpd_60_89"] + p["dpd_90_plus"],
                                                               p["active_loans"]))
    chart = svg_chart(d["day"], series, fmt=fmt_pct, stacked=True, overlay=late, **timeline(model))
    plan = svg_chart(d["day"], series_plan, fmt=fmt_pct, height=120, **timeline(model))
    current = _share(d["current"][-1:], act[-1:])[0]
    title = f"DPD buckets, share of active loans (current: {fmt_pct(current)})"
    return Panel("dpd", title, chart + plan)


@guarded("rates", "Default and cure rates")
def RatesPanel(model: View):
    """Default rate and cure rate so far, over time."""
    d = model.series
    cure = model.cure
    chart = svg_chart(
        d["day"],
        [("default rate", COLORS["60-89 DPD"], d["default_rate"]), ("cure rate", COLORS["current"], cure)],
        fmt=fmt_pct,
        ylim=(0.0, None),
        height=250,
        overlay=(*pinned_series("default_rate", COLORS["60-89 DPD"]), *pinned_series("cure_rate", COLORS["current"])),
        **timeline(model),
    )
    title = f"Default and cure rates since day 0 (default {fmt_pct(d['default_rate'][-1])}, cure {fmt_pct(cure[-1])})"
    return Panel("rates", title, chart)


@guarded("stress", "Stress")
def StressPanel(model: View):
    """Today's stress distribution over borrowers, its mean, and the mean over time."""
    edges, counts, mean = STRESS_BINS, model.stress_counts, model.stress_mean
    hist = svg_chart(edges, [("borrowers", "#ef6c00", counts)], bars=True, xlabel="stress (0..1)",
                     marker=(mean, f"mean {mean:.3f}"), height=170)
    d = model.series
    over_time = svg_chart(
        d["day"],
        [("mean stress", "#ef6c00", d["mean_stress"]), ("high-stress share", "#6d4c41", d["high_stress_share"])],
        fmt=lambda t: f"{t:.2g}",
        ylim=(0.0, None),
        height=150,
        overlay=pinned_series("mean_stress", "#ef6c00"),
        **timeline(model),
    )
    return Panel("stress", f"Stress of {model.stress_n:,} borrowers today (mean {mean:.3f})", hist + over_time)


@guarded("trust", "Brand trust and applications")
def TrustPanel(model: View):
    """Brand trust and applications over time."""
    d = model.series
    trust = svg_chart(d["day"], [("brand trust", "#1e88e5", d["brand_trust"])], fmt=lambda t: f"{t:.3g}", height=160,
                      overlay=pinned_series("brand_trust", "#1e88e5"), **timeline(model))
    days = d["day"]
    apps = d["applications"]
    # applications per day are small counts: show a 30-day moving average with the daily values
    k = np.ones(min(CYCLE, max(len(apps), 1)))
    avg = np.convolve(apps, k, mode="full")[: len(apps)] / np.minimum(np.arange(1, len(apps) + 1), len(k))
    applications = svg_chart(days, [("applications / day", "#90caf9", apps), ("30-day average", "#0d47a1", avg)],
                             ylim=(0.0, None), height=160, **timeline(model))
    title = f"Brand trust {d['brand_trust'][-1]:.3f} and applications ({int(apps[-1])} today)"
    return Panel("trust", title, trust + applications)


@guarded("money", "Collection cost and profit")
def MoneyPanel(model: View):
    """Collection cost and profit so far."""
    d = model.series
    chart = svg_chart(
        d["day"],
        [("collection cost", "#c62828", d["collection_cost"]), ("profit", "#2e7d32", d["profit"])],
        fmt=fmt_money,
        height=250,
        overlay=(*pinned_series("collection_cost", "#c62828"), *pinned_series("profit", "#2e7d32")),
        **timeline(model),
    )
    title = f"Collection cost {fmt_money(d['collection_cost'][-1])} CU and profit {fmt_money(d['profit'][-1])} CU since day 0"
    return Panel("money", title, chart)


@guarded("queue", "Visit queue")
def QueuePanel(model: View):
    """Loans waiting for a home visit at the end of each day."""
    d = model.series
    visits = np.diff(d["visits"], prepend=d["visits"][:1])
    chart = svg_chart(
        d["day"],
        [("loans waiting for a visit", "#5e35b1", d["visit_queue"]), ("visits made today", "#b39ddb", visits)],
        ylim=(0.0, None),
        height=250,
        **timeline(model),
    )
    return Panel("queue", f"Visit queue ({int(d['visit_queue'][-1]):,} waiting)", chart)


# --------------------------------------------------------------------------- the borrower picture

MAP_W, MAP_H = 600, 200
MAP_TEMPLATE = """
<template>
  <div class="credsim-map" style="position: relative">
    <svg :viewBox="'0 0 ' + w + ' ' + h" width="100%" style="max-height: 200px; display: block">
      <path :d="edges" stroke="#9e9e9e" stroke-opacity="0.45" stroke-width="0.6" fill="none"></path>
      <circle v-for="p in JSON.parse(points)" :key="p[0]" :cx="p[1]" :cy="p[2]" :r="p[3]" :fill="p[4]"
              :fill-opacity="p[5]" :stroke="p[0] === selected ? '#000' : '#ffffff'"
              :stroke-width="p[0] === selected ? 2.5 : 0.6" class="credsim-borrower" :data-id="p[0]"
              style="cursor: pointer" @mouseenter="hover = p" @mouseleave="hover = null"
              @click="select(p[0])"></circle>
    </svg>
    <div v-if="hover" class="credsim-hover"
         style="position: absolute; top: 2px; right: 2px; background: rgba(255,255,255,0.93);
                border: 1px solid #bbb; border-radius: 4px; padding: 3px 6px; font-size: 12px; color: #212121;
                pointer-events: none">
      borrower {{ hover[0] }}: <b>{{ hover[6] }}</b><br/>
      DPD {{ hover[7] }} &middot; stress {{ hover[8] }} &middot; trust {{ hover[9] }}<br/>
      <span style="color: #555">click for the full record</span>
    </div>
  </div>
</template>
"""


class BorrowerMap(v.VuetifyTemplate):
    """The borrower picture as a Vue template: hover shows a summary, click calls ``on_select``."""

    template = traitlets.Unicode(MAP_TEMPLATE).tag(sync=True)
    w = traitlets.Int(MAP_W).tag(sync=True)
    h = traitlets.Int(MAP_H).tag(sync=True)
    #: the dots (:func:`map_points`) as one JSON text: a list of 300 lists as an element's argument
    #: would be walked item by item by the renderer on every redraw (a few thousand values a day)
    points = traitlets.Unicode("[]").tag(sync=True)
    edges = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    #: the dot under the pointer (set by the template; a synced trait, so the template needs no script)
    hover = traitlets.Any(None, allow_none=True).tag(sync=True)
    on_select = traitlets.Callable(None, allow_none=True)

    def vue_select(self, i, *args):
        if self.on_select is not None:
            self.on_select(int(i))


def loan_states(model, idx: np.ndarray) -> np.ndarray:
    """Loan state of people ``idx`` (the categories of :attr:`sim.borrower.Borrower.state`)."""
    p = model.people
    has, dpd, plan, co = p.has_loan[idx], p.dpd[idx], p.on_plan[idx], p.co_balance[idx] > 0
    return np.select(
        [~has & co, ~has, plan & (dpd == 0), dpd == 0, dpd < 30, dpd < 60, dpd < 90],
        ["charged off", "no loan", "on plan", "current", "1-29 DPD", "30-59 DPD", "60-89 DPD"],
        default="90+ DPD",
    )


@solara.component
def BorrowersPanel(model, tick: int | None = None):
    """A sample of the social network, coloured by loan state; dot size is stress, opacity trust
    (redrawn when ``tick`` changes, as the panels of :func:`guarded`)."""
    selected, set_selected = solara.use_state(-1)
    view = None
    try:
        model.render_context = reacton.core.get_render_context(required=False)
        view = model.view()
        return _borrowers(model, view, selected, set_selected)
    except Exception as e:  # the error boundary, as for the other panels (guarded)
        log.exception("panel borrowers failed")
        return panel_error("borrowers", "Borrowers", e, None if view is None else view.day)


def map_geometry(sample: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[list, list, list, str]:
    """(ids, x, y, edge path) of the borrower picture in its own pixels: fixed for a sample, so
    computed once per model (:attr:`AppModel.geometry`), not once a day."""
    people, xy, edges = sample
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    pad = 12
    sx = pad + (xy[:, 0] - lo[0]) / span[0] * (MAP_W - 2 * pad)
    sy = pad + (xy[:, 1] - lo[1]) / span[1] * (MAP_H - 2 * pad)
    path = "".join(f"M{sx[a]:.1f} {sy[a]:.1f}L{sx[b]:.1f} {sy[b]:.1f}" for a, b in edges)
    return people.tolist(), [round(a, 1) for a in sx.tolist()], [round(b, 1) for b in sy.tolist()], path


def map_points(view: View, geometry: tuple[list, list, list, str]) -> list[list]:
    """One entry per dot of the borrower picture: [id, x, y, radius (stress), colour (loan state),
    opacity (trust), state, DPD, stress, trust], what its template draws and its hover shows."""
    ids, xs, ys, _ = geometry
    states = view.states.tolist()
    return [
        [i, a, b, round(2.0 + 6.0 * s, 1), COLORS[st], round(0.3 + 0.7 * t, 2), st, d, round(s, 2), round(t, 2)]
        for i, a, b, s, t, st, d in zip(ids, xs, ys, view.stress.astype(float).tolist(),
                                        view.trust.astype(float).tolist(), states, view.dpd.astype(int).tolist())
    ]


def _borrowers(model, view: View, selected: int, set_selected):
    people = view.sample[0]
    geometry = model.geometry
    path, points = geometry[3], map_points(view, geometry)
    states = view.states
    counts = {k: int(np.count_nonzero(states == k)) for k in COLORS}
    legend = " ".join(
        f"<span style='white-space:nowrap;margin-right:8px'><span style='display:inline-block;width:10px;height:10px;"
        f"border-radius:5px;background:{c}'></span> {html.escape(k)} ({counts[k]})</span>"
        for k, c in COLORS.items()
    )
    if 0 <= selected < view.n:
        day, record = model.record(selected)
        cells = "".join(
            f"<span style='opacity:0.7'>{html.escape(k)}</span>"
            f"<span>{html.escape(f'{val:,.2f}' if isinstance(val, float) else str(val))}</span>"
            for k, val in record.items()
        )
        detail = (
            f"<div style='font-weight:500;margin-top:4px'>Borrower {selected} on day {day}"
            " <span style='font-weight:400;opacity:0.7'>(model.borrower(i))</span></div>"
            "<div class='credsim-borrower-detail' style='display:grid;grid-template-columns:repeat(3,auto 1fr);"
            f"column-gap:6px;font-size:11px;line-height:1.35'>{cells}</div>"
        )
    else:
        detail = "<div style='opacity:0.7;margin-top:4px'>Hover a dot for a summary; click one for the full record.</div>"
    with solara.Column(classes=["credsim-panel", "credsim-borrowers"], style="padding: 4px 8px;", gap="2px") as column:
        solara.HTML(tag="div", unsafe_innerHTML=(
            f"<div class='credsim-panel-title'>Borrowers: {len(people)} people of {view.n:,} "
            "(a sample of the social network)</div>"
            "<div style='font-size:11px;opacity:0.7'>colour: loan state; size: stress; opacity: trust</div>"
        ))
        BorrowerMap.element(points=json.dumps(points, separators=(",", ":")), edges=path, selected=selected, on_select=set_selected)
        solara.HTML(tag="div", unsafe_innerHTML=f"<div style='font-size:11px'>{legend}</div>{detail}")
    return column


# --------------------------------------------------------------------------- explain

#: each lever of the sidebar and the parameters it sets (their units and meanings come from sim.params)
LEVER_PARAMS = {
    "Reminder schedule": ["collection.reminders.schedule"],
    "Home visits start at DPD": ["collection.visits.start_dpd"],
    "Collector tone": ["collection.tone.harshness"],
    "Flexible plans offered": ["collection.plans.on_visit", "collection.plans.on_call", "collection.plans.on_early_contact"],
    "Plan eligibility": ["collection.plans.require_hardship", "collection.plans.max_dpd"],
    "Education at origination": ["education.enabled"],
    "Recession": ["macro.recession.enabled"],
    "Recession severity (if on)": ["macro.recession.severity"],
    "Borrowers (people in the market)": ["population.borrowers"],
}


def param_info(params, key: str) -> tuple[Any, str, str]:
    """(value, unit, meaning) of dotted parameter ``key``, read from its declaration (``P``)."""
    obj, field = params, None
    for part in key.split("."):
        field = type(obj).model_fields[part]
        obj = getattr(obj, part)
    extra = field.json_schema_extra or {}
    return obj, str(extra.get("unit", "")), str(field.description or "")


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(f"{'SMS' if getattr(v, 'channel', '') == 'sms' else 'call'} {v.day:+d}" if hasattr(v, "day")
                         else str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def lever_rows(params) -> list[tuple[str, str, str, str, str]]:
    """(lever, parameter, value in effect, unit, meaning) for every lever."""
    rows = []
    for lever, keys in LEVER_PARAMS.items():
        for key in keys:
            value, unit, doc = param_info(params, key)
            rows.append((lever, key, _value_text(value), unit, doc.split(". ")[0].rstrip(".") + "."))
    for name, tactic in tactic_registry().items():
        rows.append((f"Tactic: {name}", "collection.tactics", "on" if name in params.collection.tactics else "off",
                     "flag", tactic.doc.split(". ")[0].rstrip(".") + "."))
    return rows


@guarded("levers", "Levers")
def LeversPanel(model: View):
    """Every lever: the parameter it sets, its value in this run, its unit and its meaning."""
    tactics = ", ".join(model.params.collection.tactics)
    rows = lever_rows(model.params)
    body = "".join(
        f"<tr><td style='padding-right:8px;white-space:nowrap'>{html.escape(lever if k == 0 or lever != rows[k - 1][0] else '')}</td>"
        f"<td style='padding-right:8px'><code>{html.escape(key)}</code></td>"
        f"<td style='padding-right:8px'><b>{html.escape(value)}</b></td>"
        f"<td style='padding-right:8px;opacity:0.75'>{html.escape(unit)}</td><td>{html.escape(doc)}</td></tr>"
        for k, (lever, key, value, unit, doc) in enumerate(rows)
    )
    return Panel("levers", "Levers in this run: value, unit and meaning (from the parameter definitions)",
                 f"<div style='font-size:12px;margin-bottom:4px'>tactics: <b>{html.escape(tactics)}</b></div>"
                 f"<table style='font-size:12px;border-collapse:collapse'>{body}</table>")


ODD_PATH = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"
#: where the app's server serves docs/ODD.md (sim.app_server.odd_route), linked from the Info tab
ODD_ROUTE = "/credsim/docs/ODD.md"
INFO = """
<div class='credsim-info' style='max-width: 900px; font-size: 14px; line-height: 1.5'>
<h3>credsim in brief</h3>
<p>An agent-based model of consumer-credit delinquency and debt collection. One step is one day. A
consumer-finance company lends small instalment loans to many young people on low to middle incomes, who
differ lastingly in income and its regularity, other debts, support, impatience, literacy, willingness
to pay, stress and trust. They fall behind for several reasons (job loss, emergencies, over-indebtedness,
spending habits, a poor grasp of the contract, or unwillingness); each loan reaching 30 days past due (DPD)
records its main cause.</p>
<p>The lender escalates through its collection <b>tactics</b>: SMS and phone reminders, home visits, flexible
plans, promises to pay, then charge-off and recovery. A message only reminds; a conversation can learn why,
offer help and get a promise. Collection adds stress, and experience and word of mouth move brand trust,
which drives applications. Every run first warms the book up (the <b>burn-in</b>, marked "window starts"
on the charts); every summary is measured over the window after it. Where the strategy has a recession,
the charts shade it.</p>
<p>The <b>strategy</b> is a scenario file; the levers are overrides of its parameters (the Levers panel names
each one, its unit and meaning). Changed levers take effect on <b>Reset</b>. Two runs with the same seed face
the same people and shocks: <b>Pin this run</b>, change a lever, Reset and run again to see the paired
difference. <b>Export</b> gives the files <code>credsim run --out</code> writes and the scenario, which
<code>credsim run scenario.toml --seed SEED</code> reproduces.</p>
<p>The full model description (ODD protocol): <a class='credsim-odd' href='{href}' target='_blank'>docs/ODD.md</a>,
served by this app from the repository (<code>{path}</code>).</p>
</div>
"""


@solara.component
def InfoTab():
    solara.HTML(tag="div", unsafe_innerHTML=INFO.format(href=html.escape(ODD_ROUTE), path=html.escape(str(ODD_PATH))))


# --------------------------------------------------------------------------- export


@solara.component
def ExportPanel(model):
    """Downloads of the run so far: the files ``credsim run --out`` writes and the scenario as run."""
    from .app_export import EXPORTS

    # not redrawn per day: a download reads the model when it is clicked. The callables are made once
    # per model (FileDownload forgets a requested download whenever its ``data`` changes)
    getters = solara.use_memo(lambda: {name: (lambda name=name: model.export(name)) for name in EXPORTS}, [model])
    with solara.Column(classes=["credsim-panel", "credsim-export"], style="padding: 4px 8px;", gap="4px") as column:
        solara.HTML(tag="div", unsafe_innerHTML="<div class='credsim-panel-title'>Export the run so far</div>")
        with solara.Row(gap="6px", style="flex-wrap: wrap"):
            for name in EXPORTS:
                solara.FileDownload(getters[name], filename=name, label=name, icon_name="mdi-download")
        solara.HTML(tag="div", unsafe_innerHTML="<div style='font-size:11px;opacity:0.75'>" + "<br/>".join(
            f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in EXPORTS.items()) + "</div>")
    return column


# --------------------------------------------------------------------------- the page


def default_scenario() -> str:
    return os.environ.get("CREDSIM_VIZ_SCENARIO", "baseline")


def default_borrowers() -> int:
    return int(os.environ.get("CREDSIM_VIZ_BORROWERS", DEFAULT_BORROWERS))


def strategies(default: str) -> list[str]:
    """The strategy choices: every shipped scenario, and ``default`` if it is a file of one's own."""
    names = [p.stem for p in shipped_scenarios()]
    if default not in names and resolve_path(default).resolve() not in {p.resolve() for p in shipped_scenarios()}:
        names.append(default)
    return names


def model_params(scenario: str | None = None, borrowers: int | None = None) -> dict[str, Any]:
    """SolaraViz's controls: every key is a keyword argument of :class:`AppModel`."""
    scenario = scenario or default_scenario()
    borrowers = borrowers or default_borrowers()
    strategy = Path(scenario).stem if resolve_path(scenario) in shipped_scenarios() else scenario
    def select(label, values):
        return {"type": "Select", "label": label, "value": STRATEGY, "values": [STRATEGY, *values]}

    return {
        "strategy": {"type": "Select", "label": "Strategy (scenario)", "value": strategy, "values": strategies(strategy)},
        "reminders": select("Reminder schedule", list(REMINDERS)),
        "visits_from": select("Home visits start at DPD", VISITS_FROM),
        "tone": select("Collector tone", list(TONE)),
        "plans": select("Flexible plans offered", list(PLANS)),
        "plan_eligibility": select("Plan eligibility", list(PLAN_ELIGIBILITY)),
        "education": select("Education at origination", ON_OFF),
        "recession": select("Recession", ON_OFF),
        "severity": select("Recession severity (if on)", SEVERITIES),
        "borrowers": {"type": "SliderInt", "label": "Borrowers (people in the market)", "value": borrowers,
                      "min": 200, "max": 20_000, "step": 200},
        "rng": {"type": "InputText", "label": "Seed (a whole number, typed)", "value": "0"},
        **tactic_levers(),
    }


def params_from_query(params: dict[str, Any], search: str | None) -> dict[str, Any]:
    """The controls with the values a page address (``?tone=...&rng=7``) gives them; a value the control
    cannot take is ignored (the control keeps its default)."""
    from urllib.parse import parse_qs

    out = {k: dict(v) for k, v in params.items()}
    for key, values in parse_qs(search or "").items():
        spec, value = out.get(key), values[-1]
        if spec is None:
            continue
        if spec["type"] == "Select" and value in spec["values"]:
            spec["value"] = value
        elif (spec["type"] == "SliderInt" and value.isascii() and value.isdigit()  # not '²', which int() refuses
              and spec["min"] <= int(value) <= spec["max"]):
            spec["value"] = int(value)
        elif spec["type"] == "InputText":
            try:
                spec["value"] = str(seed_of(value))
            except ValueError:
                pass
    return out


def query_of(controls: dict[str, Any], params: dict[str, Any]) -> str:
    """The page address's query for a model's controls (only those that differ from the defaults)."""
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in controls.items() if k in params and str(params[k]["value"]) != str(v)})


COMPONENTS = [StatusPanel, BorrowersPanel, DpdPanel, RatesPanel, StressPanel, TrustPanel, MoneyPanel, QueuePanel,
              LeversPanel, ExportPanel]
#: the panels that show the day (redrawn after every step); the others show what is fixed for a model
DAILY = [StatusPanel, BorrowersPanel, DpdPanel, RatesPanel, StressPanel, TrustPanel, MoneyPanel, QueuePanel]


@solara.component
def RunGrid(model):
    """The panels, in a grid. This component alone reads Mesa's ``update_counter`` (which a step,
    Reset or "Run to day" moves) and hands it to the daily panels as ``tick``: a redraw is one
    pass over the page. (Each reader of a reactive value is a listener of its own, and every
    listener starts a render pass over the whole page, so a dozen panels reading it each cost a
    dozen passes a step.)"""
    tick = update_counter.get()
    with solara.Div(classes=["credsim-grid"]) as grid:
        for c in COMPONENTS:
            if any(c is d for d in DAILY):
                c(model, tick=tick)
            else:
                c(model)
    return grid


def initial_model(params: dict[str, Any]) -> AppModel:
    """A model with the controls' initial values."""
    return AppModel(**{k: (v["value"] if isinstance(v, dict) and "type" in v else v) for k, v in params.items()})


def warm_up() -> None:
    """Do once, when the server starts, what the first session would otherwise wait for: the modules
    imported on first use (the exports' results writer and pandas, networkx) and the borrower
    picture of the default controls (its sample and spring layout, a few tenths of a second, kept
    by :func:`network_sample` for every session opened with them). The model built for it is
    dropped, and its garbage collected (Solara freezes the objects alive at start-up)."""
    import gc

    import networkx  # noqa: F401
    from . import app_export  # noqa: F401

    model = initial_model(model_params())
    model.geometry  # noqa: B018
    View.of(model)
    del model
    gc.collect()


@solara.component
def Page():
    """One browser session: its own model, rebuilt from the controls on Reset."""
    router = solara.use_router()
    defaults = solara.use_memo(model_params, [])
    params = solara.use_memo(lambda: params_from_query(defaults, router.search), [])  # a shared link's levers
    first = solara.use_memo(lambda: initial_model(params), [])
    model = solara.use_reactive(first)

    def keep_in_address():  # the levers of the model in use, so a reload or a shared link restores them
        query = query_of(model.value.controls, defaults)
        if (router.search or "") != query:
            router.push(f"{router.path or '/'}" + (f"?{query}" if query else ""))

    solara.use_effect(keep_in_address, [model.value])
    solara.Title("credsim: delinquency and collection")
    solara.Style(CSS)
    # SolaraViz gives the app bar, the controls and the levers (and rebuilds the model on Reset); the
    # panels are laid out here, in a grid whose rows size to their charts at every width
    SolaraViz(model, components=[], model_params=params, name="credsim: delinquency and collection")
    tab, set_tab = solara.use_state(0)
    # the "Run to day" target: kept while the Info tab is shown, set afresh for each new model
    target = solara.use_memo(lambda: solara.reactive(model.value.t0 + 180), [model.value])
    with solara.Column(classes=["credsim-main"], style="padding: 0 12px; width: 100%"):
        with solara.v.Tabs(v_model=tab, on_v_model=set_tab, class_="credsim-tabs"):
            solara.v.Tab(children=["Run"])
            solara.v.Tab(children=["Info"])
        if tab == 0:
            Toolbar(model.value, target)
            RunGrid(model.value)
        else:
            InfoTab()


@solara.component
def Toolbar(model, day_target):
    """Pin the run as the reference the charts overlay, or clear it (not redrawn per day: it shows
    nothing of the day, and reads the model when a button is clicked). ``day_target``: the reactive
    "Run to day" value the page keeps per model."""
    pin = PINNED.value

    def pin_now():
        PINNED.set(model.view())

    target, set_target = day_target.value, day_target.set

    def run_to(day: int):
        while model.running and model.day < min(day, model.days):
            model.step()
        update_counter.set(update_counter.value + 1)

    if model.input_error:
        solara.Error(model.input_error, classes=["credsim-input-error"])
    with solara.Row(classes=["credsim-toolbar"], gap="8px", style="align-items: center; margin: 6px 0"):
        solara.InputInt("Run to day", value=target, on_value=lambda d: set_target(max(int(d or 0), 0)),
                        classes=["credsim-target"], style="max-width: 110px")
        solara.Button("Run to day", on_click=lambda: run_to(target), outlined=True, icon_name="mdi-debug-step-over")
        solara.Button("Run to the end", on_click=lambda: run_to(model.days), outlined=True, icon_name="mdi-skip-forward")
        solara.Button("Pin this run", on_click=pin_now, outlined=True, icon_name="mdi-pin")
        if pin is not None:
            solara.Button("Unpin", on_click=lambda: PINNED.set(None), text=True)
            solara.Text(f"pinned: {pin.strategy}, seed {pin.seed}, {pin.n:,} people, up to day {pin.day} "
                        "(dashed on the charts)", classes=["credsim-pinned-note"])


CSS = """
/* every slider shows its value, not only while it is dragged */
.v-slider__thumb-label-container { display: block !important; }
.v-input__slider { margin-top: 18px; }
.credsim-panel-title { font-weight: 500; font-size: 14px; margin: 2px 0 2px 0; }
.credsim-panel svg { display: block; }
/* panels in a grid whose rows size to their content: no fixed heights, no inner scrolling */
.credsim-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 10px;
                align-items: start; width: 100%; }
.credsim-grid > .credsim-panel { border: 1px solid rgba(127, 127, 127, 0.35); border-radius: 6px; min-width: 0; }
.credsim-grid > .credsim-levers, .credsim-grid > .credsim-export { grid-column: 1 / -1; }
.credsim-chart { max-width: 720px; }
"""
