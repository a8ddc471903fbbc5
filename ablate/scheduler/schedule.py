"""The schedule of a running study: the Optuna study that queues its cells, with the storage it lives in.

One object for what the run path asks of the queue (enqueue once, claim, settle, adopt, outcomes, the tune
phase's study), so that no module outside scheduler/ holds an Optuna object; the work itself stays in
cells.py, tune.py and liveness.py. The MLflow side of settling and adopting is reached through the parent
run's typed protocol (ablate.parentrun.ParentRun), never through mlflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.storages import BaseStorage

from ablate.scheduler import cells, liveness, storage, tune

if TYPE_CHECKING:
    from ablate.parentrun import ParentRun
    from ablate.study import Study


@dataclass(frozen=True)
class Schedule:
    ostudy: optuna.Study  # the ablation's Optuna study (name = study name)
    storage: BaseStorage
    url: str  # the storage's URL, for worker processes that open it again

    @classmethod
    def open(cls, study: Study, url: str, opened: BaseStorage | None = None, create: bool = True) -> Schedule:
        """The study's Optuna study in the storage at `url` (`opened`: that storage, already open).
        create=False raises KeyError while no `ablate run` has created it."""
        opened = opened if opened is not None else storage.open_storage(url)
        return cls(storage.open_study(study, opened, create=create), opened, url)

    def record_hash(self, study: Study) -> None:
        storage.record_hash(self.ostudy, study)

    def enqueue(self, study: Study, retry_failed: bool = False, rerun: bool = True) -> cells.Plan:
        return cells.enqueue_cells(self.ostudy, study, retry_failed=retry_failed, rerun=rerun)

    def claim(self, cell_ids: set[str] | None = None) -> cells.Claim | None:
        return cells.claim(self.ostudy, cell_ids)

    def adopt_claimed(self, claim: cells.Claim, study: Study, parent: ParentRun) -> tuple[str, float] | None:
        """Before a claimed cell trains: if MLflow already holds a FINISHED run of it (its trial was lost, e.g.
        a damaged or replaced journal), the trial completes with that run's final metric and the cell is not
        trained again. Returns (run id, value) adopted, or None: train it."""
        for record in parent.cell_records(status="FINISHED", cell_id=claim.cell_id):
            value = record.metrics.get(study.metric.name)
            if record.cell_id != claim.cell_id or record.phase != "ablate" or value is None \
                    or not math.isfinite(value):
                continue
            claim.stamp(study)
            with claim.owned():
                claim.trial.set_user_attr(cells.A.RUN_ID, record.run_id)
                claim.trial.set_user_attr(cells.A.ADOPTED, True)
            claim.complete(value)  # a lost race: another process failed the trial; it is enqueued and adopted again
            return record.run_id, value
        return None

    def settle(self, parent: ParentRun) -> int:
        return cells.settle_runs(self.ostudy, parent)

    def adopt(self, study: Study, parent: ParentRun) -> int:
        return cells.adopt_finished_runs(self.ostudy, study, parent)

    def outcomes(self, study: Study) -> tuple[set[str], dict[str, str]]:
        return cells.outcomes(self.ostudy, study)

    def poll_seconds(self) -> float:
        return liveness.poll_seconds(self.ostudy)

    def tune_study(self, study: Study) -> tune.TuneStudy:
        """The tune phase's own Optuna study (`<name>:tune`), created on first use."""
        return tune.TuneStudy(tune.open_tune_study(study, self.storage))

    def frozen_values(self, study: Study) -> dict[str, float] | None:
        return tune.frozen_values(study, self.storage)

    def tune_summary(self, study: Study) -> dict:
        return tune.tune_summary(study, self.storage)
