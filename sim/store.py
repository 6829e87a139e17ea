"""The results format of a sweep: one folder, one Parquet file per finished run, written atomically.

::

    DIR/manifest.json              the spec and its hash, versions, git commit, seeds, counts, times
    DIR/runs.parquet               every planned run: run_id, scenario, point, replicate, seed, design values
                                   (with a posterior: also draw, after point, and the draw's values)
    DIR/summaries/RUN_ID.parquet   one row: run_id, scenario, point, replicate, seed, every summary key
    DIR/daily/RUN_ID.parquet       the daily series (sim.metrics.DAILY), one row per day
    DIR/vintages/RUN_ID.parquet    cohort default curves (sim.metrics.vintages)
    DIR/loans/RUN_ID.parquet       one row per loan (sim.metrics.loan_table)
    DIR/roll/RUN_ID.parquet        the roll-rate matrix: from, to, count, share (sim.metrics.roll_matrix)
    DIR/failures/RUN_ID.json       a run that raised: its parameters, seed, error and traceback

A run is finished when its summary file exists; the summary is written last, and every file is
written to a temporary name (``.tmp-PID-NAME.partial``: hidden, and never matching ``*.parquet`` or
``*.json``) and renamed into place, so a killed sweep leaves no partial file and a rerun redoes exactly
the unfinished runs. A run is in one state at a time: finished (its summary exists), failed (its
failure record exists) or not run. The Parquet files are encoded where the run ran
(:func:`encode_run`), so the process writing them only writes bytes. Query with DuckDB, e.g.
``SELECT scenario, avg(default_rate) FROM 'DIR/summaries/*.parquet' GROUP BY scenario``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

ID_COLUMNS = ["run_id", "scenario", "point", "replicate", "seed"]
PACKAGES = ["mesa", "numpy", "pandas", "pyarrow", "pydantic", "scipy", "SALib", "duckdb", "dask", "distributed"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


TMP_PREFIX = ".tmp-"


# Paths of per-run files are plain strings (os.path), not pathlib.Path: pathlib interns every part of
# every path it parses, and on Python 3.12 interned strings are never freed, so a long sweep's memory
# would grow with every run id it writes.


def _tmp(path: str) -> str:
    # hidden and with its own suffix: no glob of results (``*.parquet``, ``*.json``) ever matches it
    head, name = os.path.split(path)
    return os.path.join(head, f"{TMP_PREFIX}{os.getpid()}-{name}.partial")


def _names(folder: str | Path, ext: str) -> set[str]:
    """The stems of the visible ``*.ext`` files in ``folder`` (none if it does not exist)."""
    try:
        with os.scandir(folder) as it:
            return {e.name[: -len(ext)] for e in it if e.name.endswith(ext) and not e.name.startswith(".")}
    except FileNotFoundError:
        return set()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = os.fspath(path)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def arrow_table(df: pd.DataFrame, ids: dict[str, Any] | None = None):
    """``df``'s columns (not its index) as an Arrow table, after one constant column per item of ``ids``.

    What ``DataFrame.to_parquet(index=False)`` writes, without the pandas metadata: building that
    metadata and converting through it is most of the cost of a small run's file (25 ms a run of five
    files, 10 ms this way), and the columns read back the same, dtypes included
    (``tests/test_results.py``).
    """
    import pyarrow as pa

    n = len(df)
    cols = {k: pa.array([v] * n, type=pa.array([v]).type) for k, v in (ids or {}).items()}  # typed, even with no rows
    cols.update((str(c), pa.Array.from_pandas(df[c])) for c in df.columns)
    return pa.table(cols)


def parquet_bytes(table) -> bytes:
    """A DataFrame (see :func:`arrow_table`) or an Arrow table as the bytes of a zstd Parquet file."""
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(arrow_table(table) if isinstance(table, pd.DataFrame) else table, buf, compression="zstd")
    return buf.getvalue()


def atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, parquet_bytes(df))


class NonFiniteWarning(UserWarning):
    """A number that is infinite or NaN where JSON has none: it is written as ``null``."""


def finite_json(doc: Any, where: str = "") -> Any:
    """``doc`` with every non-finite float (NaN, infinity) replaced by ``None``, with a
    :class:`NonFiniteWarning` naming each infinity (NaN is the project's "undefined" and is warned
    about where it arises, :class:`sim.metrics.UndefinedMetricWarning`)."""
    if isinstance(doc, dict):
        return {k: finite_json(v, f"{where}.{k}" if where else str(k)) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [finite_json(v, f"{where}[{i}]") for i, v in enumerate(doc)]
    if isinstance(doc, float) and not math.isfinite(doc):
        if not math.isnan(doc):
            warnings.warn(f"{where or 'value'} is {doc} (not a finite number): written as null", NonFiniteWarning,
                          stacklevel=2)
        return None
    return doc


def atomic_json(doc: Any, path: str | Path) -> None:
    """Write ``doc`` as strict JSON (non-finite numbers as ``null``, see :func:`finite_json`)."""
    text = json.dumps(finite_json(doc), indent=2, default=str, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ["credsim", *PACKAGES]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def parameters_hash(params) -> str:
    """A hash of a scenario's every parameter value (what a run computes from, with its seed)."""
    import hashlib

    doc = json.dumps(params.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def provenance(params, seed: int) -> dict:
    """Where a result came from: package version, commit, code and parameter hashes, seed."""
    return {"credsim_version": versions().get("credsim"), "git_commit": git_commit(), "code_hash": code_hash(),
            "parameters_hash": parameters_hash(params), "seed": int(seed)}


class DifferentSweep(Exception):
    """The folder holds results of another sweep (or of another version of the model's code)."""


class SweepLocked(DifferentSweep):
    """Another sweep is running into the same folder."""


LOCK_NAME = ".lock"


def code_hash() -> str:
    """A hash of the model's code: every ``.py`` file of the ``sim`` package, by relative path and bytes.

    A resumed sweep must run the code its finished runs ran; a changed file changes this hash.
    """
    import hashlib

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(here.rglob("*.py")):
        h.update(f.relative_to(here).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _readable(path: str, rows: int | None) -> bool:
    """Whether ``path`` is a whole Parquet file (with exactly ``rows`` rows, if given; a short run's
    vintages, loans or roll tables may rightly have none)."""
    import pyarrow.parquet as pq

    try:
        n = pq.read_metadata(path).num_rows
    except Exception:  # noqa: BLE001 - missing, truncated or not Parquet at all: not a finished file
        return False
    return rows is None or n == rows


RUN_FILES = ("daily", "vintages", "loans", "roll", "summaries")  # in the order written: the summary last
TABLES = RUN_FILES[:-1]  # the per-run tables besides the summary


def run_ids(job) -> dict:
    """The id columns of a run's rows: ``ID_COLUMNS``, with ``draw`` after ``point`` in a sweep with a
    posterior (``job.draw`` set; see sim/sweep.py)."""
    ids = {"run_id": job.run_id, "scenario": job.scenario, "point": job.point}
    if getattr(job, "draw", None) is not None:
        ids["draw"] = job.draw
    ids.update({"replicate": job.replicate, "seed": job.seed})
    return ids


def encode_run(job, out: dict) -> dict[str, bytes]:
    """The Parquet files of a finished run (``out`` holds its summary and the tables of ``TABLES``), as bytes.

    Pure: the same bytes wherever it runs, so a worker can encode and the writing process only writes.
    """
    import pyarrow as pa

    ids = run_ids(job)
    files = {kind: parquet_bytes(arrow_table(out[kind], ids)) for kind in TABLES}
    row = {**ids, **{k: job.design_values.get(k) for k in job.design_values},
           **dict(getattr(job, "draw_values", None) or {}), **out["summary"]}
    files["summaries"] = parquet_bytes(pa.table({k: pa.array([v]) for k, v in row.items()}))
    return files


def extension(manifest: dict, plan) -> dict | None:
    """What ``plan`` adds to the sweep recorded in ``manifest`` when it only adds replicates or
    scenarios: every recorded run keeps its id, seed and parameters (run ids and seeds depend on the
    scenario's label, the design point and the replicate number only). None if it changes anything else."""
    old, new = dict(manifest.get("spec") or {}), plan.spec.model_dump(mode="json")
    for doc in (old, new):  # the posterior's place does not matter, what was drawn from it does (below)
        if isinstance(doc.get("posterior"), dict):
            doc["posterior"] = {k: v for k, v in doc["posterior"].items() if k != "file"}
    differs = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
    if not differs <= {"replicates", "scenarios", "description"} or new.get("replicates", 1) < old.get("replicates", 1):
        return None
    old_trees = manifest.get("scenarios") or {}
    new_trees = json.loads(json.dumps(plan.scenario_trees, default=str))
    if any(new_trees.get(label) != tree for label, tree in old_trees.items()):
        return None  # a recorded scenario removed or changed
    old_draws = (manifest.get("posterior") or {}).get("draws")
    new_draws = json.loads(json.dumps((plan.posterior or {}).get("draws"), default=str))
    if old_draws != new_draws:
        return None  # other parameter sets drawn (another posterior file)
    return {"replicates": [old.get("replicates", 1), new.get("replicates", 1)],
            "scenarios_added": sorted(set(new_trees) - set(old_trees))}


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.json"

    # ---- layout ----
    def path(self, kind: str, run_id: str) -> Path:
        return Path(self._file(kind, run_id))

    def _file(self, kind: str, run_id: str) -> str:
        ext = "json" if kind == "failures" else "parquet"
        return os.path.join(os.fspath(self.root), kind, f"{run_id}.{ext}")

    def finished(self) -> set[str]:
        return _names(os.path.join(os.fspath(self.root), "summaries"), ".parquet")

    def failed(self) -> set[str]:
        """Runs whose last attempt raised (and that have not finished since)."""
        return _names(os.path.join(os.fspath(self.root), "failures"), ".json") - self.finished()

    def manifest(self) -> dict | None:
        if not self.manifest_path.is_file():
            return None
        return json.loads(self.manifest_path.read_text())

    def damaged(self, plan) -> list[str]:
        """Finished runs of ``plan`` whose files are not whole: a summary that is not one row, a daily
        series that is not every day, a table that is missing, empty (0 bytes), truncated or unreadable.
        Reading only each file's footer, so it is quick."""
        # daily rows: day 0, the burn-in and the window
        days = {j.run_id: j.params.simulation.burn_in + j.params.simulation.days + 1 for j in plan.jobs}
        bad = []
        for run_id in sorted(self.finished()):
            if run_id not in days:
                continue
            rows = {"summaries": 1, "daily": days[run_id]}
            if not all(_readable(self._file(kind, run_id), rows.get(kind)) for kind in RUN_FILES):
                bad.append(run_id)
        return bad

    def unfinish(self, run_ids) -> None:
        """Make runs unfinished again (their summary goes first), so a rerun redoes them."""
        for run_id in run_ids:
            for kind in RUN_FILES[::-1]:
                try:
                    os.unlink(self._file(kind, run_id))
                except FileNotFoundError:
                    pass

    @contextmanager
    def lock(self):
        """Hold the folder for one sweep: a second sweep into it is refused (:class:`SweepLocked`).

        An advisory lock on ``DIR/.lock``, released when the sweep ends or its process dies.
        """
        import fcntl

        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / LOCK_NAME
        fd = os.open(os.fspath(lock_path), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SweepLocked(f"{self.root} is in use by another sweep running now; wait for it to end "
                                  "or choose another folder") from None
            yield
        finally:
            if created and [p.name for p in self.root.iterdir()] == [LOCK_NAME]:  # nothing was written
                lock_path.unlink(missing_ok=True)
                self.root.rmdir()
            os.close(fd)

    # ---- a sweep's life ----
    def check(self, plan, allow_code_change: bool = False, extend: bool = False) -> None:
        """Refuse a folder that holds another sweep's results, or results of other model code
        (unless ``allow_code_change``): raises DifferentSweep. With ``extend``, a spec that only adds
        replicates or scenarios to the recorded sweep is accepted (:meth:`extension`); :meth:`begin`
        records the extension in the manifest."""
        try:
            m = self.manifest()
        except (OSError, ValueError):
            raise DifferentSweep(f"{self.root} has an unreadable manifest.json") from None
        self._extension = None
        if m is not None and m.get("spec_hash") != plan.spec_hash:
            added = extension(m, plan)
            if extend and added is not None:
                self._extension = added
            else:
                hint = ("; --extend adds replicates or scenarios only, and this spec changes more" if extend else
                        "; to add replicates or scenarios to it, pass --extend" if added is not None else "")
                raise DifferentSweep(
                    f"{self.root} holds the results of a different sweep ('{m.get('name', '?')}' from "
                    f"{m.get('spec_file', '?')}, spec hash {str(m.get('spec_hash', '?'))[:12]}; this spec "
                    f"{plan.spec_path} has hash {plan.spec_hash[:12]}){hint}"
                )
        if m is None and self.root.exists() and any(p.name != LOCK_NAME for p in self.root.iterdir()):
            raise DifferentSweep(f"{self.root} exists and is not a sweep's results folder")
        recorded = (m or {}).get("code_hash")
        if recorded and recorded != code_hash() and self.finished() and not allow_code_change:
            raise DifferentSweep(
                f"{self.root} holds runs of other model code (code hash {recorded[:12]}, now {code_hash()[:12]}): "
                "resuming would mix two versions of the model; use a new folder, or pass --allow-code-change "
                "to resume anyway (recorded in manifest.json)")

    def begin(self, plan, executor: str) -> dict:
        # The manifest first: a folder killed at any point after this is recognised as this sweep's.
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.manifest() or {}
        session = {"started": now(), "executor": executor, "code_hash": code_hash(), "git_commit": git_commit()}
        if previous.get("code_hash") and previous["code_hash"] != session["code_hash"]:
            session["code_changed"] = True  # resumed across a change of the model's code (--allow-code-change)
        doc = {
            "name": plan.spec.name,
            "description": plan.spec.description,
            "spec_file": str(plan.spec_path),
            "spec": plan.spec.model_dump(mode="json"),
            "spec_hash": plan.spec_hash,
            "scenarios": plan.scenario_trees,
            "design_parameters": plan.design_keys,
            **({"posterior_parameters": plan.posterior_keys, "posterior": plan.posterior}
               if getattr(plan, "posterior", None) is not None else {}),
            "seeds": list(dict.fromkeys(j.seed for j in plan.jobs)),
            "runs_planned": len(plan.jobs),
            "credsim_version": versions().get("credsim"),
            "git_commit": git_commit() or previous.get("git_commit"),
            "code_hash": previous.get("code_hash") or code_hash(),
            "versions": versions(),
            "platform": platform.platform(),
            "command": " ".join(sys.argv),
            "executor": executor,
            "started": previous.get("started", now()),
            "sessions": [*previous.get("sessions", []), session],
            "extensions": [*previous.get("extensions", []),
                           *([{"time": now(), "from_spec_hash": previous.get("spec_hash"), "to_spec_hash": plan.spec_hash,
                               **self._extension}] if getattr(self, "_extension", None) else [])],
            "finished": None,
            "runs_finished": len(self.finished()),
            "runs_failed": len(self.failed()),
        }
        atomic_json(doc, self.manifest_path)
        for d in (self.root, *(self.root / kind for kind in (*RUN_FILES, "failures"))):
            d.mkdir(exist_ok=True)
            for stale in d.glob(f"{TMP_PREFIX}*"):  # left by a killed sweep
                stale.unlink(missing_ok=True)
        if not (self.root / "runs.parquet").is_file() or getattr(self, "_extension", None):
            atomic_parquet(plan.runs_table(), self.root / "runs.parquet")  # an extension plans more runs
        return doc

    def write_run(self, job, out: dict) -> None:
        """Store one finished run: its tables first (``TABLES``), the summary last.

        ``out`` holds the encoded files (``out["files"]``, from :func:`encode_run`) or the tables.
        A failure record of an earlier attempt goes first, so a run is never both failed and finished.
        """
        files = out.get("files") or encode_run(job, out)
        try:
            os.unlink(self._file("failures", job.run_id))
        except FileNotFoundError:
            pass
        for kind in RUN_FILES:
            atomic_write_bytes(self._file(kind, job.run_id), files[kind])

    def write_failure(self, job, out: dict) -> None:
        doc = {**run_ids(job), "design_values": job.design_values, "draw_values": job.draw_values, "error": out["error"],
               "traceback": out.get("traceback", ""), "parameters": job.params.model_dump(mode="json")}
        atomic_json(doc, self._file("failures", job.run_id))

    def end(self, done: int, failed: int) -> dict:
        doc = self.manifest() or {}
        doc.update({"finished": now(), "runs_finished": len(self.finished()), "runs_failed": len(self.failed()),
                    "runs_this_session": done, "failures_this_session": failed})
        atomic_json(doc, self.manifest_path)
        return doc

    # ---- reading ----
    def read(self, kind: str) -> pd.DataFrame:
        """All finished runs' rows of one kind (summaries or one of ``TABLES``), in run order."""
        done = self.finished()
        files = sorted(self.root / kind / f"{name}.parquet" for name in _names(self.root / kind, ".parquet") & done)
        if not files:
            return pd.DataFrame()
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
