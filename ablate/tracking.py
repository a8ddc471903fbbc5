"""The only module that imports mlflow: experiment per study, parent run per study, child run per cell.

Writes go through MlflowClient with explicit run ids (no fluent global state), so several worker processes
can log at once, and each epoch is one log_batch call. What is written and read is spelled in records.py;
every read returns records (plain values), so no other module ever holds an MLflow object.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablate.errors import AblateError
from ablate.records import (
    DESIGN_ARTIFACT,
    FINAL_METRICS,
    PARENT,
    REPORT_ARTIFACT_DIR,
    RESOLVED_STUDY_ARTIFACT,
    STUDY_ARTIFACT,
    TUNE_HISTORY_ARTIFACT,
    TUNE_IMPORTANCES_ARTIFACT,
    WEIGHTS_ARTIFACT,
    CellRecord,
    ParentRecord,
    StudyRecords,
    Tag,
)
from ablate.study import Cell, Study
from ablate.testpoints import pause_point

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


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def _no_progress_bars():
    """MLflow draws a progress bar on stderr for every artifact download; for one small file it is noise."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _sqlite_pragmas(conn, _record) -> None:
    """WAL with synchronous=NORMAL: a commit then costs ~0.05 ms instead of an fsync (2-6 ms here; a cell
    makes ~7 of them), readers never block the writing workers, and a process crash still loses nothing (a
    power cut can lose the last commits, never corrupt the file). WAL needs a local disk: set
    ABLATE_SQLITE_WAL=0 for a store on a network file system."""
    import sqlite3

    if not isinstance(conn, sqlite3.Connection):
        return
    cur = conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")  # persistent in the file; a no-op once set
    except sqlite3.OperationalError:  # another process holds it in rollback mode: stay correct, slower
        pass
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _store_engine(client: MlflowClient):
    """The SQLAlchemy engine behind a SQL tracking store, or None. MLflow has no public handle on it, and the
    pragmas must reach MLflow's own engine (and only it), so this is the one place that reaches inside."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return getattr(store, "engine", None)


def _tune_sqlite(client: MlflowClient) -> None:
    if os.environ.get("ABLATE_SQLITE_WAL", "1") == "0":
        return
    from sqlalchemy import event

    engine = _store_engine(client)
    if engine is None or engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_pragmas):
        return
    event.listen(engine, "connect", _sqlite_pragmas)
    engine.dispose()  # connections made while MLflow created the store reconnect with the pragmas


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
        client = MlflowClient(uri)
        _tune_sqlite(client)
        return client
    finally:
        os.close(fd)  # releases the lock


def parent_record(study: Study) -> ParentRecord:
    """What a study's parent run records about it (the design's record included)."""
    arms = study.arms()
    return ParentRecord(
        study=study.name, study_hash=study.study_hash, description=study.description, design=study.design.name,
        metric=study.metric.name, direction=study.metric.resolved_direction, arms=tuple(a.name for a in arms),
        factors=tuple(f.name for f in study.factors), seeds=tuple(study.seeds), model=study.model.name,
        dataset=study.data.name, precision=study.train.precision, git_commit=git_commit(), versions=versions(),
        machine=f"{platform.node()} {platform.machine()} {os.cpu_count()} cores {platform.system()}",
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        design_record=study.design_record(arms),
    )


def cell_record(parent_id: str, cell: Cell, trial_number: int, phase: str = "ablate",
                name: str | None = None) -> CellRecord:
    """A cell run's identity; `name` (a tune trial's) replaces the cell id as run name and cell id."""
    study = cell.study
    return CellRecord(
        study=study.name, arm=cell.arm.name, seed=cell.seed, cell_id=name or cell.cell_id,
        study_hash=study.study_hash, phase=phase, trial_number=trial_number,
        factors=cell.arm.on(study.factors), levels=cell.level_labels(), parent_run_id=parent_id,
        git_commit=git_commit(), worker=f"{platform.node()}:{os.getpid()}", run_name=name or cell.cell_id,
    )


class Tracker:
    def __init__(self, uri: str | None = None):
        self.uri = resolve_uri(uri)
        self.client = _client(self.uri)
        self._experiments: dict[str, str] = {}  # parent run id -> experiment id (one lookup per worker)

    # ----------------------------------------------------------------------------------------- experiments
    def experiment_id(self, name: str, create: bool = True) -> str | None:
        """Creating the store happens here, once, in the parent process (never concurrently in workers)."""
        exp = self.client.get_experiment_by_name(name)
        if exp is not None and exp.lifecycle_stage == "deleted":
            raise AblateError(f"the MLflow experiment '{name}' was deleted (in {self.uri}); restore it "
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
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:  # another machine created it a moment ago
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def experiment_exists(self, name: str) -> bool:
        return self.client.get_experiment_by_name(name) is not None

    def set_aside(self, name: str, new_name: str) -> None:
        """Rename a study's experiment (`--fresh` keeps the old runs under the new name)."""
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            self.client.rename_experiment(exp.experiment_id, new_name)

    # ----------------------------------------------------------------------------------------- parent run
    def find_parent(self, study: Study) -> str | None:
        exp_id = self.experiment_id(study.name, create=False)
        if exp_id is None:
            return None
        runs = self.client.search_runs([exp_id], f"tags.`{Tag.ROLE}` = '{PARENT}'", max_results=50)
        # the oldest: every process that started the study at the same moment agrees on the same one
        runs = sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))
        return runs[0].info.run_id if runs else None

    def parent_record(self, run_id: str) -> ParentRecord:
        run = self.client.get_run(run_id)
        return ParentRecord.from_mlflow(run_id, run.data.tags, run.data.params)

    def parent_hash(self, run_id: str) -> str | None:
        return self.parent_record(run_id).study_hash or None

    def start_parent(self, study: Study, study_text: str | None = None) -> str:
        """Find the study's parent run again (resume) or create it with provenance and the study file.

        A parent whose setup a kill cut short is completed (READY marks a complete one); of two parents
        created at the same moment by two machines, the younger is deleted and the older used.
        """
        exp_id = self.experiment_id(study.name)
        found = self.find_parent(study)
        if found and self.parent_record(found).ready:
            return found
        record = parent_record(study)
        if found is None:
            mine = self.client.create_run(exp_id, tags=record.to_mlflow(), run_name=study.name).info.run_id
            pause_point("parent.created")
            found = self.find_parent(study)
            if found != mine:
                self.client.delete_run(mine)
        self.client.log_dict(found, record.design_record, DESIGN_ARTIFACT)
        shared = study.cells()[0].flat_params()  # model/data/train settings are the same in every cell
        params = {k: v for k, v in shared.items() if k.split(".")[0] in ("model", "data", "train")}
        self._log_params(found, {**params, "n_arms": len(record.arms), "n_cells": len(record.arms) * len(study.seeds)})
        self.client.log_text(found, study_text or json.dumps(study.canonical(), indent=2), STUDY_ARTIFACT)
        self.client.log_dict(found, study.canonical(), RESOLVED_STUDY_ARTIFACT)
        self._set_tags(found, ParentRecord.ready_tags())
        return found

    def parent_study(self, run_id: str) -> dict | None:
        """The canonical study a parent run recorded (to say what changed), or None if it cannot be read."""
        return self._artifact_json(run_id, RESOLVED_STUDY_ARTIFACT)

    def tuned(self, parent_id: str) -> dict[str, float] | None:
        """The tune phase's frozen values recorded on the parent run, or None when not yet frozen."""
        return self.parent_record(parent_id).tuned

    def record_tuned(self, parent_id: str, frozen: dict[str, float], summary: dict) -> None:
        """Params `tuned.<path>`, the tune artifacts, then the tune tags: TUNED marks the record complete."""
        self._log_params(parent_id, {f"tuned.{k}": v for k, v in frozen.items()})
        self.client.log_dict(parent_id, summary.get("importances", {}), TUNE_IMPORTANCES_ARTIFACT)
        self.client.log_dict(parent_id, summary, TUNE_HISTORY_ARTIFACT)
        self._set_tags(parent_id, ParentRecord.tune_tags(frozen, summary))

    # ----------------------------------------------------------------------------------------- cell runs
    def start_cell(self, parent_id: str, cell: Cell, trial_number: int, phase: str = "ablate",
                   name: str | None = None) -> str:
        """A child run; `name` (a tune trial's) replaces the cell id as run name and cell id."""
        record = cell_record(parent_id, cell, trial_number, phase, name)
        run = self.client.create_run(self._experiment_of(parent_id), tags=record.to_mlflow(),
                                     run_name=record.run_name)
        self._log_params(run.info.run_id, cell.flat_params())
        return run.info.run_id

    def _experiment_of(self, parent_id: str) -> str:
        if parent_id not in self._experiments:
            self._experiments[parent_id] = self.client.get_run(parent_id).info.experiment_id
        return self._experiments[parent_id]

    def finish(self, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
        if reason:
            self._set_tags(run_id, CellRecord.failure_tags(reason))
        self.client.set_terminated(run_id, status=status)

    def logger(self, run_id: str) -> MlflowLogger:
        return MlflowLogger(self.client, run_id)

    def cell_records(self, parent_id: str, status: str | None = None) -> list[CellRecord]:
        """Child runs of a parent (any phase), newest first."""
        filt = f"tags.`{Tag.PARENT_RUN_ID}` = '{parent_id}'"
        if status:
            filt += f" and attributes.status = '{status}'"
        return [_cell(r) for r in _search_all(self.client, [self._experiment_of(parent_id)], filt)]

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    # ----------------------------------------------------------------------------------------- helpers
    def _set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def _log_params(self, run_id: str, params: dict) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def _artifact_json(self, run_id: str, path: str):
        return _artifact_json(self.client, run_id, path)


def _artifact_json(client: MlflowClient, run_id: str, path: str):
    """A JSON artifact of a run, or None when it is absent or unreadable."""
    with tempfile.TemporaryDirectory() as tmp, _no_progress_bars():
        try:
            local = client.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text())
        except (MlflowException, OSError, ValueError):
            return None


