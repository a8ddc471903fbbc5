"""The only module that imports mlflow: experiment per study, parent run per study, child run per cell.

Writes go through MlflowClient with explicit run ids (no fluent global state), so several worker processes
can log at once, and each epoch is one log_batch call.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablate.design import design_record, level_label
from ablate.errors import AblateError
from ablate.study import Cell, Study
from ablate.testpoints import pause_point

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars on stderr for one small file
DEFAULT_URI = "sqlite:///mlflow.db"
ARTIFACT_DIR = "mlartifacts"
_VERSIONED = ("ablate", "torch", "torchvision", "mlflow", "optuna", "pandas", "numpy", "scipy", "pydantic")


def resolve_uri(uri: str | None = None) -> str:
    """The tracking URI, with a relative SQLite path made absolute.

    MLflow caches one database engine per URI string, so a relative `sqlite:///mlflow.db` would keep
    pointing at the first directory a process used; workers started elsewhere would miss the store.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        uri = prefix + str((Path.cwd() / uri[len(prefix):]).resolve())
    return uri


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {}
    for pkg in _VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _json_tag(value: object, limit: int = 7900) -> str:
    """JSON for a tag (MLflow keeps 8000 characters); a longer value says where the whole one is."""
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else json.dumps({"truncated": True, "artifact": "design.json"})


def _now_ms() -> int:
    return int(time.time() * 1000)


