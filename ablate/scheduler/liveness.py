"""Is a RUNNING trial's worker still alive? Heartbeats while a cell trains, and the checks that read them.

Same machine (and PID namespace): the worker's pid is checked directly in /proc, with its start time against
pid reuse. Another machine: on an RDB storage Optuna's own heartbeat decides (a trial silent for 3 beats is
failed by `fail_stale`); on a journal file, ablate's BEAT attribute going stale does.
"""

from __future__ import annotations

import os
import platform
import threading
import time
import warnings
from contextlib import contextmanager

import optuna

from ablate.errors import AblateError
from ablate.procs import is_zombie, pid_exists, proc_start
from ablate.records import TrialAttr
from ablate.scheduler import _optuna

HEARTBEAT_SECONDS = 30
STALE_SECONDS = 300
CLAIM_GRACE_SECONDS = 30


def now() -> float:
    """The clock heartbeats are stamped and judged by (seconds since the epoch): one seam, so that tests
    age a heartbeat by moving this clock instead of sleeping past the limit."""
    return time.time()


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


def gone(t: optuna.trial.FrozenTrial, storage=None) -> str | None:
    """Why a RUNNING trial's worker is dead, or None while it may still be alive."""
    worker = t.user_attrs.get(TrialAttr.WORKER)
    if not worker:  # claimed but never stamped: the worker died in the instant after its claim
        started = t.datetime_start.timestamp() if t.datetime_start else 0.0
        late = now() - started > CLAIM_GRACE_SECONDS
        return "its worker stopped right after claiming the cell" if late else None
    host, _, pid = worker.rpartition(":")
    if host == _host():
        if not pid.isdigit() or (exists := pid_exists(int(pid))) is None:
            return None
        if not exists:
            return f"its worker process ({worker}) ended before the cell finished"
        started = t.user_attrs.get(TrialAttr.WORKER_START)
        if started and started != proc_start(int(pid)):
            return f"its worker process ({worker}) ended before the cell finished (the pid was reused)"
        if is_zombie(int(pid)):
            return f"its worker process ({worker}) ended before the cell finished"
        return None
    if _optuna.heartbeat_enabled(storage):
        return None  # another machine, RDB storage: Optuna's heartbeat decides (see fail_stale)
    last = t.user_attrs.get(TrialAttr.BEAT) or (t.datetime_start.timestamp() if t.datetime_start else 0.0)
    silent = now() - float(last)  # no beat yet: silent since the claim, not since 1970
    if silent > stale_seconds():
        return f"its worker ({worker}) sent no heartbeat for {silent:.0f} s"
    return None


def fail_stale(ostudy: optuna.Study) -> None:
    """RDB storages: Optuna fails RUNNING trials whose heartbeat stopped; enqueue_cells then re-enqueues."""
    if _optuna.heartbeat_enabled(_optuna.storage_of(ostudy)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(ostudy)


def poll_seconds(ostudy: optuna.Study) -> float:
    """How often an idle worker looks for work: an RDB query costs a round trip, a journal poll ~1 ms."""
    return 1.0 if _optuna.heartbeat_enabled(_optuna.storage_of(ostudy)) else 0.1


@contextmanager
def heartbeat(ostudy: optuna.Study, trial: optuna.Trial):
    """Keep a claimed trial visibly alive while its cell trains, so only dead workers' cells are retried.

    RDB storages: Optuna's own heartbeat thread (what Study.optimize runs around each trial; our claim
    bypasses optimize, so it is started here). Journal files: a thread stamps BEAT for workers elsewhere.
    """
    storage, tid = _optuna.storage_of(ostudy), _optuna.trial_id(trial)
    if _optuna.heartbeat_enabled(storage):
        with _optuna.heartbeat_thread(storage, tid):
            yield
        return
    stop = threading.Event()
    # the first beat before the cell is stamped with its worker: a judge elsewhere that saw the worker named
    # and no beat yet would take the worker for long dead and retry a cell that is running
    _optuna.set_attr(storage, tid, TrialAttr.BEAT, now())

    def beat() -> None:
        while not stop.wait(heartbeat_seconds()):
            try:
                _optuna.set_attr(storage, tid, TrialAttr.BEAT, now())
            except Exception:  # finished meanwhile, or a storage hiccup: the next beat tries again
                if _optuna.is_finished(storage, tid):
                    return

    thread = threading.Thread(target=beat, name="ablate-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
