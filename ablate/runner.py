"""run_study: the parent process. Creates the stores once, enqueues cells, runs workers, builds the report."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ablate.errors import StudyChanged
from ablate.progress import Progress
from ablate.testpoints import pause_point

if TYPE_CHECKING:  # this module stays light: `ablate run` starts the fork server before torch is imported
    from ablate.study import Study

# What a worker process needs, imported once in the fork server (beside the parent's own imports and store
# creation) instead of in every worker: ~3 s of CPU per worker on the quickstart.
_PRELOAD = ["torch", "torch._dynamo", "torch.optim", "mlflow", "optuna", "ablate.runner", "ablate.search",
            "ablate.tracking", "ablate.train", "ablate.models", "ablate.regularizers", "ablate.data",
            "ablate.data.images", "ablate.data.text", "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.db.utils",
            "alembic.command", "alembic.config", "alembic.script", "alembic.migration",
            "alembic.runtime.environment"]  # the last six: MlflowClient over SQL (0.7 s when lazy)


@dataclass
class RunSummary:
    total: int
    finished: int
    failed: dict[str, str] = field(default_factory=dict)
    ran_now: int = 0
    report: Path | None = None
    parent_run_id: str = ""


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def worker_context(workers: int = 2):
    """The multiprocessing context for local workers, its fork server started now (call it early).

    forkserver where the platform has it: one clean single-threaded process imports torch, MLflow, Optuna and
    ablate once (_PRELOAD) and forks each worker from there, so workers start with everything imported and
    the imports overlap the parent's store creation. A fork of the parent itself would inherit its open
    SQLite connections and threads; spawn re-imports everything in every worker. spawn elsewhere."""
    if workers <= 1:
        return None
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    forkserver.ensure_running()
    return ctx


def run_study(study: Study, storage: str | None = None, tracking_uri: str | None = None, workers: int = 1,
              report: bool = True, reports_dir: str | Path = "reports", quiet: bool = False,
              study_text: str | None = None, fresh: bool = False, retry_failed: bool = False) -> RunSummary:
    from ablate import search
    from ablate.tracking import Tracker

    tracker = Tracker(tracking_uri)
    storage_url = search.resolve_storage(storage)
    ostorage = search.open_storage(storage_url)
    _guard_changes(study, tracker, ostorage, fresh)
    parent_id = tracker.start_parent(study, study_text)  # creates the MLflow store once, here
    ostudy = search.open_study(study, ostorage)
    ostudy.set_user_attr("ablate.study_hash", study.study_hash)
    if study.tune is not None:
        study = tune_phase(study, ostorage, tracker, parent_id, quiet)
    adopted = search.adopt_finished_runs(ostudy, study, tracker, parent_id)
    if adopted and not quiet:
        print(f"adopted {adopted} finished cell(s) from MLflow that the Optuna storage had no trial for",
              file=sys.stderr)
    plan = search.enqueue_cells(ostudy, study, retry_failed=retry_failed)
    search.settle_runs(ostudy, tracker, parent_id)  # runs a killed process left RUNNING
    progress = Progress(plan.total, plan.done + plan.failed, quiet=quiet)
    ran = 0
    with progress:
        if workers <= 1:  # 0: coordinate only; workers elsewhere (`ablate worker`) run the cells
            ran = search.run_cells(study, ostudy, tracker, parent_id, emit=progress.event, work=workers == 1)
        else:
            ran = _run_processes(study, storage_url, tracker.uri, parent_id, workers, progress)
    search.settle_runs(ostudy, tracker, parent_id)
    summary = _summarize(study, ostudy, parent_id, ran)
    if summary.finished + len(summary.failed) == summary.total:
        tracker.finish(parent_id, "FINISHED")
    if report:
        from ablate.report import build_report

        pause_point("report")

        summary.report = build_report(study.name, tracker.uri, Path(reports_dir) / report_slug(study.name))
    return summary


def tune_phase(study: Study, ostorage, tracker, parent_id: str, quiet: bool = True) -> Study:
    """Tune (or find the values a previous run froze), record them once, return the study to ablate.

    The parent run's `ablate.tuned` tag is the record; the Optuna tune study keeps the frozen values too,
    so a crash between freezing and recording loses nothing. Tune trials run here, one at a time.
    """
    from ablate import search
    from ablate.tuning import apply_tuned

    frozen = tracker.tuned(parent_id)
    if frozen is None:
        ostudy = search.open_tune_study(study, ostorage)
        progress = Progress(study.tune.trials, search.tune_counted(ostudy), quiet=quiet, label="tune")
        with progress:
            frozen = search.run_tune(study, ostorage, tracker, parent_id, emit=progress.event)
        tracker.record_tuned(parent_id, frozen, search.tune_summary(study, ostorage))
    return apply_tuned(study, frozen)


def report_slug(name: str) -> str:
    """A directory name for reports/: the study name with anything unsafe replaced."""
    import re

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"
    return slug[:100]


def _guard_changes(study: Study, tracker, ostorage, fresh: bool) -> None:
    from ablate import search

    parent = tracker.find_parent(study)
    old = tracker.parent_hash(parent) if parent else None
    finished = 0  # cells the Optuna study finished, counted only when MLflow has no parent run
    if old is None:
        try:
            ostudy = search.open_study(study, ostorage, create=False)
            old = ostudy.user_attrs.get("ablate.study_hash")
            finished = len(ostudy.get_trials(deepcopy=False, states=(search.TrialState.COMPLETE,)))
        except KeyError:
            pass
    lost = parent is None and finished > 0 and old == study.study_hash  # the MLflow store is not the one
    if lost and not fresh:
        raise StudyChanged(lost_message(study, tracker.uri, finished))
    if old is None or (old == study.study_hash and not lost):
        return
    if not fresh:
        recorded = tracker.parent_study(parent) if parent else None
        raise StudyChanged(changed_message(study, old, recorded))
    _start_afresh(study, tracker, ostorage, old)


def lost_message(study: Study, uri: str, finished: int) -> str:
    return (f"study '{study.name}': the Optuna storage holds {finished} finished cell(s), but the MLflow store "
            f"{uri} has no run of this study: its results (metrics, curves, weights) are not there to report. "
            "Either point --tracking-uri / MLFLOW_TRACKING_URI at the store the study ran with, or start the "
            f"study afresh (the Optuna study is kept, moved aside):\n      ablate run {study.source} --fresh")


def changed_message(study: Study, old_hash: str, recorded: dict | None, worker: bool = False) -> str:
    """What changed (field by field, when the recorded study can be read) and the two ways forward."""
    lines = [f"study '{study.name}' ({study.source}) differs from the study whose cells are recorded under "
             f"that name: its defining content hashes to {study.study_hash[:12]}, the recorded runs' to "
             f"{old_hash[:12]}."]
    if recorded is not None:
        diff = _diff(_flat(recorded), _flat(study.canonical()))
        lines += ["what changed (recorded -> now):", *diff[:12]]
        if len(diff) > 12:
            lines.append(f"  ... and {len(diff) - 12} more")
    if worker:
        lines.append("A worker must use the same study file as the study it joins: copy that file here.")
        return "\n".join(lines)
    lines += ["Results of two different studies must not mix. Either:",
              f"  - give the changed study a new `name:` (it then runs beside '{study.name}'), or",
              f"  - start '{study.name}' afresh; the old runs are kept, moved aside as "
              f"'{study.name}@{old_hash[:12]}' (MLflow experiment and Optuna study):",
              f"      ablate run {study.source} --fresh"]
    return "\n".join(lines)


def _flat(d: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _diff(old: dict[str, object], new: dict[str, object]) -> list[str]:
    missing = object()
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            show = lambda v: "(absent)" if v is missing else json.dumps(v)  # noqa: E731
            out.append(f"  {key}: {show(a)} -> {show(b)}")
    return out


def _start_afresh(study: Study, tracker, ostorage, old_hash: str) -> None:
    """Move the old MLflow experiment and Optuna study aside under a hash-suffixed name."""
    import optuna

    suffix = _free_name(study.name, old_hash, tracker, ostorage)
    tracker.set_aside(study.name, suffix)
    for name, aside in ((study.name, suffix), (f"{study.name}:tune", f"{suffix}:tune")):
        try:
            optuna.copy_study(from_study_name=name, from_storage=ostorage, to_storage=ostorage,
                              to_study_name=aside)
        except KeyError:
            continue  # no such study
        optuna.delete_study(study_name=name, storage=ostorage)


def _free_name(name: str, old_hash: str, tracker, ostorage) -> str:
    """`name@hash`, or `name@hash.2`... if a study went back and forth: nothing set aside is overwritten."""
    import optuna

    taken = {s.study_name for s in optuna.get_all_study_summaries(ostorage, include_best_trial=False)}
    for i in range(1, 1000):
        aside = f"{name}@{old_hash[:12]}" + (f".{i}" if i > 1 else "")
        if aside not in taken and not tracker.experiment_exists(aside):
            return aside
    raise StudyChanged(f"study '{name}' has been set aside 999 times; give it a new `name:`")


def _summarize(study: Study, ostudy, parent_id: str, ran: int) -> RunSummary:
    from ablate import search

    ids = {c.cell_id for c in study.cells()}
    finished, failed = set(), {}
    for t in sorted(ostudy.get_trials(deepcopy=False), key=lambda t: t.number):
        cid = t.user_attrs.get(search.CELL)
        if cid not in ids or t.user_attrs.get(search.DUPLICATE):
            continue
        if t.state.name == "COMPLETE":
            finished.add(cid)
            failed.pop(cid, None)
        elif t.state.name == "FAIL" and cid not in finished:
            failed[cid] = t.user_attrs.get(search.FAILURE, "failed")
    return RunSummary(len(ids), len(finished), failed, ran, None, parent_id)


@dataclass
class _Origin:
    """What a worker takes from the parent as it is now: a fork-server child inherits the server's working
    directory and environment, which are the parent's as they were when the server started."""
    pid: int
    cwd: str
    environ: dict[str, str]


