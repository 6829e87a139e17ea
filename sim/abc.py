"""Bayesian calibration by approximate Bayesian computation, sequential Monte Carlo (pyabc's ABC-SMC).

``credsim calibrate TARGETS.toml --method abc`` reads the same targets file as the method of simulated
moments (:mod:`sim.calibrate`: base scenario, run size, replicates, seed, targets, parameters) and an
optional ``[abc]`` table::

    [abc]
    population = 40          # particles per generation
    generations = 4          # generations of the SMC (stop earlier if epsilon reaches min_epsilon)
    min_epsilon = 0.0        # stop when the acceptance threshold is at or below this distance
    max_evaluations = 0      # no new generation once this many particles have been simulated (0: no limit)
    seed = 0                 # seed of the sampler's draws (proposals), not of the model runs
    estimate = "mean"        # what calibrated.toml holds: "mean" (posterior mean) or "map"
    borrowers = 5000         # optional: the run size of ABC, where it differs from the file's (MSM's)
    days = 730
    replicates = 2           # replicate seeds replicate_seed(seed, r), r < replicates; validation after them

- **Prior**: independent uniforms over each fitted parameter's ``min..max`` (the documented range of the
  parameter in sim/params.py where the targets file gives none; the loader checks both lie inside it).
- **Simulation**: every particle runs ``[abc] replicates`` seeds (default: the file's ``replicates``), the same for all
  (``sim.rng.replicate_seed(seed, r)``, common random numbers); its summary statistics are the targets'
  moments, each the mean over the replicates.
- **Distance**: the square root of the MSM objective, ``sqrt(sum_i w_i * residual_i^2)`` with
  ``w_i = 1 / sd_i^2`` (one-sided targets count only beyond their bound), so both methods agree on what
  "close" means and epsilon reads in standard deviations. Held-out targets (``holdout = true``) are left
  out of the distance and reported in validation.md only.
- **SMC**: pyabc's ABCSMC with its defaults otherwise: the adaptive median epsilon (each generation's
  threshold is the weighted median distance of the previous one; the first from a calibration sample of
  the prior), a multivariate normal perturbation kernel, importance weights prior / proposal.
- **Execution**: ``_ExecutorSampler`` (:func:`_sampler_class`), a pyabc sampler that evaluates a batch of particles at a time
  through :mod:`sim.execute` (this process, local worker processes, or a Dask scheduler). pyabc's own
  samplers each run one particle per task and draw proposals in the workers; this one draws every
  proposal in this process, in order, and sends each particle's replicates as separate runs, so a
  generation's work spreads over all workers and the result does not depend on how many there are.
- **Reproducibility**: pyabc draws from NumPy's global random state. The sampler reseeds it at the start
  of every generation from ``[abc] seed`` and the generation index, proposes particles in batches whose
  size depends only on what was accepted so far, and keeps the first ``population`` accepted in proposal
  order. So the same targets file gives the same posterior with any number of workers, and a run killed
  and resumed gives the same generations as one that was not killed.
- **Resume**: pyabc's history database ``abc.db`` (SQLite) in the output folder holds every finished
  generation; run the same command again and it continues from the last finished generation (raise
  ``generations`` to go further). A changed problem (anything but ``generations``, ``min_epsilon``,
  ``max_evaluations`` and ``estimate``) is refused: use another ``--out``.

Outputs: ``posterior.parquet`` (every generation's particles: parameters, normalised weight, distance,
moments), ``calibrated.toml`` (the base scenario with the posterior mean, or the MAP, of each parameter),
``fit.json`` (settings, posterior summaries, epsilon per generation, evaluations, seeds, versions) and
``validation.md`` (each target, the model at the estimate and at the base with 95% intervals over fresh
seeds, held-out targets marked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from . import calibrate as cal
from .analysis import mean_ci
from .execute import RunFailed, gather
from .rng import replicate_seed, seed_sequence
from .scenario import ScenarioError, load_scenario, with_overrides

DB_NAME = "abc.db"
STATE_NAME = "abc_problem.json"


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------
class AbcSpec(cal._Spec):
    population: int = Field(40, ge=2, le=100_000, description="Particles per generation.")
    generations: int = Field(4, ge=1, le=1000, description="Generations of the SMC.")
    min_epsilon: float = Field(0.0, ge=0.0, description="Stop once epsilon is at or below this distance.")
    max_evaluations: int = Field(0, ge=0, description="No new generation after this many particles simulated (0: no limit).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the sampler's proposals (not of the runs).")
    estimate: Literal["mean", "map"] = Field("mean", description="What calibrated.toml holds.")
    borrowers: int | None = Field(None, ge=10, le=20_000_000, description="People per run (default: the file's).")
    days: int | None = Field(None, ge=1, description="Days per run (default: the file's).")
    replicates: int | None = Field(None, ge=1, le=10_000, description="Replicates per particle (default: the file's).")
    predictive_draws: int = Field(40, ge=0, le=100_000, description="Posterior predictive check: parameter sets drawn "
                                  "from the final generation by weight, each run once with a fresh seed.")

    @property
    def estimate_text(self) -> str:
        return "posterior mean" if self.estimate == "mean" else "MAP (the particle of highest posterior density)"


#: settings that may change between a run and its resumption
RESUMABLE = ("generations", "min_epsilon", "max_evaluations", "estimate", "predictive_draws")


@dataclass
class AbcProblem:
    problem: cal.Problem
    abc: AbcSpec

    @property
    def fitted_targets(self) -> list[cal.TargetSpec]:
        return [t for t in self.problem.targets if not t.holdout]

    def fingerprint(self) -> str:
        """What the posterior depends on: the targets file's content but the resumable settings, and the base
        scenario but its values of the fitted parameters (so installing a fit into the base keeps the run's
        database usable)."""
        spec = self.problem.spec.model_dump(mode="json")
        spec["abc"] = {k: v for k, v in self.abc.model_dump(mode="json").items() if k not in RESUMABLE}
        spec.pop("description", None)
        spec.pop("validation_replicates", None)
        base = self.problem.base.model_dump(mode="json")
        for key in self.problem.keys:  # every particle sets the fitted parameters: their base values do not count
            *sections, leaf = key.split(".")
            node = base
            for part in sections:
                node = node[part]
            node.pop(leaf, None)
        doc = {"spec": spec, "base": base,
               "lo": self.problem.lo.tolist(), "hi": self.problem.hi.tolist()}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def load(path: str | Path) -> AbcProblem:
    """The targets file with its ``[abc]`` table; :class:`ScenarioError` (one line) on any problem."""
    problem = cal.load_targets(path)
    try:
        spec = AbcSpec.model_validate(problem.spec.abc, strict=True)
    except ValidationError as e:
        loc, text = cal._describe_spec(e.errors()[0])
        if e.errors()[0]["type"] == "extra_forbidden":
            text = f"unknown key in [abc] (one of {', '.join(AbcSpec.model_fields)})"
        raise ScenarioError(problem.path, f"abc.{loc}", text) from None
    if not any(not t.holdout for t in problem.targets):
        raise ScenarioError(problem.path, "targets", "at least one target that is not held out (holdout = false)")
    size = {k: v for k, v in (("population.borrowers", spec.borrowers), ("simulation.days", spec.days)) if v is not None}
    if size:
        try:
            problem.base = with_overrides(problem.base, size, source=str(problem.path))
        except ScenarioError as e:
            raise ScenarioError(problem.path, "abc.borrowers" if "borrowers" in e.key else "abc.days", e.expected) from None
    if spec.replicates is not None:
        r0, n_val = spec.replicates, len(problem.validation_seeds)
        problem.seeds = [replicate_seed(problem.spec.seed, r) for r in range(r0)]
        problem.validation_seeds = [replicate_seed(problem.spec.seed, r0 + r) for r in range(n_val)]
    return AbcProblem(problem, spec)


# ---------------------------------------------------------------------------------------------
# running particles through the executor
# ---------------------------------------------------------------------------------------------
def _failed(job, res: dict) -> str:
    return f"a model run failed ({res['error']})"


class Batches:
    """Runs lists of parameter sets, each with the problem's replicate seeds, through an executor."""

    def __init__(self, problem: cal.Problem, execute: Callable):
        self.problem, self.execute = problem, execute
        self.runs = 0
        self._n = 0

    def moments(self, points: list[dict[str, float]], seeds: list[int] | None = None,
                targets: list[cal.TargetSpec] | None = None) -> list[dict[str, list[float]]]:
        """Per point, each target moment's value in every replicate (seeds: the fit's by default)."""
        from .sweep import Job

        p = self.problem
        seeds = p.seeds if seeds is None else seeds
        jobs = []
        for i, over in enumerate(points):
            sc = with_overrides(p.base, over, source=str(p.path)) if over else p.base
            for r, s in enumerate(seeds):
                self._n += 1
                jobs.append(Job(f"abc-{self._n}", p.base.name, i, r, s, sc))
        flat = [out["summary"] for out in gather(self.execute, jobs, _failed)]  # point by point, seed by seed
        summaries = [flat[i * len(seeds):(i + 1) * len(seeds)] for i in range(len(points))]
        self.runs += len(jobs)
        return [cal.replicate_moments(targets or p.targets, s) for s in summaries]


