"""The only module that imports optuna: storage, enqueueing each cell once, workers that claim cells.

Exactly-once: every cell is enqueued as a WAITING trial tagged with its cell id; a worker claims a trial by
the storage's atomic WAITING -> RUNNING transition (what Study.ask does internally), so no two workers run
the same trial, and no worker ever creates a trial of its own. Resume: COMPLETE cells are skipped; a RUNNING
cell whose worker is gone (same host, dead pid; or, across machines, a stale heartbeat) is failed and
enqueued again; a cell that failed for a reason that retrying cannot fix (divergence) stays failed.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from ablate.errors import AblateError, CellFailed
from ablate.study import Cell, Study

DEFAULT_STORAGE = "optuna.journal"
CELL = "ablate.cell_id"
WORKER = "ablate.worker"
BEAT = "ablate.heartbeat"
FAILURE = "ablate.failure"
RETRY = "ablate.retry"
STALE_SECONDS = 300

optuna.logging.set_verbosity(optuna.logging.WARNING)

Emit = Callable[..., None]


def resolve_storage(url: str | None = None) -> str:
    return url or os.environ.get("ABLATE_STORAGE") or DEFAULT_STORAGE


def open_storage(url: str):
    """A journal file (the default; safe for local parallel workers) or any Optuna RDB URL."""
    if "://" not in url or url.startswith("journal://") or url.startswith("file://"):
        path = url.split("://", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    return RDBStorage(url, heartbeat_interval=30, grace_period=90, engine_kwargs={"pool_pre_ping": True})


def open_study(study: Study, storage, create: bool = True) -> optuna.Study:
    direction = study.metric.resolved_direction
    if create:
        return optuna.create_study(study_name=study.name, storage=storage, direction=direction,
                                   load_if_exists=True)
    return optuna.load_study(study_name=study.name, storage=storage)


def host_id() -> str:
    return f"{platform.node()}:{os.getpid()}"


def _worker_gone(trial: optuna.trial.FrozenTrial) -> bool:
    worker = trial.user_attrs.get(WORKER)
    beat = trial.user_attrs.get(BEAT, 0)
    if not worker:  # claimed but never stamped: the worker died at once
        return time.time() - (trial.datetime_start.timestamp() if trial.datetime_start else 0) > 60
    host, _, pid = worker.rpartition(":")
    if host == platform.node():
        try:
            os.kill(int(pid), 0)
            return False
        except (ProcessLookupError, ValueError):
            return True
        except PermissionError:
            return False
    return time.time() - beat > STALE_SECONDS


@dataclass
class Plan:
    total: int
    done: int
    failed: int
    enqueued: int
    recovered: list[tuple[str, str | None]]  # (cell id, mlflow run id) of interrupted cells now re-enqueued


def enqueue_cells(ostudy: optuna.Study, study: Study, retry_failed: bool = False) -> Plan:
    """Enqueue every cell that has no trial yet (or only retryable failed ones); recover dead workers' cells."""
    latest: dict[str, optuna.trial.FrozenTrial] = {}
    for t in ostudy.get_trials(deepcopy=False):
        cid = t.user_attrs.get(CELL)
        if cid is not None and (cid not in latest or t.number > latest[cid].number):
            latest[cid] = t
    done = failed = enqueued = 0
    recovered = []
    for cell in study.cells():
        t = latest.get(cell.cell_id)
        if t is not None and t.state == TrialState.RUNNING and _worker_gone(t):
            _fail_trial(ostudy, t, "interrupted: its worker stopped before the cell finished")
            recovered.append((cell.cell_id, t.user_attrs.get("ablate.run_id")))
            t = None
        if t is not None and t.state == TrialState.COMPLETE:
            done += 1
            continue
        if t is not None and t.state in (TrialState.WAITING, TrialState.RUNNING):
            continue
        if t is not None and t.state == TrialState.FAIL and not (t.user_attrs.get(RETRY) or retry_failed):
            failed += 1
            continue
        ostudy.enqueue_trial({"arm": cell.arm.name, "seed": cell.seed}, user_attrs={CELL: cell.cell_id})
        enqueued += 1
    return Plan(len(study.cells()), done, failed, enqueued, recovered)


