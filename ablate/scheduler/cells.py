"""Exactly-once cells on an Optuna study: enqueue each cell once, claim, settle, adopt finished runs.

Every cell is enqueued as a WAITING trial tagged with its cell id; a worker claims a trial by the storage's
atomic WAITING -> RUNNING transition (what Study.ask does internally), so no two workers run the same trial,
and no worker ever creates a trial of its own. Resume: COMPLETE cells are skipped; a RUNNING cell whose
worker is gone (liveness.py) is failed and enqueued again; a cell that failed for a reason that retrying
cannot fix (divergence) stays failed. MLflow is the record of results; the Optuna study only schedules.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from ablate.records import TrialAttr
from ablate.scheduler import _optuna, liveness
from ablate.testpoints import pause_point

if TYPE_CHECKING:
    from ablate.parentrun import ParentRun
    from ablate.study import Study

MAX_INTERRUPTS = 3
A = TrialAttr


class Stale(Exception):
    """This process's trial was finished by another one (failed as stale while this process was frozen,
    or its worker counted as dead): the cell is no longer this worker's to record."""


class Handle:
    """A RUNNING trial this process owns: how a worker records the course of its cell (or tune trial)."""

    def __init__(self, ostudy: optuna.Study, trial: optuna.Trial):
        self.ostudy, self.trial = ostudy, trial

    @property
    def number(self) -> int:
        return self.trial.number

    def set_run_id(self, run_id: str) -> None:
        with self.owned():
            self.trial.set_user_attr(A.RUN_ID, run_id)

    @contextlib.contextmanager
    def owned(self):
        """Writes to the trial; whatever Optuna raises for a trial another process finished meanwhile
        (UpdateFinishedTrialError, a ValueError from tell or suggest) becomes Stale."""
        try:
            yield
        except Exception:
            if _optuna.is_finished(_optuna.storage_of(self.ostudy), _optuna.trial_id(self.trial)):
                raise Stale(f"trial {self.number} was finished by another process") from None
            raise

    def complete(self, value: float) -> bool:
        """Tell the result; False if another process failed the trial first (a lost race)."""
        return _tell(self.ostudy, self.trial, value)

    def fail(self, reason: str, retry: bool, interrupted: bool = False) -> None:
        try:
            self.trial.set_user_attr(A.FAILURE, reason[:2000])
            self.trial.set_user_attr(A.RETRY, retry)
            if interrupted:
                self.trial.set_user_attr(A.INTERRUPTED, True)
        except optuna.exceptions.UpdateFinishedTrialError:
            return  # failed as stale meanwhile; the MLflow run still gets this reason
        _tell(self.ostudy, self.trial, state=TrialState.FAIL)