def distance(targets: list[cal.TargetSpec], means: dict[str, float]) -> float:
    """sqrt of the MSM objective over ``targets`` (the fitted ones): epsilon in standard deviations."""
    f = cal.objective(targets, means)
    return math.sqrt(f) if math.isfinite(f) else math.inf


def _generation_seed(seed: int, t: int) -> np.ndarray:
    return seed_sequence(seed, "abc", t + 1).generate_state(4)


def _sampler_class():
    from pyabc.sampler import Sampler

    class _ExecutorSampler(Sampler):
        """Evaluates a generation's particles in batches through a :class:`Batches`.

        pyabc hands the sampler ``simulate_one``, which draws a proposal, simulates it and accepts or
        rejects it. Each particle of a batch is first proposed with the model in *record* mode (it
        notes the parameters and returns no statistics); the batch's runs then go to the executor
        together; then each particle is proposed again from the same random state, now with its
        statistics, and pyabc accepts or rejects it as usual. The batch size depends only on the
        acceptances so far in the generation, never on the workers.
        """

        def __init__(self, model, abc: AbcSpec, log: Callable[[str], None] | None, total: int):
            super().__init__()
            self.model, self.abc, self.log, self.total = model, abc, log, total
            self.started = time.monotonic()
            self.evaluations = 0
            self.pending_line: str | None = None  # a generation's line waits until pyabc has stored it

        def flush(self) -> None:
            if self.pending_line and self.log:
                self.log(self.pending_line)
            self.pending_line = None

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False,
                                    ana_vars=None):
            self.flush()  # the previous generation is in the database by now
            np.random.seed(_generation_seed(self.abc.seed, t))
            sample = self._create_empty_sample()
            kept: list = []
            simulated = accepted = 0
            while len(kept) < n and simulated < max_eval:
                need = n - len(kept)
                # the acceptance rate so far (a Laplace estimate): batches big enough to finish in a
                # round or two, at most 2 x the population, so few simulations go beyond the last needed
                rate = (accepted + 1) / (simulated + 2)
                size = need if all_accepted or not simulated else int(min(2 * n, math.ceil(need / rate)))
                if math.isfinite(max_eval):
                    size = int(max(1, min(size, max_eval - simulated)))
                states, self.model.pending = [], []
                self.model.recording = True
                for _ in range(size):
                    states.append(np.random.get_state())
                    simulate_one()
                self.model.recording = False
                end_state = None
                self.model.fill(self.model.pending)
                for st in states:
                    np.random.set_state(st)
                    particle = simulate_one()
                    end_state = np.random.get_state()
                    simulated += 1
                    if particle.accepted:
                        accepted += 1
                        if len(kept) < n:
                            kept.append(particle)
                            sample.append(particle)
                    elif len(kept) < n:
                        sample.append(particle)
                np.random.set_state(end_state)
                self.model.cache.clear()
            self.nr_evaluations_ = simulated
            self.evaluations += simulated
            if len(kept) < n:
                sample.ok = False
            if self.log:
                elapsed = time.monotonic() - self.started
                if all_accepted:
                    self.log(f"prior sample: {simulated} particles ({elapsed:.0f} s)")
                else:
                    eps = simulate_one.keywords["eps"](t) if hasattr(simulate_one, "keywords") else float("nan")
                    self.pending_line = (f"generation {t + 1}/{self.total}: epsilon {eps:.4g}, accepted {accepted} of "
                             f"{simulated} simulated ({100 * accepted / max(simulated, 1):.0f}%), {len(kept)} particles kept, "
                             f"{self.evaluations} evaluated in all ({elapsed:.0f} s)")
            return sample

    return _ExecutorSampler