@lru_cache(maxsize=1)
def _sqlite_wal() -> None:
    """SQLite stores in WAL mode with synchronous=NORMAL: a commit then costs ~0.05 ms instead of an fsync
    (2-6 ms here; a cell makes ~7 of them), readers never block the writing workers, and a process crash
    still loses nothing (a power cut can lose the last commits, never corrupt the file). WAL needs a local
    disk: set ABLATE_SQLITE_WAL=0 for a store on a network file system."""
    if os.environ.get("ABLATE_SQLITE_WAL", "1") == "0":
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(conn, _record) -> None:
        if not isinstance(conn, sqlite3.Connection):
            return
        cur = conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")  # persistent in the file; a no-op once set
        except sqlite3.OperationalError:  # another process holds it in rollback mode: stay correct, slower
            pass
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def _client(uri: str) -> MlflowClient:
    """The client (which creates and migrates a new store). Two processes creating one SQLite store at the
    same moment both fail in MLflow's migrations; a lock on the store's directory lets one create it while
    the other waits (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is None or not uri.startswith("sqlite:///"):
        return MlflowClient(uri)
    directory = Path(uri[len("sqlite:///"):]).parent
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return MlflowClient(uri)
    finally:
        os.close(fd)  # releases the lock


class Tracker:
    def __init__(self, uri: str | None = None):
        self.uri = resolve_uri(uri)
        if self.uri.startswith("sqlite:"):
            _sqlite_wal()
        self.client = _client(self.uri)
        self._experiments: dict[str, str] = {}  # parent run id -> experiment id (one lookup per worker)

    def experiment_id(self, study: Study, create: bool = True) -> str | None:
        """Creating the store happens here, once, in the parent process (never concurrently in workers)."""
        exp = self.client.get_experiment_by_name(study.name)
        if exp is not None and exp.lifecycle_stage == "deleted":
            raise AblateError(f"the MLflow experiment '{study.name}' was deleted (in {self.uri}); restore it "
                              f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) or remove it "
                              f"for good (`mlflow gc`), or give the study a new `name:`")
        if exp is not None:
            return exp.experiment_id
        if not create:
            return None
        location = None
        if self.uri.startswith("sqlite:") or "://" not in self.uri:
            location = (Path.cwd() / ARTIFACT_DIR).resolve().as_uri()
        try:
            return self.client.create_experiment(study.name, artifact_location=location)
        except MlflowException:  # another machine created it a moment ago
            exp = self.client.get_experiment_by_name(study.name)
            if exp is None:
                raise
            return exp.experiment_id

    def find_parent(self, study: Study) -> str | None:
        exp_id = self.experiment_id(study, create=False)
        if exp_id is None:
            return None
        runs = self.client.search_runs([exp_id], "tags.`ablate.role` = 'parent'", max_results=50)
        # the oldest: every process that started the study at the same moment agrees on the same one
        runs = sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))
        return runs[0].info.run_id if runs else None

    def parent_hash(self, run_id: str) -> str | None:
        return self.client.get_run(run_id).data.tags.get("ablate.study_hash")

    def start_parent(self, study: Study, study_text: str | None = None) -> str:
        """Find the study's parent run again (resume) or create it with provenance and the study file.

        A parent whose setup a kill cut short is completed (`ablate.ready` marks a complete one); of two
        parents created at the same moment by two machines, the younger is deleted and the older used.
        """
        exp_id = self.experiment_id(study)
        found = self.find_parent(study)
        if found and self.client.get_run(found).data.tags.get("ablate.ready") == "1":
            return found
        arms = study.arms()
        tags = {
            "ablate.role": "parent", "ablate.study": study.name, "ablate.study_hash": study.study_hash,
            "ablate.description": study.description[:5000], "ablate.design": study.design.name,
            "ablate.metric": study.metric.name, "ablate.direction": study.metric.resolved_direction,
            "ablate.arms": json.dumps([a.name for a in arms]),
            "ablate.factors": json.dumps([f.name for f in study.factors]),
            "ablate.seeds": json.dumps(list(study.seeds)), "ablate.model": study.model.name,
            "ablate.dataset": study.data.name, "ablate.precision": study.train.precision,
            "git.commit": git_commit(), "ablate.versions": json.dumps(versions()),
            "ablate.machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores {platform.system()}",
            "ablate.created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "mlflow.runName": study.name,
        }
        record = design_record(study.factors, arms, study.design.name)
        tags.update({f"ablate.{k}": _json_tag(v) for k, v in record.items()})
        if found is None:
            mine = self.client.create_run(exp_id, tags=tags, run_name=study.name).info.run_id
            pause_point("parent.created")
            found = self.find_parent(study)
            if found != mine:
                self.client.delete_run(mine)
        self.client.log_dict(found, record, "design.json")
        shared = study.cells()[0].flat_params()  # model/data/train settings are the same in every cell
        params = {k: v for k, v in shared.items() if k.split(".")[0] in ("model", "data", "train")}
        self._log_params(found, {**params, "n_arms": len(arms), "n_cells": len(arms) * len(study.seeds)})
        self.client.log_text(found, study_text or json.dumps(study.canonical(), indent=2), "study.yaml")
        self.client.log_dict(found, study.canonical(), "resolved_study.json")
        self.client.set_tag(found, "ablate.ready", "1")
        return found

    def parent_study(self, run_id: str) -> dict | None:
        """The canonical study a parent run recorded (to say what changed), or None if it cannot be read."""
        import tempfile

        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = self.client.download_artifacts(run_id, "resolved_study.json", tmp)
                return json.loads(Path(path).read_text())
        except (MlflowException, OSError, ValueError):
            return None

    def start_cell(self, parent_id: str, cell: Cell, trial_number: int, phase: str = "ablate",
                   name: str | None = None) -> str:
        """A child run; `name` (a tune trial's) replaces the cell id as run name and `ablate.cell_id`."""
        study = cell.study
        exp_id = self._experiment_of(parent_id)
        on = cell.arm.on(study.factors)
        tags = {
            "mlflow.parentRunId": parent_id, "ablate.role": "cell", "ablate.study": study.name,
            "ablate.study_hash": study.study_hash, "ablate.arm": cell.arm.name, "ablate.seed": str(cell.seed),
            "ablate.phase": phase, "ablate.cell_id": name or cell.cell_id, "optuna.trial_number": str(trial_number),
            "git.commit": git_commit(), "ablate.worker": f"{platform.node()}:{os.getpid()}",
            **{f"ablate.factors.{k}": "on" if v else "off" for k, v in on.items()},
            **{f"ablate.levels.{f.name}": level_label(f, i) for f, i in zip(study.factors, cell.arm.levels)
               if not f.two_level},
        }
        run = self.client.create_run(exp_id, tags=tags, run_name=name or cell.cell_id)
        self._log_params(run.info.run_id, cell.flat_params())
        return run.info.run_id

    def tuned(self, parent_id: str) -> dict[str, float] | None:
        """The tune phase's frozen values recorded on the parent run, or None when not yet frozen."""
        text = self.client.get_run(parent_id).data.tags.get("ablate.tuned")
        return json.loads(text) if text else None

    def record_tuned(self, parent_id: str, frozen: dict[str, float], summary: dict) -> None:
        """Params `tuned.<path>`, the tune artifacts, then the `ablate.tuned` tag: the tag marks it complete."""
        self._log_params(parent_id, {f"tuned.{k}": v for k, v in frozen.items()})
        self.client.log_dict(parent_id, summary.get("importances", {}), "tune/importances.json")
        self.client.log_dict(parent_id, summary, "tune/history.json")
        tags = {"ablate.tune.importances": json.dumps(summary.get("importances", {})),
                "ablate.tune.importance_method": str(summary.get("importance_method", "")),
                "ablate.tune.optuna_study": str(summary.get("optuna_study", "")),
                "ablate.tuned": json.dumps(frozen)}
        self.client.log_batch(parent_id, tags=[RunTag(k, v[:7900]) for k, v in tags.items()])

    def _experiment_of(self, parent_id: str) -> str:
        if parent_id not in self._experiments:
            self._experiments[parent_id] = self.client.get_run(parent_id).info.experiment_id
        return self._experiments[parent_id]

    def finish(self, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
        if reason:
            self.client.set_tag(run_id, "ablate.failure", reason[:5000])
        self.client.set_terminated(run_id, status=status)

    def logger(self, run_id: str) -> MlflowLogger:
        return MlflowLogger(self.client, run_id)

    def cell_runs(self, parent_id: str, status: str | None = None) -> list:
        """Child runs of a parent (any phase), newest first."""
        exp_id = self.client.get_run(parent_id).info.experiment_id
        filt = f"tags.`mlflow.parentRunId` = '{parent_id}'"
        if status:
            filt += f" and attributes.status = '{status}'"
        return self.client.search_runs([exp_id], filt, max_results=50_000)

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def _log_params(self, run_id: str, params: dict) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])


class MlflowLogger:
    """train.Logger over one MLflow run: one log_batch per epoch, never per step."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client, self.run_id = client, run_id
        self.last_epoch = 0

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        ts = _now_ms()
        self.last_epoch = epoch
        batch = [Metric(k, float(v), ts, epoch) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000], synchronous=True)

    def log_final(self, metrics: dict[str, float], artifacts: dict[str, object]) -> None:
        ts = _now_ms()
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, self.last_epoch)
                                                    for k, v in metrics.items()])
        for name, obj in artifacts.items():
            self.client.log_dict(self.run_id, obj, name)

    def set_tags(self, tags: dict[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

