"""A worker: claims cells (or samples tune trials), trains each, records it; one table says what a failure means.

Optuna is told first and MLflow closed second: a kill between the two leaves a COMPLETE trial beside a
RUNNING run, which cells.settle_runs marks FINISHED (the cell is never retrained). Every step goes through
the StudyRun handle: Optuna's through its schedule (this module imports no optuna), MLflow's through its
parent run (ablate.parentrun.ParentRun).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ablate import interrupts
from ablate.errors import AblateError, CellFailed
from ablate.records import CellRecord
from ablate.scheduler import cells
from ablate.studyrun import StudyRun
from ablate.testpoints import pause_point

if TYPE_CHECKING:
    from ablate.scheduler.tune import TuneStudy
    from ablate.study import Cell

GO_ON, STOP = "go on", "stop"  # after recording: take the next cell, or re-raise (the worker stops)


class Pruned(Exception):
    """The pruner stopped a tune trial (raised from fit's on_metrics): an answer, not a failure."""


@dataclass(frozen=True)
class Outcome:
    """What a failed cell becomes: its MLflow status, its trial's marks, and what the worker does next."""

    status: str  # the MLflow run's end
    retry: bool  # may it run again (False: retrying cannot fix it; a tune trial then counts)
    interrupted: bool  # the worker stopped; the cell itself did not fail (it runs again, even mid-study)
    cell: str  # then, for an ablation cell: GO_ON or STOP
    tune: str  # then, for a tune trial (one that does not count is sampled again, so a bug must stop)
    reason: Callable[[BaseException], str]
    tell: bool = True  # fail the trial in Optuna (False: it is no longer this worker's)


def _bug(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"


# The failure policy: the first row whose exception type matches decides (CellFailed is an AblateError).
# Any other BaseException (SystemExit) is not recorded: the trial stays RUNNING, and its dead worker's
# cell is retried as interrupted.
LOST_RACE = Outcome("KILLED", retry=True, interrupted=True, cell=GO_ON, tune=GO_ON, tell=False,
                    reason=lambda e: "interrupted: another worker took this cell over (this worker's heartbeat "
                                     "was late); the cell's result is the other worker's")
POLICY: tuple[tuple[type[BaseException], Outcome], ...] = (
    (cells.Stale, LOST_RACE),  # frozen past the heartbeat limit, then resumed: drop the cell quietly
    (CellFailed, Outcome("FAILED", retry=False, interrupted=False, cell=GO_ON, tune=GO_ON,
                         reason=lambda e: e.reason)),  # diverged: a rerun would diverge again
    (KeyboardInterrupt, Outcome("KILLED", retry=True, interrupted=True, cell=STOP, tune=STOP,
                                reason=lambda e: "interrupted by Ctrl-C (SIGINT/SIGTERM)")),
    (AblateError, Outcome("FAILED", retry=True, interrupted=False, cell=STOP, tune=STOP,
                          reason=str)),  # the user's to fix (data missing...): stop the study, say why
    (Exception, Outcome("FAILED", retry=True, interrupted=False, cell=GO_ON, tune=STOP,
                        reason=_bug)),  # a bug or a resource error: fail this cell with the reason, go on
)


def policy(e: BaseException) -> Outcome | None:
    return next((outcome for kind, outcome in POLICY if isinstance(e, kind)), None)


def _settle(run: StudyRun, handle: cells.Handle, run_id: str | None, outcome: Outcome, reason: str, then: str,
            name: str) -> bool:
    """Record a failure in Optuna and MLflow; True when the worker goes on."""
    if outcome.tell:
        handle.fail(reason, retry=outcome.retry, interrupted=outcome.interrupted)
    if run_id is not None:
        run.parent.finish_cell(run_id, outcome.status, reason)
    if then == GO_ON:  # a lost race (KILLED) is not this worker's failure: not shown as one
        run.emit("done", cell=name, status=outcome.status, reason=reason.splitlines()[0] if reason else "")
    return then == GO_ON


def _failed(run: StudyRun, handle: cells.Handle, run_id: str | None, e: BaseException, kind: str,
            name: str) -> bool:
    """The table applied to `e` (inside its except block); False: the caller re-raises."""
    outcome = policy(e)
    if outcome is None:
        return False
    return _settle(run, handle, run_id, outcome, outcome.reason(e), getattr(outcome, kind), name)


def run_cells(run: StudyRun, wait: bool = True, work: bool = True) -> int:
    """The worker loop: claim, train, record. With no cell waiting, recover dead workers' cells, and (wait)
    stay while another worker's cell still runs: if that worker dies, this one runs the cell again.
    work=False only watches (a coordinator whose workers are elsewhere). Returns the cells run here."""
    if run.cache is None and work:
        from ablate.cache import WorkerCache

        run = dataclasses.replace(run, cache=WorkerCache())  # this worker's, for all the cells it runs
    schedule = run.schedule
    by_id = {c.cell_id: c for c in run.study.cells()}
    poll = schedule.poll_seconds()
    ran = 0
    while True:
        interrupts.check()
        claim = schedule.claim(set(by_id)) if work else None
        if claim is not None:
            if why := claim.superseded():
                claim.drop(why)
                continue
            if adopted := schedule.adopt_claimed(claim, run.study, run.parent):  # never train a finished cell
                run.emit("done", cell=claim.cell_id, status="FINISHED", value=adopted[1])
                continue
            run_one(run, by_id[claim.cell_id], claim)
            ran += 1
            continue
        plan = schedule.enqueue(run.study, rerun=False)
        run.emit("count", done=plan.done + plan.failed, total=plan.total)
        if plan.enqueued:
            schedule.settle(run.parent)
            if work:
                continue
        if not wait or plan.live == 0:
            return ran
        time.sleep(poll)


def run_one(run: StudyRun, cell: Cell, claim: cells.Claim) -> None:
    """Train one claimed cell and record it (the failure policy above decides what a failure means)."""
    study, parent, emit = cell.study, run.parent, run.emit

    def on_epoch(epoch: int, epochs: int) -> None:
        emit("epoch", cell=cell.cell_id, epoch=epoch, epochs=epochs)
        pause_point("epoch")

    with claim.heartbeat():
        run_id = None
        try:
            claim.stamp(study)
            pause_point("cell.claimed")
            run_id = parent.start_cell(cell, claim.number)
            pause_point("cell.run_created")
            claim.set_run_id(run_id)
            emit("start", cell=cell.cell_id)
            result = _fit(cell, parent.logger(run_id), on_epoch=on_epoch, cache=run.cache)
            value = result.final[study.metric.name]
            if not math.isfinite(value):
                raise CellFailed(f"the final {study.metric.name} is {value} (not a finite number)")
        except BaseException as e:
            if not _failed(run, claim, run_id, e, "cell", cell.cell_id):
                raise
            return
    pause_point("cell.fitted")
    if not claim.complete(value):
        _settle(run, claim, run_id, LOST_RACE, LOST_RACE.reason(None), GO_ON, cell.cell_id)
        return
    pause_point("cell.told")
    parent.finish_cell(run_id, "FINISHED")
    emit("done", cell=cell.cell_id, status="FINISHED", value=value)
    pause_point("cell.done")


def _fit(cell: Cell, logger, **kwargs):
    """train.fit; when it raises, the epochs its logger holds are written before the run is closed (as
    failed, killed or pruned), as far as the store lets: the error the policy judges stays fit's (a locked or
    full store must not turn a Ctrl-C into a failed cell). A fit that returns has written them all."""
    from ablate import train

    try:
        return train.fit(cell, logger, **kwargs)
    except BaseException:
        with contextlib.suppress(Exception):
            logger.flush()
        raise


def run_tune(run: StudyRun) -> dict[str, float]:
    """Run tune trials until `tune.trials` have counted, then freeze the best values (resume-safe).

    A finished tune phase is never redone: its frozen values are stored on the Optuna study and returned
    as they are. An interrupted one continues where it stopped (its dead worker's trial is failed and
    does not count). Trials run here, one at a time.
    """
    study = run.study
    tuning = run.schedule.tune_study(study)
    if (frozen := tuning.frozen()) is not None:
        return frozen
    tuning.recover(run.parent)
    if run.cache is None:
        from ablate.cache import WorkerCache

        run = dataclasses.replace(run, cache=WorkerCache())
    while tuning.counted() < study.tune.trials:
        run_tune_trial(run, tuning)
    return tuning.freeze(study)


def run_tune_trial(run: StudyRun, tuning: TuneStudy) -> None:
    """Sample one configuration on the tune arm, train it with pruning, record it."""
    from ablate.tuning import objective, tune_cell

    study, parent, emit = run.study, run.parent, run.emit
    trial = tuning.ask(study)
    cell, name = tune_cell(study, trial.values), f"tune/trial{trial.number:03d}"
    run_id = parent.start_cell(cell, trial.number, phase="tune", name=name)
    trial.set_run_id(run_id)
    metric, epochs = study.tune.metric, cell.study.train.epochs
    emit("start", cell=name)

    def on_metrics(epoch: int, m: dict[str, float]) -> None:
        trial.report(m[metric], epoch)
        emit("epoch", cell=name, epoch=epoch, epochs=epochs)
        if epoch < epochs and trial.should_prune():  # a trial that ran every epoch completes
            raise Pruned(f"pruned at epoch {epoch}: {metric} {m[metric]:.4f}")

    try:
        result = _fit(cell, parent.logger(run_id), on_metrics=on_metrics, cache=run.cache)
    except Pruned as e:
        parent.logger(run_id).set_tags(CellRecord.tune_tags("pruned", str(e)))
        parent.finish_cell(run_id, "FINISHED")
        trial.prune()
        emit("done", cell=name, status="PRUNED")
        return
    except BaseException as e:  # a diverged setting is an answer too: it counts, and the sampler avoids it
        if not _failed(run, trial, run_id, e, "tune", name):
            raise
        return
    value = objective(result.history, metric)
    parent.logger(run_id).set_tags(CellRecord.tune_tags("complete"))
    parent.finish_cell(run_id, "FINISHED")
    trial.complete(value)
    emit("done", cell=name, status="FINISHED", value=value)