def _model_class():
    import pyabc

    class _Model(pyabc.Model):
        """The credsim model as pyabc sees it: parameters -> the targets' moments (means over replicates)."""

        def __init__(self, ap: AbcProblem, batches: Batches):
            super().__init__("credsim")
            self.ap, self.batches = ap, batches
            self.keys = ap.problem.keys
            self.recording = False
            self.pending: list[tuple] = []
            self.cache: dict[tuple, dict] = {}
            self.history: list[dict] = []  # every particle simulated: parameters and moments

        def _key(self, pars) -> tuple:
            return tuple(float(pars[k]) for k in self.keys)

        def fill(self, keys: list[tuple]) -> None:
            todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
            points = [dict(zip(self.keys, (float(f"{v:.10g}") for v in k))) for k in todo]
            for k, reps in zip(todo, self.batches.moments(points)):
                self.cache[k] = {name: cal._mean(v) for name, v in reps.items()}

        def sample(self, pars):
            k = self._key(pars)
            if self.recording:
                self.pending.append(k)
                return {t.name: math.nan for t in self.ap.problem.targets}
            return dict(self.cache[k])

    return _Model


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
@dataclass
class Posterior:
    ap: AbcProblem
    particles: pd.DataFrame  # every generation: generation, particle, params..., weight, distance, moments...
    generations: list[dict]  # t, epsilon, evaluations, acceptance_rate
    evaluations: int  # particles simulated, the prior sample included
    runs: int  # model runs in this session (particles x replicates, plus validation)
    started: str
    seconds: float
    resumed_from: int  # generations found in the database at the start
    stop: str
    estimate: dict[str, float] = field(default_factory=dict)

    @property
    def last(self) -> pd.DataFrame:
        return self.particles[self.particles.generation == self.particles.generation.max()]


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Quantile of a weighted sample: the smallest value whose weighted empirical distribution reaches q."""
    order = np.argsort(x, kind="stable")
    x, w = np.asarray(x, float)[order], np.asarray(w, float)[order]
    cdf = np.cumsum(w) / w.sum()
    return float(x[min(int(np.searchsorted(cdf, q - 1e-12, side="left")), len(x) - 1)])


def summarise(ap: AbcProblem, last: pd.DataFrame) -> dict[str, dict[str, float]]:
    w = last.weight.to_numpy()
    out = {}
    for i, k in enumerate(ap.problem.keys):
        x = last[k].to_numpy()
        mean = float(np.sum(w * x) / np.sum(w))
        sd = float(math.sqrt(max(np.sum(w * (x - mean) ** 2) / np.sum(w), 0.0)))
        out[k] = {"mean": mean, "sd": sd, "q025": weighted_quantile(x, w, 0.025),
                  "q05": weighted_quantile(x, w, 0.05), "q95": weighted_quantile(x, w, 0.95),
                  "q975": weighted_quantile(x, w, 0.975), "prior_mean": float((ap.problem.lo[i] + ap.problem.hi[i]) / 2),
                  "prior_sd": float((ap.problem.hi[i] - ap.problem.lo[i]) / math.sqrt(12))}
    return out


def map_estimate(ap: AbcProblem, last: pd.DataFrame) -> dict[str, float]:
    """The particle at which a weighted Gaussian kernel density of the last generation is highest."""
    from scipy.stats import gaussian_kde

    p = ap.problem
    u = np.array([(last[k].to_numpy() - lo) / (hi - lo) for k, lo, hi in zip(p.keys, p.lo, p.hi)])
    w = last.weight.to_numpy()
    try:
        dens = gaussian_kde(u, weights=w)(u)
        best = int(np.argmax(dens))
    except (np.linalg.LinAlgError, ValueError):  # degenerate (e.g. all particles equal): the heaviest one
        best = int(np.argmax(w))
    return {k: float(last[k].to_numpy()[best]) for k in p.keys}


def _problem_state(out: Path, ap: AbcProblem) -> None:
    """Refuse to resume a database made for another problem; start afresh where none finished."""
    db, state = out / DB_NAME, out / STATE_NAME
    fp = ap.fingerprint()
    if state.exists():
        try:
            old = json.loads(state.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            old = None
        if db.exists() and old != fp:
            raise ScenarioError("--out", str(out), f"a folder without another ABC run: its {DB_NAME} was made for a "
                                                   f"different problem (targets file changed); use another --out or "
                                                   f"remove {DB_NAME}")
    elif db.exists():
        raise ScenarioError("--out", str(out), f"a folder without another ABC run: it holds {DB_NAME} but no "
                                               f"{STATE_NAME}; use another --out or remove {DB_NAME}")


def check_out(out: Path, ap: AbcProblem) -> None:
    """Before anything is run or written: the output folder can take this run (or resume it)."""
    _problem_state(out, ap)


def _history_generations(db: Path) -> int:
    """Finished generations in ``db`` (0 if none, or no database)."""
    if not db.exists():
        return 0
    import pyabc

    try:
        max_t = pyabc.History(f"sqlite:///{db.resolve()}", _id=1, create=False).max_t
    except Exception:  # noqa: BLE001 - a database with no run in it (killed while being created)
        return 0
    return max(0, int(max_t) + 1) if max_t is not None else 0


def run(ap: AbcProblem, out: Path, execute: Callable, log: Callable[[str], None] | None = None) -> tuple[Posterior, Batches]:
    """Run (or resume) the ABC-SMC into ``out``; return the posterior."""
    import pyabc

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    p, spec = ap.problem, ap.abc
    out.mkdir(parents=True, exist_ok=True)
    db = out / DB_NAME
    done = _history_generations(db)
    if done == 0 and db.exists():
        db.unlink()  # killed before its first generation: nothing to keep
    (out / STATE_NAME).write_text(json.dumps({"fingerprint": ap.fingerprint(), "targets_file": str(p.path)}) + "\n",
                                  encoding="utf-8")
    batches = Batches(p, execute)
    model = _model_class()(ap, batches)
    sampler = _sampler_class()(model, spec, log, spec.generations)
    prior = pyabc.Distribution(**{k: pyabc.RV("uniform", float(lo), float(hi - lo))
                                  for k, lo, hi in zip(p.keys, p.lo, p.hi)})
    fitted = ap.fitted_targets

    def dist(x: dict, x0: dict) -> float:
        return distance(fitted, x)

    level = logging.getLogger("ABC").level
    logging.getLogger("ABC").setLevel(logging.WARNING)
    try:
        smc = pyabc.ABCSMC(model, prior, dist, population_size=spec.population, sampler=sampler,
                           eps=pyabc.MedianEpsilon())
        url = f"sqlite:///{db.resolve()}"
        if done:
            smc.load(url, 1)
            if log:
                log(f"resuming from {db}: {done} generation(s) done")
        else:
            smc.new(url, {t.name: t.value for t in p.targets})
        stop = "generations reached"
        left = spec.generations - done
        if left > 0:
            history = smc.run(minimum_epsilon=spec.min_epsilon, max_nr_populations=left,
                              max_total_nr_simulations=spec.max_evaluations or np.inf)
        else:
            history = smc.history
        sampler.flush()
    finally:
        logging.getLogger("ABC").setLevel(level)
    n_gen = int(history.max_t) + 1
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    eps = dict(zip(pops.t, pops.epsilon))
    if n_gen < spec.generations:
        if eps and eps[n_gen - 1] <= spec.min_epsilon:
            stop = f"epsilon at or below min_epsilon ({spec.min_epsilon:g})"
        else:
            stop = "evaluation budget reached" if spec.max_evaluations else "sampling stopped"
    rows, gens = [], []
    for t in range(n_gen):
        pop = history.get_population(t=t)
        parts = pop.particles
        wsum = sum(pt.weight for pt in parts)
        for j, pt in enumerate(parts):
            rows.append({"generation": t, "particle": j, **{k: float(pt.parameter[k]) for k in p.keys},
                         "weight": float(pt.weight / wsum), "distance": float(pt.distance),
                         **{f"moment.{name}": float(v) for name, v in pt.sum_stat.items()}})
        n_sim = int(pops.loc[pops.t == t, "samples"].iloc[0])
        gens.append({"generation": t, "epsilon": float(eps[t]), "evaluations": n_sim, "particles": len(parts),
                     "acceptance_rate": len(parts) / n_sim if n_sim else None})
    particles = pd.DataFrame(rows)
    post = Posterior(ap, particles, gens, int(history.total_nr_simulations), batches.runs, started,
                     time.monotonic() - t0, done, stop)
    last = post.last
    post.estimate = ({k: v["mean"] for k, v in summarise(ap, last).items()} if spec.estimate == "mean"
                     else map_estimate(ap, last))
    post.estimate = {k: cal._round(v) for k, v in post.estimate.items()}
    return post, batches


# ---------------------------------------------------------------------------------------------
# validation and outputs
# ---------------------------------------------------------------------------------------------
@dataclass
class Validation:
    seeds: list[int]
    fitted: dict[str, list[float]]  # the estimate (calibrated.toml) on the validation seeds
    base: dict[str, list[float]]  # the base scenario on the same seeds
    predictive: dict[str, list[float]] = field(default_factory=dict)  # one value per posterior draw
    draws: list[dict[str, float]] = field(default_factory=list)  # the parameter sets drawn
    predictive_seeds: list[int] = field(default_factory=list)


def predictive_seeds(ap: AbcProblem) -> list[int]:
    """Fresh seeds of the posterior predictive runs: after the fit's and the validation's replicates."""
    p = ap.problem
    r0 = len(p.seeds) + len(p.validation_seeds)
    return [replicate_seed(p.spec.seed, r0 + i) for i in range(ap.abc.predictive_draws)]


def posterior_draws(ap: AbcProblem, last: pd.DataFrame) -> list[dict[str, float]]:
    """``predictive_draws`` parameter sets drawn with replacement from the final generation by weight
    (from the ``abc-predictive`` stream of ``[abc] seed``: the same draws every time)."""
    rng = np.random.Generator(np.random.PCG64(seed_sequence(ap.abc.seed, "abc-predictive")))
    w = last.weight.to_numpy(float)
    rows = rng.choice(len(last), size=ap.abc.predictive_draws, replace=True, p=w / w.sum())
    return [{k: float(f"{last[k].to_numpy()[i]:.10g}") for k in ap.problem.keys} for i in rows]


def validate(ap: AbcProblem, estimate: dict[str, float], batches: Batches, last: pd.DataFrame | None = None) -> Validation:
    """The estimate and the base scenario, each run with the fresh validation seeds; and the posterior
    predictive check: each posterior draw run once with its own fresh seed."""
    seeds = ap.problem.validation_seeds
    empty = {t.name: [] for t in ap.problem.targets}
    fit, base = batches.moments([dict(estimate), {}], seeds=seeds) if seeds else (empty, dict(empty))
    val = Validation(seeds, fit, base)
    if last is not None and ap.abc.predictive_draws:
        val.draws = posterior_draws(ap, last)
        val.predictive_seeds = predictive_seeds(ap)
        per = _predictive(batches, val.draws, val.predictive_seeds)
        val.predictive = {t.name: [r[t.name][0] for r in per] for t in ap.problem.targets}
    return val


def _predictive(batches: Batches, draws: list[dict[str, float]], seeds: list[int]) -> list[dict[str, list[float]]]:
    """Each draw with its own seed, all in one batch through the executor."""
    from .sweep import Job

    p = batches.problem
    jobs = []
    for i, (over, sd) in enumerate(zip(draws, seeds)):
        batches._n += 1
        jobs.append(Job(f"abc-{batches._n}", p.base.name, i, 0, sd, with_overrides(p.base, over, source=str(p.path))))
    out = [res["summary"] for res in gather(batches.execute, jobs, _failed)]
    batches.runs += len(jobs)
    return [cal.replicate_moments(p.targets, [x]) for x in out]


def predictive_summary(values: list[float]) -> dict:
    """Mean and the central 95% interval (2.5% and 97.5% quantiles) of a moment over posterior draws."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], float)
    if not len(v):
        return {"mean": None, "interval95": [None, None], "defined": 0}
    return {"mean": float(v.mean()), "interval95": [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))],
            "defined": int(len(v))}