def _worker_main(study: Study, storage_url: str, tracking_uri: str, parent_id: str, threads: int, events,
                 origin: _Origin) -> None:
    os.chdir(origin.cwd)
    os.environ.clear()
    os.environ.update(origin.environ)
    import torch

    from ablate import search
    from ablate.tracking import Tracker

    torch.set_num_threads(threads)
    _die_with_parent(origin.pid)
    signal.signal(signal.SIGTERM, _interrupt)  # a batch system's SIGTERM: mark the cell, as on Ctrl-C
    ostudy = search.open_study(study, search.open_storage(storage_url), create=False)
    emit = lambda kind, **data: events.put((kind, data))  # noqa: E731
    try:
        search.run_cells(study, ostudy, Tracker(tracking_uri), parent_id, emit=emit)
        code = 0
    except KeyboardInterrupt:
        code = 130
    _exit_now(code, events)


def _exit_now(code: int, events) -> None:
    """Exit without the interpreter's teardown of torch, MLflow and SQLAlchemy (~1 s per process, on the
    critical path of every parallel run). Everything is already durable: each cell's Optuna and MLflow
    writes are synchronous, and the events queue is flushed to the parent here."""
    events.close()
    events.join_thread()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _die_with_parent(parent: int) -> None:
    """A worker whose parent was SIGKILLed stops too (its cell is retried on resume), not run on unseen.
    `parent` is the `ablate run` process; the direct parent may be the fork server, which ends with it."""
    import threading
    import time

    from ablate.search import is_zombie

    direct = os.getppid()

    def alive() -> bool:  # a killed parent not yet reaped is a zombie: gone for this purpose
        if os.name == "nt":  # os.kill(pid, 0) there sends CTRL_C_EVENT; spawned workers: getppid suffices
            return os.getppid() == direct
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return not is_zombie(parent) and os.getppid() == direct  # no /proc (macOS): never a zombie there

    def watch() -> None:
        while alive():
            time.sleep(0.5)
        os._exit(137)

    threading.Thread(target=watch, name="ablate-parent-watch", daemon=True).start()


def _run_processes(study: Study, storage_url: str, uri: str, parent_id: str, workers: int, progress) -> int:
    ctx = worker_context(workers)
    events = ctx.Queue()
    threads = _threads_per_worker(workers)
    origin = _Origin(os.getpid(), os.getcwd(), dict(os.environ))
    procs = [ctx.Process(target=_worker_main, args=(study, storage_url, uri, parent_id, threads, events, origin),
                         name=f"ablate-worker-{i}") for i in range(workers)]
    for p in procs:
        p.start()
    ran = 0
    try:
        while any(p.is_alive() for p in procs) or not events.empty():
            try:
                kind, data = events.get(timeout=0.05)
            except queue.Empty:
                continue
            progress.event(kind, **data)
            ran += kind == "done"
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the workers too, and they are marking their cells: a second SIGINT
        # now would cut that short. A SIGINT/SIGTERM sent to this process alone reaches them late.
        for p in procs:
            p.join(timeout=5)
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGINT)
        raise
    finally:
        for p in procs:
            p.join()
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad and 130 in bad:
        raise KeyboardInterrupt
    return ran
