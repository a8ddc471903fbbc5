"""The one place ablate reaches under Optuna's public API; each use says why it cannot be avoided.

Optuna's public way to run trials is `Study.optimize` / `Study.ask`, which *create* trials. ablate's
exactly-once protocol must instead *take* a trial enqueued beforehand, atomically, and fail a dead worker's
trial from another process; that needs the storage and the storage-level trial id, which `Study` and
`FrozenTrial` keep private. Everything below is a thin wrapper; nothing else in ablate touches these names.
"""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled
from optuna.trial import TrialState


def storage_of(ostudy: optuna.Study) -> BaseStorage:
    """`Study._storage`: a Study has no public accessor for the storage it was loaded from, and the
    state transitions below are storage methods."""
    return ostudy._storage


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """`_trial_id`: the storage-wide id that every storage method takes (`number` counts within a study)."""
    return trial._trial_id


def take(ostudy: optuna.Study, frozen: optuna.trial.FrozenTrial) -> optuna.Trial | None:
    """WAITING -> RUNNING as one atomic storage write (what `Study.ask` does inside for an enqueued trial,
    but for the trial we chose), then a live `Trial` on it (its constructor is documented as not for direct
    use; `ask` would pick any waiting trial, or create one). None: another worker took it first."""
    try:
        if storage_of(ostudy).set_trial_state_values(trial_id(frozen), state=TrialState.RUNNING):
            return optuna.Trial(ostudy, trial_id(frozen))
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
    return None


def fail_other(ostudy: optuna.Study, frozen: optuna.trial.FrozenTrial, attrs: dict[str, object]) -> bool:
    """Fail a trial that another (dead) process holds: `Study.tell` accepts only trials this process
    owns, so the attributes and the FAIL state go to the storage directly. True only for the one process
    whose FAIL took effect (the storage refuses a second transition)."""
    storage = storage_of(ostudy)
    try:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id(frozen), key, value)
        return bool(storage.set_trial_state_values(trial_id(frozen), TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def set_attr(storage: BaseStorage, tid: int, key: str, value: object) -> None:
    """A user attribute written from the heartbeat thread, which holds the storage and id, not the Trial."""
    storage.set_trial_user_attr(tid, key, value)


def is_finished(storage: BaseStorage, tid: int) -> bool:
    return storage.get_trial(tid).state.is_finished()


def heartbeat_enabled(storage: BaseStorage | None) -> bool:
    """`optuna.storages._heartbeat.is_heartbeat_enabled`: whether Optuna's own heartbeat watches RUNNING
    trials (RDB storages opened with heartbeat_interval); public only through `Study.optimize`."""
    return storage is not None and is_heartbeat_enabled(storage)


def heartbeat_thread(storage: BaseStorage, tid: int):
    """`optuna.storages._heartbeat.get_heartbeat_thread`: the thread `Study.optimize` runs around each
    trial; a claimed trial bypasses optimize, so it is started by hand (a context manager)."""
    return get_heartbeat_thread(tid, storage)