def calibrated_toml(post: Posterior, out: Path) -> str:
    ap, p = post.ap, post.ap.problem
    sc = p.base
    last = post.generations[-1]
    header = [
        f"# Written by `credsim calibrate {p.path.as_posix()} --method abc` on {post.started}.",
        f"# The {ap.abc.estimate_text} of the ABC-SMC posterior: {len(post.generations)} generation(s) of "
        f"{ap.abc.population} particles, final epsilon {last['epsilon']:.4g},",
        f"# {sc.population.borrowers:,} people x {sc.simulation.days} days, {len(p.seeds)} replicates per particle. "
        "See fit.json, posterior.parquet and validation.md beside this file.",
    ]
    return cal.scenario_text(header, p, out, f"ABC posterior {ap.abc.estimate}, {p.path.name}",
                             {k: float(v) for k, v in post.estimate.items()})


def _pyabc_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyabc")
    except PackageNotFoundError:  # pragma: no cover
        return "not installed"


def fit_document(post: Posterior, val: Validation) -> dict:
    ap, p = post.ap, post.ap.problem
    summ = summarise(ap, post.last)
    def vsum(values: dict[str, list[float]]) -> dict:
        res = {}
        for name, vs in values.items():
            _n, m, lo, hi = mean_ci([float(v) for v in vs], rate=name in cal.RATE_MOMENTS) if vs else (0,) + (math.nan,) * 3
            res[name] = {"mean": cal._json_num(m), "ci95": [cal._json_num(lo), cal._json_num(hi)],
                         "values": [cal._json_num(v) for v in vs]}
        return res

    return {
        "method": "abc-smc",
        "estimate": ap.abc.estimate_text,
        "name": p.name,
        "targets_file": str(p.path),
        "targets_sha256": hashlib.sha256(p.path.read_bytes()).hexdigest(),
        "spec": p.spec.model_dump(mode="json"),
        "settings": {
            **ap.abc.model_dump(mode="json"),
            "library": f"pyabc {_pyabc_version()} (ABCSMC)",
            "prior": "independent uniform over each parameter's [min, max]",
            "distance": "sqrt(sum over fitted targets of ((model - value) / sd)^2), one-sided targets only beyond "
                        "their bound: the square root of the MSM objective",
            "epsilon": "pyabc MedianEpsilon (weighted median of the previous generation's distances)",
            "transition": "pyabc MultivariateNormalTransition",
            "sampler": "sim.abc ExecutorSampler (batches through sim.execute)",
            "replicates": len(p.seeds),
            "history_db": DB_NAME,
        },
        "base_scenario": {"name": p.base.name, "file": str(p.base_path),
                          "borrowers": p.base.population.borrowers, "days": p.base.simulation.days},
        "parameters": {k: {"base": p.base_values[k], "min": float(p.lo[i]), "max": float(p.hi[i]),
                           "prior": "uniform", **summ[k], "calibrated": post.estimate[k]}
                       for i, k in enumerate(p.keys)},
        "generations": post.generations,
        "stop": post.stop,
        "evaluations": post.evaluations,
        "runs_this_session": post.runs,
        "resumed_from_generation": post.resumed_from,
        "targets": [{**t.model_dump(mode="json"), "definition": cal.moment_definition(t.name)} for t in p.targets],
        "seeds": p.seeds,
        "validation": {"seeds": val.seeds, "calibrated": vsum(val.fitted), "base": vsum(val.base),
                       "predictive": {"draws": val.draws, "seeds": val.predictive_seeds,
                                      "moments": {name: {**predictive_summary(vs), "values": [cal._json_num(v) for v in vs]}
                                                  for name, vs in val.predictive.items()}}},
        "figures": FIGURES,
        "started": post.started,
        "seconds": round(post.seconds, 2),
        "versions": {**cal._versions(), "pyabc": _pyabc_version()},
        "command": " ".join(sys.argv),
    }


