"""The only module that imports optuna: storage, enqueueing each cell once, workers that claim cells.

Exactly-once: every cell is enqueued as a WAITING trial tagged with its cell id; a worker claims a trial by
the storage's atomic WAITING -> RUNNING transition (what Study.ask does internally), so no two workers run
the same trial, and no worker ever creates a trial of its own. Resume: COMPLETE cells are skipped; a RUNNING
cell whose worker is gone (same host, dead pid; or, across machines, a stale heartbeat) is failed and
enqueued again; a cell that failed for a reason that retrying cannot fix (divergence) stays failed.
"""

from __future__ import annotations

import math
import os
import platform
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from ablate.errors import AblateError, CellFailed
from ablate.study import Cell, Study
from ablate.testpoints import pause_point
from ablate.uri import redact_uri

DEFAULT_STORAGE = "optuna.journal"
CELL = "ablate.cell_id"
WORKER = "ablate.worker"  # host:pid of the worker running the trial
WORKER_START = "ablate.worker_start"  # that process's start time, against pid reuse
BEAT = "ablate.heartbeat"  # journal storages: unix time of the worker's last heartbeat
RUN_ID = "ablate.run_id"
FAILURE = "ablate.failure"
RETRY = "ablate.retry"  # False: failed for a reason retrying cannot fix (divergence)
INTERRUPTED = "ablate.interrupted"  # the worker stopped (killed, Ctrl-C, stale), the cell did not fail
DUPLICATE = "ablate.duplicate"  # a second trial of a cell, dropped unrun
RETRY_OF = "ablate.retry_of"
ADOPTED = "ablate.adopted"  # a COMPLETE trial rebuilt from a FINISHED MLflow run (the Optuna storage was lost)
HEARTBEAT_SECONDS = 30
STALE_SECONDS = 300
CLAIM_GRACE_SECONDS = 30
MAX_INTERRUPTS = 3

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
    beat = heartbeat_seconds()  # a RUNNING trial silent for 3 beats is failed and its cell retried
    url = _pg_driver(url)
    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, heartbeat_interval=beat, grace_period=3 * beat,
                                  engine_kwargs={"pool_pre_ping": True})
        except Exception as e:  # unreachable server, missing driver, bad URL: the user's to fix
            # machines starting at once on a fresh database race to create Optuna's tables: one wins, the
            # others see its half-made schema; a moment later the schema is whole
            if type(e).__name__ in ("IntegrityError", "ProgrammingError") and attempt < 5:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise AblateError(f"cannot open the Optuna storage {redact_uri(url)}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None
    raise AssertionError("unreachable")


def _pg_driver(url: str) -> str:
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; use psycopg2 when only that one is installed."""
    import importlib.util

    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def open_study(study: Study, storage, create: bool = True) -> optuna.Study:
    direction = study.metric.resolved_direction
    if create:
        return optuna.create_study(study_name=study.name, storage=storage, direction=direction,
                                   load_if_exists=True)
    return optuna.load_study(study_name=study.name, storage=storage)


def heartbeat_seconds() -> int:
    """Seconds between a running cell's heartbeats ($ABLATE_HEARTBEAT_SECONDS, default 30; tests use 1)."""
    raw = os.environ.get("ABLATE_HEARTBEAT_SECONDS", str(HEARTBEAT_SECONDS))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise AblateError(f"ABLATE_HEARTBEAT_SECONDS must be a whole number of seconds >= 1 (given: {raw!r})")
    return value


def stale_seconds() -> int:
    """Silence after which a journal-storage worker on another machine counts as dead (clocks may differ)."""
    return max(STALE_SECONDS, 10 * heartbeat_seconds())


def _host() -> str:
    """This machine and PID namespace: the scope in which a worker's pid can be checked directly."""
    forced = os.environ.get("ABLATE_HOST_ID")  # e.g. containers that share a hostname; tests of many machines
    if forced:
        return forced
    try:
        ns = os.readlink("/proc/self/ns/pid").rpartition("[")[2].rstrip("]")
    except OSError:
        ns = ""
    return f"{platform.node()}/{ns}" if ns else platform.node()


def host_id() -> str:
    return f"{_host()}:{os.getpid()}"


def _proc_start(pid: int) -> str:
    """The process's start time in clock ticks (Linux), so a reused pid is not mistaken for the worker."""
    return _proc_field(pid, 19)


def _proc_field(pid: int, index: int) -> str:
    """A field of /proc/<pid>/stat after the command name (0: state, 19: start time); '' elsewhere."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[index]
    except (OSError, IndexError):
        return ""


def is_zombie(pid: int) -> bool:
    """The process ended but nobody reaped it yet (a container without an init, a parent not yet waiting)."""
    return _proc_field(pid, 0) in ("Z", "X")


def _gone(t: optuna.trial.FrozenTrial, storage) -> str | None:
    """Why a RUNNING trial's worker is dead, or None while it may still be alive."""
    worker = t.user_attrs.get(WORKER)
    if not worker:  # claimed but never stamped: the worker died in the instant after its claim
        started = t.datetime_start.timestamp() if t.datetime_start else 0.0
        late = time.time() - started > CLAIM_GRACE_SECONDS
        return "its worker stopped right after claiming the cell" if late else None
    host, _, pid = worker.rpartition(":")
    if host == _host():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return f"its worker process ({worker}) ended before the cell finished"
        except (ValueError, OSError):
            return None
        started = t.user_attrs.get(WORKER_START)
        if started and started != _proc_start(int(pid)):
            return f"its worker process ({worker}) ended before the cell finished (the pid was reused)"
        if is_zombie(int(pid)):
            return f"its worker process ({worker}) ended before the cell finished"
        return None
    if is_heartbeat_enabled(storage):
        return None  # another machine, RDB storage: Optuna's heartbeat decides (see _fail_stale)
    silent = time.time() - float(t.user_attrs.get(BEAT, 0.0))
    if silent > stale_seconds():
        return f"its worker ({worker}) sent no heartbeat for {silent:.0f} s"
    return None


def _worker_gone(t: optuna.trial.FrozenTrial, storage=None) -> bool:
    return _gone(t, storage) is not None


@dataclass
class Plan:
    total: int
    done: int = 0
    failed: int = 0
    enqueued: int = 0
    live: int = 0  # cells with a WAITING or RUNNING trial (here or on another machine)
    recovered: list[tuple[str, str | None]] = field(default_factory=list)  # (cell id, run id) re-enqueued


def _by_cell(trials) -> dict[str, list[optuna.trial.FrozenTrial]]:
    out: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        cid = t.user_attrs.get(CELL)
        if cid is not None and not t.user_attrs.get(DUPLICATE):
            out.setdefault(cid, []).append(t)
    return out


def _interrupted(t: optuna.trial.FrozenTrial) -> bool:
    """A failed attempt whose worker stopped (killed, Ctrl-C, stale heartbeat), not a cell that failed."""
    return bool(t.user_attrs.get(INTERRUPTED)) or FAILURE not in t.user_attrs


def enqueue_cells(ostudy: optuna.Study, study: Study, retry_failed: bool = False, rerun: bool = True) -> Plan:
    """Make every unfinished cell runnable exactly once; fail and re-enqueue the cells of dead workers.

    rerun=True (a new `ablate run`): a cell whose last attempt failed runs again unless it failed for a reason
    retrying cannot fix (divergence; those too with retry_failed). rerun=False (a worker out of cells): only
    cells whose worker died run again, at most MAX_INTERRUPTS times, so a cell that kills every worker that
    tries it (out of memory) cannot take down a whole fleet.
    """
    _fail_stale(ostudy)
    by_cell = _by_cell(ostudy.get_trials(deepcopy=False))
    plan = Plan(len(study.cells()))
    for cell in study.cells():
        trials = by_cell.get(cell.cell_id, [])
        if any(t.state == TrialState.COMPLETE for t in trials):
            plan.done += 1
            continue
        live, recovered = False, set()
        for t in trials:
            if t.state == TrialState.RUNNING and (why := _gone(t, ostudy._storage)):
                if _fail_trial(ostudy, t, why):
                    plan.recovered.append((cell.cell_id, t.user_attrs.get(RUN_ID)))
                    recovered.add(t.number)
                    continue
            live = live or t.state in (TrialState.WAITING, TrialState.RUNNING)
        if live:
            plan.live += 1
            continue
        if trials and not _retry(trials, recovered, retry_failed, rerun):
            plan.failed += 1
            continue
        attrs = {CELL: cell.cell_id, **({RETRY_OF: trials[-1].number} if trials else {})}
        ostudy.enqueue_trial({"arm": cell.arm.name, "seed": cell.seed}, user_attrs=attrs)
        pause_point("enqueue")
        plan.enqueued += 1
        plan.live += 1
    return plan


def adopt_finished_runs(ostudy: optuna.Study, study: Study, tracker, parent_id: str) -> int:
    """Cells the Optuna study has no trial for, yet MLflow holds a FINISHED run of (the journal was deleted or
    a fresh storage given): record each as a COMPLETE trial with the run's final metric, instead of training
    it again. MLflow is the record of results; the Optuna study only schedules. Returns the cells adopted."""
    have = set(_by_cell(ostudy.get_trials(deepcopy=False)))
    missing = {c.cell_id: c for c in study.cells() if c.cell_id not in have}
    if not missing:
        return 0
    arms = [a.name for a in study.arms()]
    space = {"arm": optuna.distributions.CategoricalDistribution(arms),
             "seed": optuna.distributions.IntDistribution(min(study.seeds), max(study.seeds))}
    adopted = 0
    for run in sorted(tracker.cell_records(parent_id, status="FINISHED"), key=lambda r: r.start_time_ms or 0):
        cell = missing.pop(run.cell_id, None)
        if cell is None or run.phase != "ablate":
            continue
        value = run.metrics.get(study.metric.name)
        if value is None or not math.isfinite(value):
            missing[cell.cell_id] = cell  # no final metric: the cell runs again
            continue
        ostudy.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=value, params={"arm": cell.arm.name, "seed": cell.seed},
            distributions=space, user_attrs={CELL: cell.cell_id, RUN_ID: run.run_id, ADOPTED: True}))
        adopted += 1
    return adopted