class Claim(Handle):
    """A claimed cell's trial."""

    def __init__(self, ostudy: optuna.Study, trial: optuna.Trial, cell_id: str):
        super().__init__(ostudy, trial)
        self.cell_id = cell_id

    def heartbeat(self):
        return liveness.heartbeat(self.ostudy, self.trial)

    def stamp(self, study: Study, worker: str | None = None, start: str | None = None) -> None:
        """Who runs the cell (this process unless told); and its fixed enqueued values, suggested so they are
        the trial's params. The process's start time is written before its name: a judge never reads a
        worker named with another process's start time (as a reused pid)."""
        with self.owned():
            self.trial.set_user_attr(A.WORKER_START, liveness.proc_start(os.getpid()) if start is None else start)
            self.trial.set_user_attr(A.WORKER, worker or liveness.host_id())
            self.trial.suggest_categorical("arm", arm_choices(self.ostudy, study))
            self.trial.suggest_int("seed", min(study.possible_seeds), max(study.possible_seeds))

    def superseded(self) -> str | None:
        """Two `ablate run`s enqueueing at once can give a cell two trials: the lowest-numbered one runs."""
        for t in self.ostudy.get_trials(deepcopy=False):
            if t.user_attrs.get(A.CELL) != self.cell_id or t.number == self.number or t.user_attrs.get(A.DUPLICATE):
                continue
            if t.state == TrialState.COMPLETE:
                return f"duplicate: cell {self.cell_id} already finished in trial {t.number}"
            if t.number < self.number and t.state in (TrialState.WAITING, TrialState.RUNNING):
                return f"duplicate: trial {t.number} holds cell {self.cell_id}"
        return None

    def drop(self, why: str) -> None:
        try:
            for key, value in ((A.DUPLICATE, True), (A.FAILURE, why), (A.RETRY, False)):
                self.trial.set_user_attr(key, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            return
        _tell(self.ostudy, self.trial, state=TrialState.FAIL)


def arm_choices(ostudy: optuna.Study, study: Study) -> list[str]:
    """The arm names as the trials' `arm` parameter lists them. Optuna refuses a second list for one
    parameter name ("dynamic value space"), so the list is sorted (reordering factors keeps it), and a study
    whose trials already hold another order (made before arm lists were sorted) keeps its own."""
    names = sorted(a.name for a in study.arms())
    for t in ostudy.get_trials(deepcopy=False):
        dist = t.distributions.get("arm")
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            return list(dist.choices) if set(dist.choices) == set(names) else names
    return names


def _tell(ostudy: optuna.Study, trial: optuna.Trial, value: float | None = None, state=None) -> bool:
    """Study.tell; False when the trial was finished by another process (Optuna says so by
    UpdateFinishedTrialError, or by ValueError "Cannot tell a FAIL trial" when it sees that first)."""
    try:
        ostudy.tell(trial, value, state=state)
        return True
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    except ValueError:
        if _optuna.is_finished(_optuna.storage_of(ostudy), _optuna.trial_id(trial)):
            return False
        raise


@dataclass
class Plan:
    total: int
    done: int = 0
    failed: int = 0
    enqueued: int = 0
    live: int = 0  # cells with a WAITING or RUNNING trial (here or on another machine)
    recovered: list[tuple[str, str | None]] = field(default_factory=list)  # (cell id, run id) re-enqueued


def by_cell(trials) -> dict[str, list[optuna.trial.FrozenTrial]]:
    out: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        cid = t.user_attrs.get(A.CELL)
        if cid is not None and not t.user_attrs.get(A.DUPLICATE):
            out.setdefault(cid, []).append(t)
    return out


def _interrupted(t: optuna.trial.FrozenTrial) -> bool:
    """A failed attempt whose worker stopped (killed, Ctrl-C, stale heartbeat), not a cell that failed."""
    return bool(t.user_attrs.get(A.INTERRUPTED)) or A.FAILURE not in t.user_attrs


def fail_dead(ostudy: optuna.Study, t: optuna.trial.FrozenTrial, reason: str) -> bool:
    """Fail a dead worker's trial; True only in the one process whose FAIL took effect (it re-enqueues)."""
    return _optuna.fail_other(ostudy, t, {A.FAILURE: f"interrupted: {reason}", A.INTERRUPTED: True})


def enqueue_cells(ostudy: optuna.Study, study: Study, retry_failed: bool = False, rerun: bool = True) -> Plan:
    """Make every unfinished cell runnable exactly once; fail and re-enqueue the cells of dead workers.

    rerun=True (a new `ablate run`): a cell whose last attempt failed runs again unless it failed for a reason
    retrying cannot fix (divergence; those too with retry_failed). rerun=False (a worker out of cells): only
    cells whose worker died run again, at most MAX_INTERRUPTS times, so a cell that kills every worker that
    tries it (out of memory) cannot take down a whole fleet.
    """
    liveness.fail_stale(ostudy)
    storage = _optuna.storage_of(ostudy)
    trials_of = by_cell(ostudy.get_trials(deepcopy=False))
    plan = Plan(len(study.cells()))
    for cell in study.cells():
        trials = trials_of.get(cell.cell_id, [])
        if any(t.state == TrialState.COMPLETE for t in trials):
            plan.done += 1
            continue
        live, recovered = False, set()
        for t in trials:
            if t.state == TrialState.RUNNING and (why := liveness.gone(t, storage)):
                if fail_dead(ostudy, t, why):
                    plan.recovered.append((cell.cell_id, t.user_attrs.get(A.RUN_ID)))
                    recovered.add(t.number)
                    continue
            live = live or t.state in (TrialState.WAITING, TrialState.RUNNING)
        if live:
            plan.live += 1
            continue
        if trials and not _retry(trials, recovered, retry_failed, rerun):
            plan.failed += 1
            continue
        attrs = {A.CELL: cell.cell_id, **({A.RETRY_OF: trials[-1].number} if trials else {})}
        ostudy.enqueue_trial({"arm": cell.arm.name, "seed": cell.seed}, user_attrs=attrs)
        pause_point("enqueue")
        plan.enqueued += 1
        plan.live += 1
    return plan


def _retry(trials, recovered: set[int], retry_failed: bool, rerun: bool) -> bool:
    last = trials[-1]
    interrupted = last.number in recovered or _interrupted(last)
    if not rerun:
        return interrupted and sum(t.number in recovered or _interrupted(t) for t in trials) < MAX_INTERRUPTS
    if last.user_attrs.get(A.RETRY) is False and not interrupted:
        return retry_failed  # diverged: only on request
    return True


def adopt_finished_runs(ostudy: optuna.Study, study: Study, parent: ParentRun) -> int:
    """Cells the Optuna study has no trial for, yet MLflow holds a FINISHED run of (the journal was deleted or
    a fresh storage given): record each as a COMPLETE trial with the run's final metric, instead of training
    it again. Returns the cells adopted."""
    have = set(by_cell(ostudy.get_trials(deepcopy=False)))
    missing = {c.cell_id: c for c in study.cells() if c.cell_id not in have}
    if not missing:
        return 0
    space = {"arm": optuna.distributions.CategoricalDistribution(arm_choices(ostudy, study)),
             "seed": optuna.distributions.IntDistribution(min(study.possible_seeds), max(study.possible_seeds))}
    adopted = 0
    for run in sorted(parent.cell_records(status="FINISHED"), key=lambda r: r.start_time_ms or 0):
        cell = missing.pop(run.cell_id, None)
        if cell is None or run.phase != "ablate":
            continue
        value = run.metrics.get(study.metric.name)
        if value is None or not math.isfinite(value):
            missing[cell.cell_id] = cell  # no final metric: the cell runs again
            continue
        ostudy.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=value, params={"arm": cell.arm.name, "seed": cell.seed},
            distributions=space, user_attrs={A.CELL: cell.cell_id, A.RUN_ID: run.run_id, A.ADOPTED: True}))
        adopted += 1
    return adopted