def _predictive_text(values: list[float], pct: bool) -> str:
    d = predictive_summary(values)
    if d["mean"] is None:
        return "n/a"
    lo, hi = d["interval95"]
    return f"{cal._fmt(d['mean'], pct)} [{cal._fmt(lo, pct)}, {cal._fmt(hi, pct)}]"


def validation_table(post: Posterior, val: Validation) -> str:
    """Markdown: the posterior per parameter, then the fitted and the held-back targets in two tables, each
    target with its source, the posterior predictive mean and 95% interval, and the model at the estimate and
    at the base on fresh seeds."""
    ap, p = post.ap, post.ap.problem
    sc = p.base
    summ = summarise(ap, post.last)
    n = len(val.seeds)
    g = post.generations[-1]
    out = [
        f"Calibration `{p.name}` (`{p.path.as_posix()}`) by ABC-SMC (pyabc), generated by `credsim calibrate "
        f"--method abc` on {post.started[:10]}: {len(p.keys)} parameter(s) of `{sc.name}`, {len(post.generations)} "
        f"generation(s) of {ap.abc.population} particles ({post.stop}), {post.evaluations} particles simulated with "
        f"{len(p.seeds)} replicate(s) each at {sc.population.borrowers:,} people × {sc.simulation.days} days (common "
        f"random numbers); final epsilon {g['epsilon']:.4g} (distance in standard deviations). The calibrated "
        f"scenario holds the {ap.abc.estimate_text}.",
        "",
        "| Parameter | Base value | Prior (uniform) | Posterior mean | Posterior sd | 95% credible interval | Calibrated |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, k in enumerate(p.keys):
        s_ = summ[k]
        out.append(f"| `{k}` | {p.base_values[k]:.6g} | [{p.lo[i]:g}, {p.hi[i]:g}] | {s_['mean']:.4g} | {s_['sd']:.3g} | "
                   f"[{s_['q025']:.4g}, {s_['q975']:.4g}] | {post.estimate[k]:.6g} |")
    m = len(val.draws)
    out += [
        "",
        f"Posterior predictive: {m} parameter sets drawn from the final generation by weight, each run once with "
        f"its own fresh seed; mean and central 95% interval (2.5% and 97.5% quantiles) of the draws. Calibrated and "
        f"base: mean and 95% confidence interval of the mean over {n} fresh replicate(s) (seeds "
        f"`replicate_seed({p.spec.seed}, r)`, r = {len(p.seeds)}..{len(p.seeds) + n - 1}), paired. No seed of "
        "either was used by the fit.",
    ]
    header = ["| Target | Target value | Source | Posterior predictive [95%] | Calibrated | Base scenario | Model quantity |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for title, held in (("Fitted targets (in the distance):", False),
                        ("Held-back targets (not in the distance: predicted by the fit on the others):", True)):
        rows = [t for t in p.targets if t.holdout == held]
        if not rows:
            continue
        out += ["", title, "", *header]
        for t in rows:
            pct = cal.is_percent(t.name)
            base = cal._ci_text(val.base[t.name], pct) if n else "n/a"
            fit = cal._ci_text(val.fitted[t.name], pct) if n else "n/a"
            pred = _predictive_text(val.predictive.get(t.name, []), pct)
            out.append(f"| {cal._cell(t.title)} | {cal._cell(cal._target_text(t))} | {cal._cell(t.source)} | {pred} | "
                       f"{fit} | {base} | `{t.name}` |")
    out += ["", "Diagnostics (beside fit.json): " + "; ".join(f"`{f}` ({d})" for f, d in FIGURES.items()) + "."]
    return "\n".join(out)


def write_outputs(post: Posterior, val: Validation, out: Path) -> list[Path]:
    """posterior.parquet, calibrated.toml, fit.json, validation.md (each written to a temporary name first)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "posterior.parquet", out / "calibrated.toml", out / "fit.json", out / "validation.md"]

    def put(path: Path, write: Callable[[Path], None]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        tmp.replace(path)

    put(paths[0], lambda f: post.particles.to_parquet(f, index=False))
    put(paths[1], lambda f: f.write_text(calibrated_toml(post, out), encoding="utf-8"))
    load_scenario(paths[1])  # must be a valid scenario
    put(paths[2], lambda f: f.write_text(json.dumps(fit_document(post, val), indent=2, allow_nan=False) + "\n",
                                          encoding="utf-8"))
    put(paths[3], lambda f: f.write_text(validation_table(post, val) + "\n", encoding="utf-8"))
    return paths + diagnostics(post, val, out)


# ---------------------------------------------------------------------------------------------
# diagnostics
# ---------------------------------------------------------------------------------------------
#: the figures an ABC run writes beside fit.json, and what each shows
FIGURES = {
    "abc_posterior_vs_prior.png": "per parameter: the weighted posterior of each generation against the uniform prior",
    "abc_pairs.png": "pair plots of the final generation (identifiability: ridges show parameters that trade off)",
    "abc_predictive.png": "posterior predictive check per target: the draws' moments against the target",
    "abc_generations.png": "epsilon and acceptance rate per generation",
}


def diagnostics(post: Posterior, val: Validation, out: Path) -> list[Path]:
    """Write :data:`FIGURES` into ``out`` (matplotlib, Agg) from the posterior and the validation runs."""
    from .plots import _plt

    plt = _plt()
    p = post.ap.problem
    parts, keys = post.particles, p.keys
    gens = sorted(parts.generation.unique())
    last = post.last
    paths = []

    def save(fig, name: str) -> None:
        path = out / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    # posterior vs prior
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
    for ax, k, lo, hi in zip(axes[0], keys, p.lo, p.hi):
        bins = np.linspace(lo, hi, 25)
        for t in gens:
            g = parts[parts.generation == t]
            final = t == gens[-1]
            ax.hist(g[k], bins=bins, weights=g.weight, density=True, histtype="stepfilled" if final else "step",
                    alpha=0.5 if final else 0.8, lw=1.0, color="C0" if final else plt.cm.Greys(0.3 + 0.5 * t / max(gens[-1], 1)),
                    label=f"generation {t + 1}" if final else None)
        ax.hlines(1.0 / (hi - lo), lo, hi, colors="C3", linestyles="--", label="prior")
        ax.axvline(post.estimate[k], color="k", lw=1, label="calibrated")
        ax.set_xlabel(k)
        ax.set_ylabel("density")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Posterior (final generation filled, earlier ones grey) vs the uniform prior")
    fig.tight_layout()
    save(fig, "abc_posterior_vs_prior.png")

    # pair plots
    n = len(keys)
    fig, axes = plt.subplots(n, n, figsize=(2.6 * n, 2.6 * n), squeeze=False)
    w = last.weight.to_numpy()
    for i, ki in enumerate(keys):
        for j, kj in enumerate(keys):
            ax = axes[i][j]
            if i == j:
                ax.hist(last[ki], bins=15, weights=w, color="C0", alpha=0.7, range=(p.lo[i], p.hi[i]))
            elif i > j:
                ax.scatter(last[kj], last[ki], s=10 + 400 * w, alpha=0.6, color="C0")
                ax.set_xlim(p.lo[j], p.hi[j])
                ax.set_ylim(p.lo[i], p.hi[i])
            else:
                r = np.corrcoef(last[kj], last[ki])[0, 1] if last[ki].std() > 0 and last[kj].std() > 0 else float("nan")
                ax.text(0.5, 0.5, f"r = {r:.2f}", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            if i == n - 1:
                ax.set_xlabel(kj, fontsize=7)
            if j == 0:
                ax.set_ylabel(ki, fontsize=7)
    fig.suptitle("Final generation: pairs (marker size = weight); above the diagonal, the unweighted correlation r")
    fig.tight_layout()
    save(fig, "abc_pairs.png")

    # posterior predictive checks
    tg = p.targets
    cols = min(4, len(tg))
    rows = math.ceil(len(tg) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.7 * rows), squeeze=False)
    for ax, t in zip(axes.flat, tg):
        v = np.array([x for x in val.predictive.get(t.name, []) if x is not None and math.isfinite(x)], float)
        if len(v):
            ax.hist(v, bins=15, color="C2" if t.holdout else "C0", alpha=0.7)
        ax.axvline(t.value, color="C3", lw=1.5)
        if t.relation == "=" and t.sd:
            ax.axvspan(t.value - 2 * t.sd, t.value + 2 * t.sd, color="C3", alpha=0.12)
        elif t.sd:
            side = -1 if t.relation == "<=" else 1
            ax.axvspan(t.value, t.value + side * 3 * t.sd, color="C3", alpha=0.08)
        ax.set_title(f"{t.name}{' (held back)' if t.holdout else ''}", fontsize=8)
    for ax in list(axes.flat)[len(tg):]:
        ax.axis("off")
    fig.suptitle("Posterior predictive: moments of the posterior draws (fresh seeds); red: the target "
                 "(band ±2 sd, or the allowed side)", fontsize=9)
    fig.tight_layout()
    save(fig, "abc_predictive.png")

    # epsilon and acceptance per generation
    fig, ax = plt.subplots(figsize=(5, 3))
    t = [g["generation"] + 1 for g in post.generations]
    ax.plot(t, [g["epsilon"] for g in post.generations], "o-", color="C0", label="epsilon")
    ax.set_xlabel("generation")
    ax.set_ylabel("epsilon (distance, sd)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(t, [100 * (g["acceptance_rate"] or 0) for g in post.generations], "s--", color="C1")
    ax2.set_ylabel("acceptance rate (%)", color="C1")
    ax2.set_ylim(0, 100)
    ax.set_xticks(t)
    fig.suptitle("ABC-SMC: threshold and acceptance per generation")
    fig.tight_layout()
    save(fig, "abc_generations.png")
    return paths


# ---------------------------------------------------------------------------------------------
# a fit from its saved output
# ---------------------------------------------------------------------------------------------
def is_abc_fit(doc: dict) -> bool:
    return isinstance(doc, dict) and doc.get("method") == "abc-smc"


def load_fit(path: str | Path) -> tuple[Posterior, Validation]:
    """An ABC fit back from its saved output: ``fit.json`` and ``posterior.parquet`` beside it.

    The targets file it names must be the one the fit was made from (its SHA-256); otherwise
    :class:`ScenarioError`. ``validation_table(*load_fit(p))`` is the table the run wrote.
    """
    path = Path(path)
    doc = cal.read_fit_json(path)
    if not is_abc_fit(doc):
        raise ScenarioError(path, "method", "a fit.json of credsim calibrate --method abc")
    targets = Path(doc["targets_file"])
    if not targets.is_file():
        raise ScenarioError(path, "targets_file", f"the targets file the fit was made from, '{targets}' not found")
    if hashlib.sha256(targets.read_bytes()).hexdigest() != doc.get("targets_sha256"):
        raise ScenarioError(path, "targets_sha256", f"a fit of {targets} as it is now; the file has changed since "
                                                    f"the fit: run `credsim calibrate {targets} --method abc` again")
    post_file = path.parent / "posterior.parquet"
    if not post_file.is_file():
        raise ScenarioError(path, "posterior.parquet", f"the posterior beside the fit, {post_file} not found")
    ap = load(targets)
    p = ap.problem
    p.base_values = {k: v["base"] for k, v in doc["parameters"].items()}
    particles = pd.read_parquet(post_file)
    post = Posterior(ap, particles, doc["generations"], doc["evaluations"], doc["runs_this_session"], doc["started"],
                     doc["seconds"], doc["resumed_from_generation"], doc["stop"],
                     {k: v["calibrated"] for k, v in doc["parameters"].items()})
    v = doc["validation"]
    pr = v.get("predictive", {})
    val = Validation(v["seeds"], {k: [cal._num(x) for x in d["values"]] for k, d in v["calibrated"].items()},
                     {k: [cal._num(x) for x in d["values"]] for k, d in v["base"].items()},
                     {k: [cal._num(x) for x in d["values"]] for k, d in pr.get("moments", {}).items()},
                     pr.get("draws", []), pr.get("seeds", []))
    return post, val


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def command(targets: Path, out: Path | None, workers: int | None, scheduler: str | None) -> Path:
    """``credsim calibrate TARGETS --method abc``: bad input is one line and exit 2, before anything is written."""
    import typer

    from .cli_common import _check_out, bad_input
    from .execute import ExecutorError, default_workers, execute_summary, open_executor

    try:
        ap = load(targets)
        p = ap.problem
        out_dir = out if out is not None else Path("results") / "calibration" / f"{p.name}_abc"
        _check_out(out_dir)
        check_out(out_dir, ap)
    except ScenarioError as e:
        bad_input(e)
    try:
        import pyabc  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the extra
        bad_input(ScenarioError("--method", "abc", "pyabc installed: pip install 'credsim[calibration]'"))

    def log(line: str) -> None:
        typer.echo(line, err=True)

    n = max(1, workers or default_workers())
    kind = "dask" if scheduler else ("local" if n > 1 else "serial")
    sc, spec = p.base, ap.abc
    try:
        with open_executor(kind, n, scheduler, fn=execute_summary) as execute:
            log(f"calibrate '{p.name}' by ABC-SMC: {len(p.keys)} parameter(s), {len(ap.fitted_targets)} fitted and "
                f"{len(p.targets) - len(ap.fitted_targets)} held-out target(s) on '{sc.name}'; {spec.population} "
                f"particles x {spec.generations} generation(s), {len(p.seeds)} replicate(s) of "
                f"{sc.population.borrowers:,} people x {sc.simulation.days} days per particle; "
                f"{'dask ' + scheduler if scheduler else f'{n} worker(s)'} -> {out_dir}")
            post, batches = run(ap, out_dir, execute, log)
            log(f"{post.stop}: {len(post.generations)} generation(s), {post.evaluations} particles simulated "
                f"({post.seconds:.0f} s)")
            for k, s in summarise(ap, post.last).items():
                log(f"  {k}: posterior mean {s['mean']:.4g}, sd {s['sd']:.3g}, 95% [{s['q025']:.4g}, {s['q975']:.4g}]")
            t1 = time.monotonic()
            if p.validation_seeds or spec.predictive_draws:
                log(f"validation: the {spec.estimate_text} and the base scenario, {len(p.validation_seeds)} fresh "
                    f"replicate(s) each; posterior predictive check, {spec.predictive_draws} draw(s)")
            val = validate(ap, post.estimate, batches, post.last)
            if p.validation_seeds or spec.predictive_draws:
                log(f"validation done ({time.monotonic() - t1:.0f} s)")
    except ExecutorError as e:
        bad_input(ScenarioError("--scheduler", scheduler or "", str(e)))
    except RunFailed as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    try:
        paths = write_outputs(post, val, out_dir)
    except OSError as e:
        bad_input(ScenarioError("--out", str(out_dir), f"a directory that can be written ({e.strerror or e})"))
    typer.echo(validation_table(post, val))
    typer.echo("")
    typer.echo(f"wrote {', '.join(str(x) for x in paths)}")
    return out_dir