def _retry(trials, recovered: set[int], retry_failed: bool, rerun: bool) -> bool:
    last = trials[-1]
    interrupted = last.number in recovered or _interrupted(last)
    if not rerun:
        return interrupted and sum(t.number in recovered or _interrupted(t) for t in trials) < MAX_INTERRUPTS
    if last.user_attrs.get(RETRY) is False and not interrupted:
        return retry_failed  # diverged: only on request
    return True


def _fail_stale(ostudy: optuna.Study) -> None:
    """RDB storages: Optuna fails RUNNING trials whose heartbeat stopped; enqueue_cells then re-enqueues."""
    if is_heartbeat_enabled(ostudy._storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(ostudy)


def _fail_trial(ostudy: optuna.Study, t: optuna.trial.FrozenTrial, reason: str) -> bool:
    """Fail a dead worker's trial; True only in the one process whose FAIL took effect (it re-enqueues)."""
    storage = ostudy._storage
    try:
        storage.set_trial_user_attr(t._trial_id, FAILURE, f"interrupted: {reason}")
        storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
        return bool(storage.set_trial_state_values(t._trial_id, TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def claim(ostudy: optuna.Study, cells: set[str] | None = None) -> optuna.Trial | None:
    """Take one WAITING trial (of `cells`, if given) atomically; None when none waits. Never creates one."""
    storage = ostudy._storage
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if cells is not None and t.user_attrs.get(CELL) not in cells:
            continue
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                return optuna.Trial(ostudy, t._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _superseded(ostudy: optuna.Study, trial: optuna.Trial, cell_id: str) -> str | None:
    """Two `ablate run`s enqueueing at once can give a cell two trials: the lowest-numbered one runs."""
    for t in ostudy.get_trials(deepcopy=False):
        if t.user_attrs.get(CELL) != cell_id or t.number == trial.number or t.user_attrs.get(DUPLICATE):
            continue
        if t.state == TrialState.COMPLETE:
            return f"duplicate: cell {cell_id} already finished in trial {t.number}"
        if t.number < trial.number and t.state in (TrialState.WAITING, TrialState.RUNNING):
            return f"duplicate: trial {t.number} holds cell {cell_id}"
    return None


def run_cells(study: Study, ostudy: optuna.Study, tracker, parent_id: str, emit: Emit | None = None,
              wait: bool = True, work: bool = True) -> int:
    """The worker loop: claim, train, record. With no cell waiting, recover dead workers' cells, and (wait)
    stay while another worker's cell still runs: if that worker dies, this one runs the cell again.
    work=False only watches (a coordinator whose workers are elsewhere). Returns the cells run here."""
    emit = emit or (lambda *a, **k: None)
    cells = {c.cell_id: c for c in study.cells()}
    poll = 1.0 if is_heartbeat_enabled(ostudy._storage) else 0.1  # a journal poll costs ~1 ms
    ran = 0
    while True:
        trial = claim(ostudy, set(cells)) if work else None
        if trial is not None:
            cell = cells[trial.user_attrs[CELL]]
            if why := _superseded(ostudy, trial, cell.cell_id):
                _drop(ostudy, trial, why)
                continue
            _run_one(cell, trial, ostudy, tracker, parent_id, emit)
            ran += 1
            continue
        plan = enqueue_cells(ostudy, study, rerun=False)
        emit("count", done=plan.done + plan.failed, total=plan.total)
        if plan.enqueued:
            settle_runs(ostudy, tracker, parent_id)
            if work:
                continue
        if not wait or plan.live == 0:
            return ran
        time.sleep(poll)


def _drop(ostudy: optuna.Study, trial: optuna.Trial, why: str) -> None:
    try:
        trial.set_user_attr(DUPLICATE, True)
        trial.set_user_attr(FAILURE, why)
        trial.set_user_attr(RETRY, False)
        ostudy.tell(trial, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


@contextmanager
def heartbeat(ostudy: optuna.Study, trial_id: int):
    """Keep a claimed trial visibly alive while its cell trains, so only dead workers' cells are retried.

    RDB storages: Optuna's own heartbeat thread (what Study.optimize runs around each trial; our claim
    bypasses optimize, so it is started here). Journal files: a thread stamps BEAT for workers elsewhere.
    """
    storage = ostudy._storage
    if is_heartbeat_enabled(storage):
        with get_heartbeat_thread(trial_id, storage):
            yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.set_trial_user_attr(trial_id, BEAT, time.time())
            except Exception:  # finished meanwhile, or a storage hiccup: the next beat tries again
                if storage.get_trial(trial_id).state.is_finished():
                    return
            if stop.wait(heartbeat_seconds()):
                return

    thread = threading.Thread(target=beat, name="ablate-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _run_one(cell: Cell, trial: optuna.Trial, ostudy, tracker, parent_id: str, emit: Emit) -> None:
    """Train one claimed cell. Optuna is told first and MLflow closed second: a kill between the two leaves
    a COMPLETE trial beside a RUNNING run, which settle_runs marks FINISHED (the cell is never retrained)."""
    from ablate.train import fit

    study = cell.study
    with heartbeat(ostudy, trial._trial_id):
        trial.set_user_attr(WORKER, host_id())
        trial.set_user_attr(WORKER_START, _proc_start(os.getpid()))
        # the enqueued values are fixed; suggesting them records them as the trial's params (dashboard, history)
        trial.suggest_categorical("arm", [a.name for a in study.arms()])
        trial.suggest_int("seed", min(study.seeds), max(study.seeds))
        pause_point("cell.claimed")
        run_id = tracker.start_cell(parent_id, cell, trial.number)
        pause_point("cell.run_created")
        trial.set_user_attr(RUN_ID, run_id)
        emit("start", cell=cell.cell_id)
        logger = tracker.logger(run_id)

        def on_epoch(epoch: int, epochs: int) -> None:
            emit("epoch", cell=cell.cell_id, epoch=epoch, epochs=epochs)
            pause_point("epoch")

        try:
            result = fit(cell, logger, on_epoch=on_epoch)
            value = result.final[study.metric.name]
            if not math.isfinite(value):
                raise CellFailed(f"the final {study.metric.name} is {value} (not a finite number)")
        except CellFailed as e:
            _record_failure(ostudy, trial, tracker, run_id, e.reason, retry=False)
            emit("done", cell=cell.cell_id, status="FAILED", reason=e.reason)
            return
        except KeyboardInterrupt:
            _record_failure(ostudy, trial, tracker, run_id, "interrupted by Ctrl-C (SIGINT/SIGTERM)",
                            retry=True, status="KILLED", interrupted=True)
            raise
        except AblateError as e:  # a user-fixable problem (data missing...): stop the study, say why
            _record_failure(ostudy, trial, tracker, run_id, str(e), retry=True)
            raise
        except Exception as e:  # a bug or resource error: fail this cell with the reason, go on
            reason = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"
            _record_failure(ostudy, trial, tracker, run_id, reason, retry=True)
            emit("done", cell=cell.cell_id, status="FAILED", reason=reason.splitlines()[0])
            return
    pause_point("cell.fitted")
    try:
        ostudy.tell(trial, value)
    except optuna.exceptions.UpdateFinishedTrialError:
        reason = ("interrupted: another worker took this cell over (this worker's heartbeat was late); "
                  "the cell's result is the other worker's")
        tracker.finish(run_id, "KILLED", reason)
        emit("done", cell=cell.cell_id, status="FAILED", reason=reason)
        return
    pause_point("cell.told")
    tracker.finish(run_id, "FINISHED")
    emit("done", cell=cell.cell_id, status="FINISHED", value=value)
    pause_point("cell.done")


def _record_failure(ostudy, trial, tracker, run_id, reason, retry, status="FAILED", interrupted=False) -> None:
    try:
        trial.set_user_attr(FAILURE, reason[:2000])
        trial.set_user_attr(RETRY, retry)
        if interrupted:
            trial.set_user_attr(INTERRUPTED, True)
        ostudy.tell(trial, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # failed as stale meanwhile; the MLflow run still gets this reason
    tracker.finish(run_id, status, reason)


def settle_runs(ostudy: optuna.Study, tracker, parent_id: str) -> int:
    """Close the cell runs that dead workers left RUNNING: FINISHED where the trial completed (killed between
    Optuna's write and MLflow's), else KILLED/FAILED with the reason. Runs are listed before trials are read,
    so a run that a live worker has just started is always seen with its trial RUNNING, and left alone."""
    running = [r for r in tracker.cell_records(parent_id, status="RUNNING") if r.phase == "ablate"]
    if not running:
        return 0
    trials = {t.number: t for t in ostudy.get_trials(deepcopy=False)}
    for run in running:
        t = trials.get(-1 if run.trial_number is None else run.trial_number)
        if t is not None and t.user_attrs.get(RUN_ID) not in (None, run.run_id):
            t = None  # that number is another run's trial (the Optuna storage was replaced): an orphan
        if t is not None and t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        if t is not None and t.state == TrialState.COMPLETE:
            tracker.finish(run.run_id, "FINISHED")
            continue
        if t is not None and not _interrupted(t):
            tracker.finish(run.run_id, "FAILED", t.user_attrs[FAILURE])
            continue
        reason = (t.user_attrs.get(FAILURE) if t is not None else None) or (
            f"interrupted: its worker stopped (no heartbeat for {3 * heartbeat_seconds()} s, or its process "
            "ended) before the cell finished")
        tracker.finish(run.run_id, "KILLED", f"{reason}; the cell runs again")
    return len(running)


# ---------------------------------------------------------------------------------------------------------
# Tune phase: sample settings on one arm, prune on the validation metric, freeze the best (ablate/tune.py)
# ---------------------------------------------------------------------------------------------------------
TUNED = "ablate.tuned"
TUNE_STATE = "ablate.tune_state"


def tune_study_name(study: Study) -> str:
    """A separate Optuna study: its trials sample freely, unlike the ablation's fixed enqueued cells."""
    return f"{study.name}:tune"


def _sampler(study: Study) -> optuna.samplers.BaseSampler:
    from ablate.tuning import tune_seed

    spec, seed = study.tune, tune_seed(study)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, spec.trials // 3)))


def _pruner(study: Study) -> optuna.pruners.BasePruner:
    spec = study.tune
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_epochs)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, spec.warmup_epochs),
                                              max_resource=spec.epochs or study.train.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_tune_study(study: Study, storage) -> optuna.Study:
    return optuna.create_study(study_name=tune_study_name(study), storage=storage, load_if_exists=True,
                               direction=study.tune.direction, sampler=_sampler(study), pruner=_pruner(study))


def tune_counted(ostudy: optuna.Study) -> int:
    """Trials that used up the budget: complete, pruned, or failed for good (diverged); not interrupted ones."""
    return sum(1 for t in ostudy.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and t.user_attrs.get(RETRY) is False))


def frozen_values(study: Study, storage) -> dict[str, float] | None:
    """The values a finished tune phase froze (None: no tune block, or the tune phase has not finished)."""
    if study.tune is None:
        return None
    try:
        ostudy = optuna.load_study(study_name=tune_study_name(study), storage=storage)
    except KeyError:
        return None
    return ostudy.user_attrs.get(TUNED)


def run_tune(study: Study, storage, tracker, parent_id: str, emit: Emit | None = None) -> dict[str, float]:
    """Run tune trials until `tune.trials` have counted, then freeze the best values (resume-safe).

    A finished tune phase is never redone: its frozen values are stored on the Optuna study and returned
    as they are. An interrupted one continues where it stopped (its dead worker's trial is failed and
    does not count).
    """
    emit = emit or (lambda *a, **k: None)
    ostudy = open_tune_study(study, storage)
    if (frozen := ostudy.user_attrs.get(TUNED)) is not None:
        return frozen
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _worker_gone(t):
            _fail_trial(ostudy, t, "interrupted: its worker stopped before the trial finished")
            if t.user_attrs.get("ablate.run_id"):
                tracker.finish(t.user_attrs["ablate.run_id"], "KILLED", "interrupted: the tune trial stopped")
    while tune_counted(ostudy) < study.tune.trials:
        _run_tune_trial(study, ostudy, tracker, parent_id, emit)
    done = [t for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        raise AblateError(f"study '{study.name}': no tune trial completed (all {study.tune.trials} were pruned "
                          f"or failed); widen the ranges in tune.params or raise tune.trials")
    frozen = dict(ostudy.best_trial.params)
    ostudy.set_user_attr(TUNED, frozen)
    return frozen


def _run_tune_trial(study: Study, ostudy: optuna.Study, tracker, parent_id: str, emit: Emit) -> None:
    from ablate.train import fit
    from ablate.tuning import objective, search_space, tune_cell

    trial = ostudy.ask()
    trial.set_user_attr(WORKER, host_id())
    trial.set_user_attr(BEAT, time.time())
    values = {path: (trial.suggest_int(path, int(lo), int(hi), log=log) if kind is int
                     else trial.suggest_float(path, lo, hi, log=log))
              for path, (kind, lo, hi, log) in search_space(study).items()}
    cell, name = tune_cell(study, values), f"tune/trial{trial.number:03d}"
    run_id = tracker.start_cell(parent_id, cell, trial.number, phase="tune", name=name)
    trial.set_user_attr("ablate.run_id", run_id)
    metric = study.tune.metric
    emit("start", cell=name)

    def on_metrics(epoch: int, m: dict[str, float]) -> None:
        trial.report(m[metric], epoch)
        emit("epoch", cell=name, epoch=epoch, epochs=cell.study.train.epochs)
        if epoch < cell.study.train.epochs and trial.should_prune():  # a trial that ran every epoch completes
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: {metric} {m[metric]:.4f}")

    try:
        result = fit(cell, tracker.logger(run_id), on_metrics=on_metrics)
    except optuna.TrialPruned as e:
        tracker.logger(run_id).set_tags({TUNE_STATE: "pruned", "ablate.pruned": str(e)})
        tracker.finish(run_id, "FINISHED")
        ostudy.tell(trial, state=TrialState.PRUNED)
        emit("done", cell=name, status="PRUNED")
        return
    except CellFailed as e:  # a diverging setting is an answer too: it counts, and the sampler avoids it
        _record_failure(ostudy, trial, tracker, run_id, e.reason, retry=False)
        emit("done", cell=name, status="FAILED", reason=e.reason)
        return
    except BaseException as e:  # interrupted or a bug: the trial does not count and will be sampled again
        _record_failure(ostudy, trial, tracker, run_id, f"{type(e).__name__}: {e}", retry=True,
                        status="KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    value = objective(result.history, metric)
    tracker.logger(run_id).set_tags({TUNE_STATE: "complete"})
    tracker.finish(run_id, "FINISHED")
    ostudy.tell(trial, value)
    emit("done", cell=name, status="FINISHED", value=value)


PED_ANOVA_MIN_TRIALS = 20


def tune_summary(study: Study, storage) -> dict[str, object]:
    """What the report shows of a finished tune phase: every trial's course, and parameter importances.

    Computed here, once, from the Optuna storage, and logged to MLflow: the report is built from MLflow
    alone. Importances use PED-ANOVA (it scores how much each setting matters among the best trials and
    needs no model fit) from 20 complete trials on; below that its top-10% set is a single trial, so
    fANOVA (a random forest over all complete trials) is used, and is the fallback either way.
    """
    ostudy = optuna.load_study(study_name=tune_study_name(study), storage=storage)
    trials = sorted(ostudy.get_trials(deepcopy=False), key=lambda t: t.number)
    history = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                "run_id": t.user_attrs.get("ablate.run_id"),
                "duration_s": t.duration.total_seconds() if t.duration else None} for t in trials]
    importances, method, reason = {}, "", ""
    evaluators = [("PED-ANOVA", optuna.importance.PedAnovaImportanceEvaluator()),
                  ("fANOVA", optuna.importance.FanovaImportanceEvaluator(seed=0))]
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    if complete < PED_ANOVA_MIN_TRIALS:  # its top-10% target set would hold one trial: every score equal
        evaluators.reverse()
    for method, evaluator in evaluators:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importances = optuna.importance.get_param_importances(ostudy, evaluator=evaluator)
            break
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            importances, reason = {}, f"{method}: {e}"
    else:
        method = f"none ({reason})"
    from ablate.tuning import tune_arm, tune_seed

    best, spec = ostudy.best_trial, study.tune
    setup = {"arm": tune_arm(study).name, "seed": tune_seed(study), "trials": spec.trials,
             "sampler": spec.sampler, "pruner": spec.pruner, "epochs": spec.epochs or study.train.epochs,
             "space": {k: v.model_dump() for k, v in spec.params.items()}}
    return {"metric": spec.metric, "direction": spec.direction, "setup": setup, "trials": history,
            "best_number": best.number, "best_value": best.value,
            "importances": {k: float(v) for k, v in importances.items()}, "importance_method": method,
            "optuna_study": tune_study_name(study)}


def serve_dashboard(study_name: str, storage_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """optuna-dashboard over the storage (opened as ablate opens it, with the same journal lock)."""
    storage = open_storage(storage_url)
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))
    if study_name not in names:
        raise AblateError(f"no study named {study_name!r} in the Optuna storage {storage_url} (studies there: "
                          f"{', '.join(names) or 'none'}); run it first with `ablate run`")
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise AblateError("optuna-dashboard is not installed: `pip install -e '.[dashboard]'` (make dashboard "
                          "does it for you)") from None
    shown = [n for n in (study_name, f"{study_name}:tune") if n in names]
    print(f"optuna-dashboard on http://{host}:{port}/dashboard/ (studies: {', '.join(shown)}); Ctrl-C stops it",
          flush=True)
    run_server(storage, host=host, port=port)
