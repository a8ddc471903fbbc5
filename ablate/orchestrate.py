"""A study from the top: `ablate run` (run_study) and `ablate worker` (work, joining a running study).

run_study creates the stores once, refuses a changed study (or a lost MLflow store) unless `--fresh`, runs
the tune phase, enqueues the cells, runs them here or in local worker processes (pool.py), settles what dead
workers left, and builds the report. Heavy modules are imported where used: `ablate run` starts its fork
server before torch is imported.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ablate.errors import AblateError, StudyChanged
from ablate.guard import changed_message, guard_changes
from ablate.progress import Progress
from ablate.testpoints import pause_point

if TYPE_CHECKING:
    from ablate.cache import WorkerCache
    from ablate.study import Study


@dataclass
class RunSummary:
    total: int
    finished: int
    failed: dict[str, str] = field(default_factory=dict)
    ran_now: int = 0
    report: Path | None = None
    parent_run_id: str = ""
    report_seconds: float = 0.0  # building the report, after the last cell (its modules were imported by then)


def run_study(study: Study, storage: str | None = None, tracking_uri: str | None = None, workers: int = 1,
              report: bool = True, reports_dir: str | Path = "reports", quiet: bool = False,
              study_text: str | None = None, fresh: bool = False, retry_failed: bool = False,
              overrides: tuple[str, ...] = ()) -> RunSummary:
    from ablate import sequential
    from ablate.scheduler import cells
    from ablate.scheduler import storage as st
    from ablate.tracking import Tracker

    if report:
        _check_reports_dir(Path(reports_dir))  # before any store is made or any cell runs
    if quiet:  # MLflow prints two "View run ... at: http://..." lines per run on a tracking server
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    tracker = Tracker(tracking_uri)
    storage_url = st.resolve_storage(storage)
    ostorage = st.open_storage(storage_url)
    guard_changes(study, tracker, ostorage, fresh, quiet)
    parent_id = tracker.start_parent(study, study_text, overrides)  # creates the MLflow store once, here
    ostudy = st.open_study(study, ostorage)
    st.record_hash(ostudy, study)
    cache = _cache() if workers >= 1 or study.tune is not None else None  # tune and cells here share it
    if study.tune is not None:
        study = tune_phase(study, ostorage, tracker, parent_id, quiet, cache)
    study = sequential.recorded(study, tracker, parent_id)  # a resumed study runs the seeds it decided
    adopted = cells.adopt_finished_runs(ostudy, study, tracker, parent_id)
    if adopted and not quiet:
        print(f"adopted {adopted} finished cell(s) from MLflow that the Optuna storage had no trial for",
              file=sys.stderr)
    # once the stores are made: start-up is not slowed
    imported = _import_report_modules(report) if report or study.seed_max else None
    ran = _run_stage(study, ostudy, tracker, parent_id, storage_url, workers, cache, retry_failed, quiet)
    finished, failed = cells.outcomes(ostudy, study)
    extended = sequential.decide(study, tracker, parent_id, len(finished) + len(failed) == len(study.cells()),
                                 quiet)
    if extended is not None:  # seeds until decided: the seeds the initial ones asked for, every arm
        study = extended
        ran += _run_stage(study, ostudy, tracker, parent_id, storage_url, workers, cache, retry_failed, quiet)
        finished, failed = cells.outcomes(ostudy, study)
    summary = RunSummary(len(study.cells()), len(finished), failed, ran, None, parent_id)
    if summary.finished + len(summary.failed) == summary.total:
        tracker.finish_study(parent_id)
    if report:
        from ablate.report import build_report

        pause_point("report")
        if imported is not None:
            imported.join()
        t0 = time.perf_counter()
        summary.report = build_report(study.name, tracker.uri, Path(reports_dir) / report_slug(study.name))
        summary.report_seconds = time.perf_counter() - t0
    return summary


def _import_report_modules(full: bool = True) -> threading.Thread:
    """Import the report's modules (pandas, matplotlib, seaborn, scipy, jinja2: ~2 s) and compile its
    templates in a thread while the cells run, so the report is built the moment the last cell ends. The
    cells share this process's cores with it (this process trains cells too). full=False (no report, seeds
    until decided): only what the decision after the initial seeds reads (the results and their statistics,
    ~1.7 s of scipy, else paid after the last of those cells). A failing import is left to the report (or
    the decision) itself to raise, with its message, after the cells."""

    def run():
        with contextlib.suppress(Exception):
            if not full:
                import ablate.report.results
                import ablate.report.stats.sequential  # noqa: F401
                return
            from ablate.report import html

            html.compile_templates()

    thread = threading.Thread(target=run, name="ablate-import-report", daemon=True)
    thread.start()
    return thread


def _run_stage(study: Study, ostudy, tracker, parent_id: str, storage_url: str, workers: int,
               cache: WorkerCache | None, retry_failed: bool, quiet: bool) -> int:
    """Enqueue every unfinished cell of `study` once and run them here or in worker processes."""
    from ablate import pool, worker
    from ablate.scheduler import cells

    plan = cells.enqueue_cells(ostudy, study, retry_failed=retry_failed)
    cells.settle_runs(ostudy, tracker, parent_id)  # runs a killed process left RUNNING
    progress = Progress(plan.total, plan.done + plan.failed, quiet=quiet, metric=study.metric.name)
    with progress:
        if workers <= 1:  # 0: coordinate only; workers elsewhere (`ablate worker`) run the cells
            ran = worker.run_cells(study, ostudy, tracker, parent_id, emit=progress.event, work=workers == 1,
                                   cache=cache)
        else:  # this process is one of the workers: it has torch and MLflow imported before the others
            ran = pool.run_processes(study, storage_url, tracker.uri, parent_id, workers, progress,
                                     here=lambda emit: worker.run_cells(study, ostudy, tracker, parent_id,
                                                                        emit=emit, cache=cache))
    cells.settle_runs(ostudy, tracker, parent_id)
    return ran


def _check_reports_dir(reports: Path) -> None:
    """A reports folder that cannot be made or written would fail only after every cell ran."""
    for folder in (reports, *reports.parents):
        if folder.exists():
            if not folder.is_dir():
                raise AblateError(f"cannot write reports under {reports}: {folder} is a file, not a folder; "
                                  "move it, or choose another --reports-dir")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise AblateError(f"cannot write reports under {reports}: {folder} is not writable; choose "
                                  "another --reports-dir")
            return


def _cache() -> WorkerCache:
    from ablate.cache import WorkerCache

    return WorkerCache()


def tune_phase(study: Study, ostorage, tracker, parent_id: str, quiet: bool = True,
               cache: WorkerCache | None = None) -> Study:
    """Tune (or find the values a previous run froze), record them once, return the study to ablate.

    The parent run's tuned tag is the record; the Optuna tune study keeps the frozen values too, so a
    crash between freezing and recording loses nothing. Tune trials run here, one at a time.
    """
    from ablate import worker
    from ablate.scheduler import tune
    from ablate.tuning import apply_tuned

    frozen = tracker.tuned(parent_id)
    if frozen is None:
        tstudy = tune.open_tune_study(study, ostorage)
        progress = Progress(study.tune.trials, tune.tune_counted(tstudy), quiet=quiet, label="tune",
                            metric=study.tune.metric)
        with progress:
            frozen = worker.run_tune(study, ostorage, tracker, parent_id, emit=progress.event, cache=cache)
        tracker.record_tuned(parent_id, frozen, tune.tune_summary(study, ostorage))
    return apply_tuned(study, frozen)


def report_slug(name: str) -> str:
    """A directory name for reports/: the study name itself when it is a safe name, else its safe part with
    8 hex digits of the name's SHA-256, so two names never share a folder (`a b`, `a_b` and `a/b`; `实验一`
    and `实验二`, which have no safe part at all)."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100]
    if slug == name and not re.fullmatch(r".*-[0-9a-f]{8}", name):  # no name's slug can look like a hashed one
        return slug
    return f"{slug or 'study'}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def work(study: Study, storage: str | None = None, tracking_uri: str | None = None, threads: int | None = None,
         wait_seconds: float = 120.0, study_path: str = "") -> int:
    """`ablate worker`: join the running study (same stores, same study file) and run waiting cells."""
    import torch

    from ablate import sequential, worker
    from ablate.scheduler import storage as st
    from ablate.tracking import Tracker

    if threads:
        torch.set_num_threads(threads)
    tracker = Tracker(tracking_uri)
    ostorage = st.open_storage(st.resolve_storage(storage))
    parent, ostudy = join(study, tracker, ostorage, wait_seconds, storage, study_path)
    if study.tune is not None:  # ablate cells run with the values the tune phase froze, never the file's
        study = frozen_study(study, tracker, ostorage, wait_seconds)
    study = sequential.recorded(study, tracker, parent)
    ran = worker.run_cells(study, ostudy, tracker, parent, emit=None)
    if (extended := sequential.await_decision(study, tracker, parent, wait_seconds)) is not None:
        ran += worker.run_cells(extended, ostudy, tracker, parent, emit=None)  # the seeds added until decided
    return ran