def _cell(run) -> CellRecord:
    info = run.info
    return CellRecord.from_mlflow(info.run_id, dict(run.data.tags), dict(run.data.params), dict(run.data.metrics),
                                  status=info.status, run_name=info.run_name or "", start_time_ms=info.start_time,
                                  end_time_ms=info.end_time)


def _search_all(client: MlflowClient, experiment_ids: list[str], filter_string: str) -> list:
    """search_runs over every page (a big study outgrows one page of 1000 runs)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


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


# --------------------------------------------------------------------------------------------------------
# Reading a whole study back (the report's one source)
# --------------------------------------------------------------------------------------------------------
def read_study(study_name: str, tracking_uri: str) -> StudyRecords:
    """Parent, cells, per-epoch histories and weight histograms of one study, as records.

    Histories are fetched only for curve metrics (final metrics are single points already on the run) and
    in a few threads, since a study of 32 cells with per-layer norms means hundreds of small queries.
    Raises AblateError naming the store when the study is absent.
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        known = [e.name for e in client.search_experiments()]
        raise AblateError(f"no study named {study_name!r} in the MLflow store {tracking_uri} "
                          f"(experiments there: {', '.join(sorted(known)) or 'none'})")
    exp_ids = [experiment.experiment_id]
    parents = _search_all(client, exp_ids, f"tags.`{Tag.ROLE}` = '{PARENT}'")
    if not parents:
        raise AblateError(f"experiment {study_name!r} in {tracking_uri} has no ablate parent run "
                          f"(tag {Tag.ROLE}={PARENT}); was it created by `ablate run`?")
    parent_run = max(parents, key=lambda r: r.info.start_time or 0)
    parent = ParentRecord.from_mlflow(parent_run.info.run_id, parent_run.data.tags, parent_run.data.params)
    children = [r for r in _search_all(client, exp_ids, f"tags.`{Tag.PARENT_RUN_ID}` = '{parent.run_id}'")
                if r.data.tags.get(Tag.ROLE) == "cell"]

    def history_of(run):
        keys = [k for k in run.data.metrics if k not in FINAL_METRICS]
        return run.info.run_id, {
            k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)] for k in keys}

    def weights_of(run):
        return run.info.run_id, _artifact_json(client, run.info.run_id, WEIGHTS_ARTIFACT)

    with ThreadPoolExecutor(max_workers=4) as pool:
        histories = dict(pool.map(history_of, children))
        weights = {k: v for k, v in pool.map(weights_of, children) if v is not None}
    tune = _artifact_json(client, parent.run_id, TUNE_HISTORY_ARTIFACT) if parent.tuned is not None else None
    return StudyRecords(parent=parent, cells=[_cell(r) for r in children], histories=histories, weights=weights,
                        tune_summary=tune, tracking_uri=tracking_uri)


def log_report(tracking_uri: str, parent_run_id: str, files: list[Path]) -> None:
    """Attach the report to the study's parent run, so the MLflow UI links straight to it."""
    client = MlflowClient(tracking_uri=tracking_uri)
    for path in files:
        client.log_artifact(parent_run_id, str(path), artifact_path=REPORT_ARTIFACT_DIR)
