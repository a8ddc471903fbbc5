"""The parent run on MLflow: ablate.parentrun.ParentRun over the Tracker, bound to the parent's run id."""

from __future__ import annotations

from dataclasses import dataclass

from ablate.parentrun import ParentRun
from ablate.records import CellRecord, Tag
from ablate.study import Cell
from ablate.tracking.logger import MlflowLogger
from ablate.tracking.writer import Tracker


@dataclass(frozen=True)
class MlflowParentRun(ParentRun):
    tracker: Tracker
    run_id: str

    @classmethod
    def open(cls, tracking_uri: str | None, run_id: str) -> MlflowParentRun:
        """The parent run in another process (a local worker), reopened by its store's URI and its id."""
        return cls(Tracker(tracking_uri), run_id)

    @property
    def uri(self) -> str:
        return self.tracker.uri

    def start_cell(self, cell: Cell, trial_number: int, phase: str = "ablate",
                   name: str | None = None) -> str:
        return self.tracker.start_cell(self.run_id, cell, trial_number, phase=phase, name=name)

    def logger(self, run_id: str) -> MlflowLogger:
        return self.tracker.logger(run_id)

    def finish_cell(self, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
        self.tracker.finish(run_id, status, reason)

    def cell_records(self, status: str | None = None, cell_id: str | None = None) -> list[CellRecord]:
        return self.tracker.cell_records(self.run_id, status=status, cell_id=cell_id)

    def finish_study(self) -> None:
        self.tracker.finish_study(self.run_id)

    def variant(self) -> str:
        return self.tracker.client.get_run(self.run_id).data.tags.get(Tag.VARIANT, "")

    def tuned(self) -> dict[str, float] | None:
        return self.tracker.tuned(self.run_id)

    def record_tuned(self, frozen: dict[str, float], summary: dict) -> None:
        self.tracker.record_tuned(self.run_id, frozen, summary)

    def seed_decision(self) -> dict | None:
        return self.tracker.seed_decision(self.run_id)

    def record_seed_decision(self, decision: dict) -> None:
        self.tracker.record_seed_decision(self.run_id, decision)

    def record_classes(self, classes: int) -> None:
        self.tracker.client.set_tag(self.run_id, Tag.ANALYSIS + "classes", str(int(classes)))