def join(study: Study, tracker, ostorage, wait_seconds: float, storage: str | None = None, study_path: str = ""):
    """The running study's parent run and Optuna study, waiting a while for `ablate run` to create them;
    a worker whose study file differs from the running study's is refused (results must not mix)."""
    from ablate.scheduler import storage as st

    deadline = time.monotonic() + wait_seconds
    while True:
        parent = tracker.find_parent(study)
        ready = parent is not None and tracker.parent_record(parent).ready
        ostudy = st.find_study(study, ostorage) if ready else None
        if ostudy is not None:
            break
        if time.monotonic() > deadline:
            where = f"the MLflow store {tracker.uri}" if not ready else f"the Optuna storage {storage!r}"
            raise AblateError(f"study '{study.name}' is not in {where} (waited {wait_seconds:.0f} s): "
                              f"start it with `ablate run {study_path}` (same --storage and --tracking-uri)")
        time.sleep(1.0)
    old = tracker.parent_hash(parent)
    if old and old != study.study_hash:
        raise StudyChanged(changed_message(study, old, tracker.parent_study(parent), worker=True))
    return parent, ostudy


def frozen_study(study: Study, tracker, ostorage, wait_seconds: float) -> Study:
    """The study with its tune phase's frozen values, waiting a while for `ablate run` to freeze them
    (the tune phase runs in that process; cells are enqueued only afterwards)."""
    from ablate.scheduler.tune import frozen_values
    from ablate.tuning import apply_tuned

    deadline = time.monotonic() + wait_seconds
    parent = tracker.find_parent(study)
    while (frozen := tracker.tuned(parent) or frozen_values(study, ostorage)) is None:
        if time.monotonic() > deadline:
            raise AblateError(f"study '{study.name}' is still in its tune phase (run by `ablate run`; waited "
                              f"{wait_seconds:.0f} s): its cells are enqueued once the tuned values are "
                              f"frozen; start the worker then, or give it a longer --wait-seconds")
        time.sleep(2.0)
    return apply_tuned(study, frozen)