def claim(ostudy: optuna.Study, cells: set[str] | None = None) -> Claim | None:
    """Take one WAITING trial (of `cells`, if given) atomically; None when none waits. Never creates one."""
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        cid = t.user_attrs.get(A.CELL)
        if cells is not None and cid not in cells:
            continue
        trial = _optuna.take(ostudy, t)
        if trial is not None:
            return Claim(ostudy, trial, cid)
    return None


def settle_runs(ostudy: optuna.Study, parent: ParentRun) -> int:
    """Close the cell runs that dead workers left RUNNING: FINISHED where the trial completed (killed between
    Optuna's write and MLflow's), else KILLED/FAILED with the reason. Runs are listed before trials are read,
    so a run that a live worker has just started is always seen with its trial RUNNING, and left alone."""
    running = [r for r in parent.cell_records(status="RUNNING") if r.phase == "ablate"]
    if not running:
        return 0
    trials = {t.number: t for t in ostudy.get_trials(deepcopy=False)}
    for run in running:
        t = trials.get(-1 if run.trial_number is None else run.trial_number)
        if t is not None and t.user_attrs.get(A.RUN_ID) not in (None, run.run_id):
            t = None  # that number is another run's trial (the Optuna storage was replaced): an orphan
        if t is not None and t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        if t is not None and t.state == TrialState.COMPLETE:
            parent.finish_cell(run.run_id, "FINISHED")
            continue
        if t is not None and not _interrupted(t):
            parent.finish_cell(run.run_id, "FAILED", t.user_attrs[A.FAILURE])
            continue
        reason = (t.user_attrs.get(A.FAILURE) if t is not None else None) or (
            f"interrupted: its worker stopped (no heartbeat for {3 * liveness.heartbeat_seconds()} s, or its "
            "process ended) before the cell finished")
        parent.finish_cell(run.run_id, "KILLED", f"{reason}; the cell runs again")
    return len(running)


def outcomes(ostudy: optuna.Study, study: Study) -> tuple[set[str], dict[str, str]]:
    """(finished cell ids, failed cell id -> reason) as the trials stand; a later success clears a failure."""
    ids = {c.cell_id for c in study.cells()}
    finished: set[str] = set()
    failed: dict[str, str] = {}
    for t in sorted(ostudy.get_trials(deepcopy=False), key=lambda t: t.number):
        cid = t.user_attrs.get(A.CELL)
        if cid not in ids or t.user_attrs.get(A.DUPLICATE):
            continue
        if t.state == TrialState.COMPLETE:
            finished.add(cid)
            failed.pop(cid, None)
        elif t.state == TrialState.FAIL and cid not in finished:
            failed[cid] = t.user_attrs.get(A.FAILURE, "failed")
    return finished, failed
