"""StudyRun: one frozen handle for a running study, passed down the run path instead of loose handles.

`orchestrate.run_study` builds it once (each local worker process rebuilds it: `StudyRun.join`), and every
step of the run path takes it: the tune phase, the worker loop, one cell, seeds until decided. A cell is
followed into the stores through its typed fields: `schedule` (scheduler/schedule.py, the Optuna side) and
`parent` (ablate.parentrun.ParentRun, implemented over MLflow by tracking/parent.py). A new run-level option
is one field of RunOptions, read where it is used. What changes while a study runs (its study, extended by a
tune phase or by seeds until decided; the event sink of a stage) is a new handle: `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ablate.cache import WorkerCache
    from ablate.parentrun import ParentRun
    from ablate.scheduler.schedule import Schedule
    from ablate.study import Study


class Emit(Protocol):
    """Where progress events go (progress.Progress.event, a worker process's queue): `start`, `epoch`,
    `done`, `count` and `fatal`, with their data as keywords."""

    def __call__(self, kind: str, /, **data: Any) -> None: ...


def quiet(kind: str, /, **data: Any) -> None:
    """The event sink that shows nothing (a worker joined by `ablate worker`, a test)."""


@dataclass(frozen=True)
class RunOptions:
    """What `ablate run` was asked for beyond the study (a joined worker runs with the defaults)."""

    workers: int = 1  # cell streams: 0 coordinates only, 1 trains here, N also starts N-1 processes
    retry_failed: bool = False  # run again the cells that failed for a reason retrying cannot fix
    quiet: bool = True  # no progress display, no notes on stderr


@dataclass(frozen=True)
class StudyRun:
    study: Study  # as it runs now: with the tune phase's frozen values and the seeds decided, once known
    schedule: Schedule
    parent: ParentRun
    cache: WorkerCache | None = None  # datasets and compiled modules kept from cell to cell in this process
    emit: Emit = quiet
    options: RunOptions = RunOptions()

    def with_study(self, study: Study) -> StudyRun:
        return dataclasses.replace(self, study=study)

    def with_emit(self, emit: Emit) -> StudyRun:
        return dataclasses.replace(self, emit=emit)

    @classmethod
    def join(cls, study: Study, storage_url: str, tracking_uri: str, parent_id: str, emit: Emit = quiet,
             create: bool = False) -> StudyRun:
        """The handle in a process that joins a running study (a local worker process): both stores opened
        again by address. create=False: the Optuna study must exist already (KeyError otherwise)."""
        from ablate.scheduler.schedule import Schedule
        from ablate.tracking import MlflowParentRun

        return cls(study, Schedule.open(study, storage_url, create=create),
                   MlflowParentRun.open(tracking_uri, parent_id), emit=emit)
