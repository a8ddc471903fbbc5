"""What the Optuna storage says about each cell, as plain values (`ablate status` reads it; nothing is changed).

A cell is done (a COMPLETE trial), running (a RUNNING one; `gone` says why its worker looks dead, if it
does), waiting (a WAITING trial, or none yet: not enqueued), or failed (its last attempt failed, nothing
waits). The worker attribute (host:pid) says where each ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import optuna
from optuna.trial import TrialState

from ablate.records import TrialAttr
from ablate.scheduler import liveness, storage
from ablate.scheduler.cells import by_cell

DONE, RUNNING, WAITING, FAILED = "done", "running", "waiting", "failed"


@dataclass(frozen=True)
class CellState:
    cell_id: str
    state: str
    worker: str = ""  # host:pid of the trial that decided the state
    run_id: str = ""
    updated: datetime | None = None
    reason: str = ""  # failed: why; running: why its worker looks gone ("" while it looks alive)
    attempts: int = 0

    @property
    def host(self) -> str:
        return self.worker.rpartition(":")[0] or self.worker


def _state(trials, ostorage) -> tuple[str, object | None, str]:
    for state, kind in ((TrialState.COMPLETE, DONE), (TrialState.RUNNING, RUNNING), (TrialState.WAITING, WAITING)):
        hit = [t for t in trials if t.state == state]
        if hit:
            t = hit[-1]
            return kind, t, (liveness.gone(t, ostorage) or "") if kind == RUNNING else ""
    if trials:
        t = trials[-1]
        return FAILED, t, str(t.user_attrs.get(TrialAttr.FAILURE, "failed"))
    return WAITING, None, ""


def census(storage_url: str, study_name: str, cell_ids: list[str]) -> list[CellState] | None:
    """Every cell's state (cells with no trial are waiting); None when the storage has no such study."""
    ostorage = storage.open_storage(storage_url)
    if study_name not in storage.study_names(ostorage):
        return None
    ostudy = optuna.load_study(study_name=study_name, storage=ostorage)
    trials_of = by_cell(ostudy.get_trials(deepcopy=False))
    out = []
    for cid in list(dict.fromkeys([*cell_ids, *trials_of])):
        trials = trials_of.get(cid, [])
        kind, t, reason = _state(trials, ostorage)
        out.append(CellState(
            cid, kind, worker=str(t.user_attrs.get(TrialAttr.WORKER, "")) if t else "",
            run_id=str(t.user_attrs.get(TrialAttr.RUN_ID, "")) if t else "",
            updated=(t.datetime_complete or t.datetime_start) if t else None, reason=reason,
            attempts=sum(x.state != TrialState.WAITING for x in trials)))
    return out
