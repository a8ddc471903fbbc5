"""A worker: claims cells (or samples tune trials), trains each, records it; one table says what a failure means.

Optuna is told first and MLflow closed second: a kill between the two leaves a COMPLETE trial beside a
RUNNING run, which cells.settle_runs marks FINISHED (the cell is never retrained). Every Optuna step goes
through scheduler/ (this module imports no optuna); every MLflow step through the Tracker.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ablate import interrupts
from ablate.errors import AblateError, CellFailed
from ablate.records import CellRecord
from ablate.scheduler import cells, liveness, tune
from ablate.testpoints import pause_point

if TYPE_CHECKING:
    from ablate.cache import WorkerCache
    from ablate.study import Cell, Study

Emit = Callable[..., None]
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


def _settle(handle: cells.Handle, tracker, run_id: str | None, outcome: Outcome, reason: str, then: str,
            emit: Emit, name: str) -> bool:
    """Record a failure in Optuna and MLflow; True when the worker goes on."""
    if outcome.tell:
        handle.fail(reason, retry=outcome.retry, interrupted=outcome.interrupted)
    if run_id is not None:
        tracker.finish(run_id, outcome.status, reason)
    if then == GO_ON:  # a lost race (KILLED) is not this worker's failure: not shown as one
        emit("done", cell=name, status=outcome.status, reason=reason.splitlines()[0] if reason else "")
    return then == GO_ON


def _failed(handle: cells.Handle, tracker, run_id: str | None, e: BaseException, kind: str, emit: Emit,
            name: str) -> bool:
    """The table applied to `e` (inside its except block); False: the caller re-raises."""
    outcome = policy(e)
    if outcome is None:
        return False
    return _settle(handle, tracker, run_id, outcome, outcome.reason(e), getattr(outcome, kind), emit, name)


def _quiet(*args, **kwargs) -> None:
    pass


def run_cells(study: Study, ostudy, tracker, parent_id: str, emit: Emit | None = None, wait: bool = True,
              work: bool = True, cache: WorkerCache | None = None) -> int:
    """The worker loop: claim, train, record. With no cell waiting, recover dead workers' cells, and (wait)
    stay while another worker's cell still runs: if that worker dies, this one runs the cell again.
    work=False only watches (a coordinator whose workers are elsewhere). Returns the cells run here."""
    emit = emit or _quiet
    if cache is None and work:
        from ablate.cache import WorkerCache

        cache = WorkerCache()  # this worker's, for all the cells it runs
    by_id = {c.cell_id: c for c in study.cells()}
    poll = liveness.poll_seconds(ostudy)
    ran = 0
    while True:
        interrupts.check()
        claim = cells.claim(ostudy, set(by_id)) if work else None
        if claim is not None:
            if why := claim.superseded():
                claim.drop(why)
                continue
            run_one(by_id[claim.cell_id], claim, tracker, parent_id, emit, cache)
            ran += 1
            continue
        plan = cells.enqueue_cells(ostudy, study, rerun=False)
        emit("count", done=plan.done + plan.failed, total=plan.total)
        if plan.enqueued:
            cells.settle_runs(ostudy, tracker, parent_id)
            if work:
                continue
        if not wait or plan.live == 0:
            return ran
        time.sleep(poll)


def run_one(cell: Cell, claim: cells.Claim, tracker, parent_id: str, emit: Emit = _quiet,
            cache: WorkerCache | None = None) -> None:
    """Train one claimed cell and record it (the failure policy above decides what a failure means)."""
    study = cell.study

    def on_epoch(epoch: int, epochs: int) -> None:
        emit("epoch", cell=cell.cell_id, epoch=epoch, epochs=epochs)
        pause_point("epoch")

    with claim.heartbeat():
        run_id = None
        try:
            claim.stamp(study)
            pause_point("cell.claimed")
            run_id = tracker.start_cell(parent_id, cell, claim.number)
            pause_point("cell.run_created")
            claim.set_run_id(run_id)
            emit("start", cell=cell.cell_id)
            result = _fit(cell, tracker.logger(run_id), on_epoch=on_epoch, cache=cache)
            value = result.final[study.metric.name]
            if not math.isfinite(value):
                raise CellFailed(f"the final {study.metric.name} is {value} (not a finite number)")
        except BaseException as e:
            if not _failed(claim, tracker, run_id, e, "cell", emit, cell.cell_id):
                raise
            return
    pause_point("cell.fitted")
    if not claim.complete(value):
        _settle(claim, tracker, run_id, LOST_RACE, LOST_RACE.reason(None), GO_ON, emit, cell.cell_id)
        return
    pause_point("cell.told")
    tracker.finish(run_id, "FINISHED")
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


def run_tune(study: Study, storage, tracker, parent_id: str, emit: Emit | None = None,
             cache: WorkerCache | None = None) -> dict[str, float]:
    """Run tune trials until `tune.trials` have counted, then freeze the best values (resume-safe).

    A finished tune phase is never redone: its frozen values are stored on the Optuna study and returned
    as they are. An interrupted one continues where it stopped (its dead worker's trial is failed and
    does not count). Trials run here, one at a time.
    """
    emit = emit or _quiet
    tstudy = tune.open_tune_study(study, storage)
    if (frozen := tune.frozen(tstudy)) is not None:
        return frozen
    tune.recover(tstudy, tracker)
    if cache is None:
        from ablate.cache import WorkerCache

        cache = WorkerCache()
    while tune.tune_counted(tstudy) < study.tune.trials:
        run_tune_trial(study, tstudy, tracker, parent_id, emit, cache)
    return tune.freeze(study, tstudy)


def run_tune_trial(study: Study, tstudy, tracker, parent_id: str, emit: Emit = _quiet,
                   cache: WorkerCache | None = None) -> None:
    """Sample one configuration on the tune arm, train it with pruning, record it."""
    from ablate.tuning import objective, tune_cell

    trial = tune.ask(study, tstudy)
    cell, name = tune_cell(study, trial.values), f"tune/trial{trial.number:03d}"
    run_id = tracker.start_cell(parent_id, cell, trial.number, phase="tune", name=name)
    trial.set_run_id(run_id)
    metric, epochs = study.tune.metric, cell.study.train.epochs
    emit("start", cell=name)

    def on_metrics(epoch: int, m: dict[str, float]) -> None:
        trial.report(m[metric], epoch)
        emit("epoch", cell=name, epoch=epoch, epochs=epochs)
        if epoch < epochs and trial.should_prune():  # a trial that ran every epoch completes
            raise Pruned(f"pruned at epoch {epoch}: {metric} {m[metric]:.4f}")

    try:
        result = _fit(cell, tracker.logger(run_id), on_metrics=on_metrics, cache=cache)
    except Pruned as e:
        tracker.logger(run_id).set_tags(CellRecord.tune_tags("pruned", str(e)))
        tracker.finish(run_id, "FINISHED")
        trial.prune()
        emit("done", cell=name, status="PRUNED")
        return
    except BaseException as e:  # a diverged setting is an answer too: it counts, and the sampler avoids it
        if not _failed(trial, tracker, run_id, e, "tune", emit, name):
            raise
        return
    value = objective(result.history, metric)
    tracker.logger(run_id).set_tags(CellRecord.tune_tags("complete"))
    tracker.finish(run_id, "FINISHED")
    trial.complete(value)
    emit("done", cell=name, status="FINISHED", value=value)
