"""run_study: the parent process. Creates the stores once, enqueues cells, runs workers, builds the report."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ablate.errors import StudyChanged
from ablate.progress import Progress
from ablate.study import Study


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
    plan = search.enqueue_cells(ostudy, study, retry_failed=retry_failed)
    _close_orphan_runs(tracker, ostudy, parent_id)
    progress = Progress(plan.total, plan.done + plan.failed, quiet=quiet)
    ran = 0
    with progress:
        if workers <= 1:
            ran = search.run_cells(study, ostudy, tracker, parent_id, emit=progress.event)
        else:
            ran = _run_processes(study, storage_url, tracker.uri, parent_id, workers, progress)
    summary = _summarize(study, ostudy, parent_id, ran)
    if summary.finished + len(summary.failed) == summary.total:
        tracker.finish(parent_id, "FINISHED")
    if report:
        from ablate.report import build_report

        summary.report = build_report(study.name, tracker.uri, Path(reports_dir) / report_slug(study.name))
    return summary


def report_slug(name: str) -> str:
    """A directory name for reports/: the study name with anything unsafe replaced."""
    import re

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"
    return slug[:100]


def _guard_changes(study: Study, tracker, ostorage, fresh: bool) -> None:
    from ablate import search

    parent = tracker.find_parent(study)
    old = tracker.parent_hash(parent) if parent else None
    if old is None:
        try:
            old = search.open_study(study, ostorage, create=False).user_attrs.get("ablate.study_hash")
        except KeyError:
            old = None
    if old is None or old == study.study_hash:
        return
    if not fresh:
        raise StudyChanged(
            f"study '{study.name}' ({study.source}) changed since its cells ran: its defining content now "
            f"hashes to {study.study_hash[:12]}, the recorded runs to {old[:12]}. Results of two different "
            f"studies must not mix. Either give the changed study a new `name:`, or rerun with --fresh to "
            f"start '{study.name}' afresh (the old runs are kept in MLflow, renamed with their hash)."
        )
    _start_afresh(study, tracker, ostorage, old)


def _start_afresh(study: Study, tracker, ostorage, old_hash: str) -> None:
    """Move the old MLflow experiment and Optuna study aside under a hash-suffixed name."""
    import optuna

    suffix = f"{study.name}@{old_hash[:12]}"
    exp = tracker.client.get_experiment_by_name(study.name)
    if exp is not None:
        tracker.client.rename_experiment(exp.experiment_id, suffix)
    try:
        optuna.copy_study(from_study_name=study.name, from_storage=ostorage, to_storage=ostorage,
                          to_study_name=suffix)
        optuna.delete_study(study_name=study.name, storage=ostorage)
    except KeyError:
        pass


def _close_orphan_runs(tracker, ostudy, parent_id: str) -> None:
    """Child runs left RUNNING by a killed process, whose trial is no longer running: mark them KILLED."""
    from ablate import search

    live = {t.user_attrs.get("ablate.run_id") for t in ostudy.get_trials(deepcopy=False)
            if t.state.name == "RUNNING"}
    for run in tracker.cell_runs(parent_id, status="RUNNING"):
        if run.info.run_id not in live:
            tracker.finish(run.info.run_id, "KILLED", "interrupted: the process running this cell stopped; "
                           "the cell was run again")
    del search


def _summarize(study: Study, ostudy, parent_id: str, ran: int) -> RunSummary:
    from ablate import search

    ids = {c.cell_id for c in study.cells()}
    finished, failed = set(), {}
    for t in sorted(ostudy.get_trials(deepcopy=False), key=lambda t: t.number):
        cid = t.user_attrs.get(search.CELL)
        if cid not in ids:
            continue
        if t.state.name == "COMPLETE":
            finished.add(cid)
            failed.pop(cid, None)
        elif t.state.name == "FAIL" and cid not in finished:
            failed[cid] = t.user_attrs.get(search.FAILURE, "failed")
    return RunSummary(len(ids), len(finished), failed, ran, None, parent_id)


def _worker_main(study: Study, storage_url: str, tracking_uri: str, parent_id: str, threads: int, events) -> None:
    import torch

    from ablate import search
    from ablate.tracking import Tracker

    torch.set_num_threads(threads)
    ostudy = search.open_study(study, search.open_storage(storage_url), create=False)
    emit = lambda kind, **data: events.put((kind, data))  # noqa: E731
    try:
        search.run_cells(study, ostudy, Tracker(tracking_uri), parent_id, emit=emit)
    except KeyboardInterrupt:
        sys.exit(130)


def _run_processes(study: Study, storage_url: str, uri: str, parent_id: str, workers: int, progress) -> int:
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    threads = _threads_per_worker(workers)
    procs = [ctx.Process(target=_worker_main, args=(study, storage_url, uri, parent_id, threads, events),
                         name=f"ablate-worker-{i}") for i in range(workers)]
    for p in procs:
        p.start()
    ran = 0
    try:
        while any(p.is_alive() for p in procs) or not events.empty():
            try:
                kind, data = events.get(timeout=0.2)
            except queue.Empty:
                continue
            progress.event(kind, **data)
            ran += kind == "done"
    finally:
        for p in procs:
            p.join()
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad and 130 in bad:
        raise KeyboardInterrupt
    return ran
