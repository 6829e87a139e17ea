"""The results format of a sweep: one folder, one Parquet file per finished run, written atomically.

::

    DIR/manifest.json              the spec and its hash, versions, git commit, seeds, counts, times
    DIR/runs.parquet               every planned run: run_id, scenario, point, replicate, seed, design values
    DIR/summaries/RUN_ID.parquet   one row: run_id, scenario, point, replicate, seed, every summary key
    DIR/daily/RUN_ID.parquet       the daily series (sim.metrics.DAILY), one row per day
    DIR/vintages/RUN_ID.parquet    cohort default curves (sim.metrics.vintages)
    DIR/failures/RUN_ID.json       a run that raised: its parameters, seed, error and traceback

A run is finished when its summary file exists; the summary is written last, and every file is
written to a temporary name and renamed into place, so a killed sweep leaves no partial file and a
rerun redoes exactly the unfinished runs. Query with DuckDB, e.g.
``SELECT scenario, avg(default_rate) FROM 'DIR/summaries/*.parquet' GROUP BY scenario``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

ID_COLUMNS = ["run_id", "scenario", "point", "replicate", "seed"]
PACKAGES = ["mesa", "numpy", "pandas", "pyarrow", "pydantic", "scipy", "SALib", "duckdb", "dask", "distributed"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    df.to_parquet(tmp, compression="zstd", index=False)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_json(doc: Any, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(doc, indent=2, default=str) + "\n").encode())


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


class DifferentSweep(Exception):
    """The folder holds results of another sweep."""


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.json"

    # ---- layout ----
    def path(self, kind: str, run_id: str) -> Path:
        ext = "json" if kind == "failures" else "parquet"
        return self.root / kind / f"{run_id}.{ext}"

    def finished(self) -> set[str]:
        d = self.root / "summaries"
        return {p.stem for p in d.glob("*.parquet")} if d.is_dir() else set()

    def failed(self) -> set[str]:
        d = self.root / "failures"
        return {p.stem for p in d.glob("*.json")} if d.is_dir() else set()

    def manifest(self) -> dict | None:
        if not self.manifest_path.is_file():
            return None
        return json.loads(self.manifest_path.read_text())

    # ---- a sweep's life ----
    def check(self, plan) -> None:
        """Refuse a folder that holds another sweep's results (raises DifferentSweep)."""
        m = self.manifest()
        if m is not None and m.get("spec_hash") != plan.spec_hash:
            raise DifferentSweep(
                f"{self.root} holds the results of a different sweep (spec hash {m.get('spec_hash', '?')[:12]}, "
                f"this spec {plan.spec_hash[:12]})"
            )
        if m is None and self.root.exists() and any(self.root.iterdir()):
            raise DifferentSweep(f"{self.root} exists and is not a sweep's results folder")

    def begin(self, plan, executor: str) -> dict:
        for kind in ("summaries", "daily", "vintages", "failures"):
            (self.root / kind).mkdir(parents=True, exist_ok=True)
            for stale in (self.root / kind).glob(".tmp-*"):
                stale.unlink(missing_ok=True)
        previous = self.manifest() or {}
        if not (self.root / "runs.parquet").is_file():
            atomic_parquet(plan.runs_table(), self.root / "runs.parquet")
        doc = {
            "name": plan.spec.name,
            "description": plan.spec.description,
            "spec_file": str(plan.spec_path),
            "spec": plan.spec.model_dump(mode="json"),
            "spec_hash": plan.spec_hash,
            "scenarios": plan.scenario_trees,
            "design_parameters": plan.design_keys,
            "seeds": sorted({j.seed for j in plan.jobs}, key=[j.seed for j in plan.jobs].index),
            "runs_planned": len(plan.jobs),
            "credsim_version": versions().get("credsim"),
            "git_commit": git_commit(),
            "versions": versions(),
            "platform": platform.platform(),
            "command": " ".join(sys.argv),
            "executor": executor,
            "started": previous.get("started", now()),
            "sessions": [*previous.get("sessions", []), {"started": now(), "executor": executor}],
            "finished": None,
            "runs_finished": len(self.finished()),
            "runs_failed": len(self.failed()),
        }
        atomic_json(doc, self.manifest_path)
        return doc

    def write_run(self, job, out: dict) -> None:
        """Store one finished run: daily series and vintages first, the summary last."""
        ids = {"run_id": job.run_id, "scenario": job.scenario, "point": job.point, "replicate": job.replicate,
               "seed": job.seed}
        for kind in ("daily", "vintages"):
            df = out[kind]
            for col in reversed(ID_COLUMNS):
                df.insert(0, col, ids[col])
            atomic_parquet(df, self.path(kind, job.run_id))
        summary = pd.DataFrame([{**ids, **{k: job.design_values.get(k) for k in job.design_values}, **out["summary"]}])
        atomic_parquet(summary, self.path("summaries", job.run_id))
        self.path("failures", job.run_id).unlink(missing_ok=True)

    def write_failure(self, job, out: dict) -> None:
        doc = {"run_id": job.run_id, "scenario": job.scenario, "point": job.point, "replicate": job.replicate,
               "seed": job.seed, "design_values": job.design_values, "error": out["error"],
               "traceback": out.get("traceback", ""), "parameters": job.params.model_dump(mode="json")}
        atomic_json(doc, self.path("failures", job.run_id))

    def end(self, done: int, failed: int) -> dict:
        doc = self.manifest() or {}
        doc.update({"finished": now(), "runs_finished": len(self.finished()), "runs_failed": len(self.failed()),
                    "runs_this_session": done, "failures_this_session": failed})
        atomic_json(doc, self.manifest_path)
        return doc

    # ---- reading ----
    def read(self, kind: str) -> pd.DataFrame:
        """All runs' rows of one kind (summaries, daily, vintages), in run order."""
        files = sorted((self.root / kind).glob("*.parquet"))
        if not files:
            return pd.DataFrame()
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