def _fail_trial(ostudy: optuna.Study, t: optuna.trial.FrozenTrial, reason: str) -> None:
    storage = ostudy._storage
    storage.set_trial_user_attr(t._trial_id, FAILURE, reason)
    storage.set_trial_user_attr(t._trial_id, RETRY, True)
    try:
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


def claim(ostudy: optuna.Study) -> optuna.Trial | None:
    """Take one WAITING trial atomically; None when the queue is empty (never creates a trial)."""
    storage = ostudy._storage
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                return optuna.Trial(ostudy, t._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def run_cells(study: Study, ostudy: optuna.Study, tracker, parent_id: str, emit: Emit | None = None) -> int:
    """The worker loop: claim, train, record, until no cell is waiting. Returns the cells this worker ran."""

    emit = emit or (lambda *a, **k: None)
    cells = {c.cell_id: c for c in study.cells()}
    ran = 0
    while (trial := claim(ostudy)) is not None:
        cell = cells.get(trial.user_attrs.get(CELL))
        if cell is None:  # a trial from another version of the study: leave it alone
            ostudy.tell(trial, state=TrialState.FAIL)
            continue
        _run_one(cell, trial, ostudy, tracker, parent_id, emit)
        ran += 1
    return ran


def _run_one(cell: Cell, trial: optuna.Trial, ostudy, tracker, parent_id: str, emit: Emit) -> None:
    from ablate.train import fit

    trial.set_user_attr(WORKER, host_id())
    trial.set_user_attr(BEAT, time.time())
    # the enqueued values are fixed; suggesting them records them as the trial's params (dashboard, history)
    study = cell.study
    trial.suggest_categorical("arm", [a.name for a in study.arms()])
    trial.suggest_int("seed", min(study.seeds), max(study.seeds))
    run_id = tracker.start_cell(parent_id, cell, trial.number)
    trial.set_user_attr("ablate.run_id", run_id)
    emit("start", cell=cell.cell_id)
    logger = tracker.logger(run_id)

    def on_epoch(epoch: int, epochs: int) -> None:
        trial.set_user_attr(BEAT, time.time())
        emit("epoch", cell=cell.cell_id, epoch=epoch, epochs=epochs)

    try:
        result = fit(cell, logger, on_epoch=on_epoch)
    except CellFailed as e:
        _record_failure(ostudy, trial, tracker, run_id, e.reason, retry=False)
        emit("done", cell=cell.cell_id, status="FAILED", reason=e.reason)
        return
    except KeyboardInterrupt:
        _record_failure(ostudy, trial, tracker, run_id, "interrupted by Ctrl-C", retry=True, status="KILLED")
        raise
    except AblateError as e:  # a user-fixable problem (data missing...): stop the study, say why
        _record_failure(ostudy, trial, tracker, run_id, str(e), retry=True)
        raise
    except Exception as e:  # a bug or resource error: fail this cell with the reason, go on
        reason = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"
        _record_failure(ostudy, trial, tracker, run_id, reason, retry=True)
        emit("done", cell=cell.cell_id, status="FAILED", reason=reason.splitlines()[0])
        return
    tracker.finish(run_id, "FINISHED")
    ostudy.tell(trial, result.final[cell.study.metric.name])
    emit("done", cell=cell.cell_id, status="FINISHED", value=result.final[cell.study.metric.name])


def _record_failure(ostudy, trial, tracker, run_id, reason, retry, status="FAILED") -> None:
    trial.set_user_attr(FAILURE, reason[:2000])
    trial.set_user_attr(RETRY, retry)
    tracker.finish(run_id, status, reason)
    ostudy.tell(trial, state=TrialState.FAIL)
