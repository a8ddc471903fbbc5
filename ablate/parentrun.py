"""What the run path needs of a study's parent run in the tracking store: one typed handle bound to its id.

The run path (orchestrate, worker, sequential, scheduler) records through these methods alone, so a cell can
be followed from `orchestrate.run_study` into `tracking/` by reading types: `ablate/tracking/parent.py`
implements the protocol over MLflow (MlflowParentRun). Cell runs are children of the parent, so they are
started and finished here too; what a cell writes while it trains goes through its RunLogger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ablate.records import CellRecord
    from ablate.study import Cell


class RunLogger(Protocol):
    """One cell run's writer: train.fit's Logger, plus what the worker writes around fit."""

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def log_final(self, metrics: dict[str, float], artifacts: dict[str, object]) -> None: ...
    def flush(self) -> None: ...
    def set_tags(self, tags: dict[str, object]) -> None: ...


class ParentRun(Protocol):
    """A study's parent run (found or created by `ablate run`), and the cell runs under it."""

    run_id: str  # the parent run's id in the tracking store

    @property
    def uri(self) -> str:
        """The tracking store's URI (the report and the seeds-until-decided decision read it back)."""
        ...

    # ---------------------------------------------------------------------------------------- cell runs
    def start_cell(self, cell: Cell, trial_number: int, phase: str = "ablate",
                   name: str | None = None) -> str:
        """A child run for a cell (or a tune trial, `name`); returns its run id."""
        ...

    def logger(self, run_id: str) -> RunLogger: ...

    def finish_cell(self, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
        """Close a child run (FINISHED, FAILED, KILLED), with the reason a failure gives."""
        ...

    def cell_records(self, status: str | None = None, cell_id: str | None = None) -> list[CellRecord]:
        """The child runs (any phase), newest first; only those with `status`, and of `cell_id`, if given."""
        ...

    # ---------------------------------------------------------------------------------------- the parent
    def finish_study(self) -> None:
        """Every cell is settled: the per-arm summary, then the parent closed."""
        ...

    def variant(self) -> str:
        """The variant's name (what differs from the study's first variant); "" for the first itself."""
        return ""

    def tuned(self) -> dict[str, float] | None: ...
    def record_tuned(self, frozen: dict[str, float], summary: dict) -> None: ...
    def seed_decision(self) -> dict | None: ...
    def record_seed_decision(self, decision: dict) -> None: ...
    def record_classes(self, classes: int) -> None:
        """The data's class count (tag `ablate.analysis.classes`): the report's chance level for the metric."""
        ...
