"""A study from the top: `ablate run` (run_study) and `ablate worker` (work, joining a running study).

run_study creates the stores once, refuses a changed study (or a lost MLflow store) unless `--fresh`, builds
the one StudyRun handle (studyrun.py: study, schedule, parent run, cache, events) that the whole run path
takes, runs the tune phase, enqueues the cells, runs them here or in local worker processes (pool.py),
settles what dead workers left, and builds the report. Heavy modules are imported where used: `ablate run`
starts its fork server before torch is imported.
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
from ablate.studyrun import RunOptions, StudyRun
from ablate.testpoints import pause_point

if TYPE_CHECKING:
    from ablate.cache import WorkerCache
    from ablate.report.answer import Answer
    from ablate.study import Study
    from ablate.tracking.writer import Tracker


@dataclass
class RunSummary:
    total: int
    finished: int
    failed: dict[str, str] = field(default_factory=dict)
    ran_now: int = 0
    report: Path | None = None
    parent_run_id: str = ""
    report_seconds: float = 0.0  # building the report, after the last cell (its modules were imported by then)
    study: str = ""
    tracking_uri: str = ""
    answer: Answer | None = None  # the report's verdicts, leaderboard and effects (report=False: read when asked)
    variant: str = ""  # what tells this variant from the study's first one ("" for the first)

    def answered(self) -> Answer:
        """The study's answer: the report's own tables, or (no report built) computed from the store once."""
        if self.answer is None:
            from ablate.report.answer import Answer
            from ablate.report.results import load_results

            self.answer = Answer.of(load_results(self.study, self.tracking_uri))
        return self.answer

    verdicts = property(lambda self: self.answered().verdicts, doc="one row per factor (verdicts.csv)")
    leaderboard = property(lambda self: self.answered().leaderboard, doc="one row per arm, best first")
    effects = property(lambda self: self.answered().effects, doc="every estimated effect (effects.csv)")
    best_arm = property(lambda self: self.answered().best_arm, doc="the leaderboard's best arm")


def run_study(study: Study, storage: str | None = None, tracking_uri: str | None = None, workers: int = 1,
              report: bool = True, reports_dir: str | Path = "reports", quiet: bool = False,
              study_text: str | None = None, fresh: bool = False, retry_failed: bool = False,
              overrides: tuple[str, ...] = ()) -> RunSummary:
    from ablate import sequential

    if report:
        _check_reports_dir(Path(reports_dir))  # before any store is made or any cell runs
    if quiet:  # MLflow prints two "View run ... at: http://..." lines per run on a tracking server
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    run = open_run(study, storage, tracking_uri, RunOptions(workers, retry_failed, quiet), study_text, fresh,
                   overrides)
    if study.tune is not None:
        run = run.with_study(tune_phase(run))
    run = sequential.recorded(run)  # a resumed study runs the seeds it decided
    adopted = run.schedule.adopt(run.study, run.parent)
    if adopted and not quiet:
        print(f"adopted {adopted} finished cell(s) from MLflow that the Optuna storage had no trial for",
              file=sys.stderr)
    # once the stores are made: start-up is not slowed
    imported = _import_report_modules(report) if report or study.seed_max else None
    ran = _run_stage(run)
    finished, failed = run.schedule.outcomes(run.study)
    extended = sequential.decide(run, len(finished) + len(failed) == len(run.study.cells()))
    if extended is not None:  # seeds until decided: the seeds the initial ones asked for, every arm
        run = extended
        ran += _run_stage(run)
        finished, failed = run.schedule.outcomes(run.study)
    summary = RunSummary(len(run.study.cells()), len(finished), failed, ran, None, run.parent.run_id,
                         study=variant_ref(run.study, run.parent), tracking_uri=run.parent.uri,
                         variant=run.parent.variant())
    if summary.finished + len(summary.failed) == summary.total:
        run.parent.finish_study()
    if report:
        from ablate.report.html import report_answer

        pause_point("report")
        if imported is not None:
            imported.join()
        t0 = time.perf_counter()
        ref, folder = variant_ref(run.study, run.parent), report_folder(reports_dir, study.name, run.parent.variant())
        summary.answer = report_answer(ref, run.parent.uri, folder)
        summary.report = summary.answer.report
        summary.report_seconds = time.perf_counter() - t0
    return summary


def report_folder(reports_dir: str | Path, name: str, variant: str = "") -> Path:
    """reports/<study>/ for a study's first variant, reports/<study>/<variant>/ for another."""
    folder = Path(reports_dir) / report_slug(name)
    return folder / report_slug(variant) if variant else folder


def variant_ref(study: Study, parent) -> str:
    """How readers name this variant: the study's name for its first variant, `<name>@<hash12>` for another."""
    return f"{study.name}@{study.study_hash[:12]}" if parent.variant() else study.name


def open_run(study: Study, storage: str | None, tracking_uri: str | None, options: RunOptions,
             study_text: str | None = None, fresh: bool = False, overrides: tuple[str, ...] = ()) -> StudyRun:
    """The one StudyRun of `ablate run`: the data's and the model's shapes (preflight.py), the change guard,
    then the parent run (the MLflow store is created here, once) and the Optuna study, then the cache that the tune phase and this process's cells
    share."""
    from ablate.preflight import check_shapes
    from ablate.reach import check_stores
    from ablate.scheduler import storage as st
    from ablate.scheduler.schedule import Schedule
    from ablate.tracking import MlflowParentRun, Tracker, resolve_uri

    storage_url = st.resolve_storage(storage)
    check_stores(resolve_uri(tracking_uri), storage_url)  # reachable and writable, in seconds, before any is made
    cache = _cache() if options.workers >= 1 or study.tune is not None else None  # tune, cells here share it
    spec = check_shapes(study, cache)  # the data and one forward of each network: before any store is made
    tracker = Tracker(tracking_uri)
    ostorage = st.open_storage(storage_url)
    variant = guard_changes(study, tracker, ostorage, fresh, options.quiet, overrides)
    if variant and not options.quiet:
        print(f"study '{study.name}', variant '{variant}' (its own runs, report and Optuna study; the "
              f"study's other variants are kept as they are)", file=sys.stderr)
    parent = MlflowParentRun(tracker, tracker.start_parent(study, study_text, overrides, variant))
    schedule = Schedule.open(study, storage_url, ostorage)
    schedule.record_hash(study)
    parent.record_classes(spec.num_classes)  # the report's chance level
    return StudyRun(study, schedule, parent, cache, options=options)


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


def _run_stage(run: StudyRun) -> int:
    """Enqueue every unfinished cell of the run's study once and run them here or in worker processes."""
    from ablate import pool, worker

    study, schedule, workers = run.study, run.schedule, run.options.workers
    plan = schedule.enqueue(study, retry_failed=run.options.retry_failed)
    schedule.settle(run.parent)  # runs a killed process left RUNNING
    progress = Progress(plan.total, plan.done + plan.failed, quiet=run.options.quiet,
                        metric=study.metric.name)
    with progress:
        if workers <= 1:  # 0: coordinate only; workers elsewhere (`ablate worker`) run the cells
            ran = worker.run_cells(run.with_emit(progress.event), work=workers == 1)
        else:  # this process is one of the workers: it has torch and MLflow imported before the others
            ran = pool.run_processes(run, workers, progress,
                                     here=lambda emit: worker.run_cells(run.with_emit(emit)))
    schedule.settle(run.parent)
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


def tune_phase(run: StudyRun) -> Study:
    """Tune (or find the values a previous run froze), record them once, return the study to ablate.

    The parent run's tuned tag is the record; the Optuna tune study keeps the frozen values too, so a
    crash between freezing and recording loses nothing. Tune trials run here, one at a time.
    """
    from ablate import worker
    from ablate.tuning import apply_tuned

    study = run.study
    frozen = run.parent.tuned()
    if frozen is None:
        counted = run.schedule.tune_study(study).counted()
        progress = Progress(study.tune.trials, counted, quiet=run.options.quiet, label="tune",
                            metric=study.tune.metric)
        with progress:
            frozen = worker.run_tune(run.with_emit(progress.event))
        run.parent.record_tuned(frozen, run.schedule.tune_summary(study))
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
    from ablate.reach import check_stores
    from ablate.scheduler import storage as st
    from ablate.tracking import Tracker, resolve_uri

    if threads:
        torch.set_num_threads(threads)
    storage_url = st.resolve_storage(storage)
    check_stores(resolve_uri(tracking_uri), storage_url)
    tracker = Tracker(tracking_uri)
    run = join(study, tracker, storage_url, st.open_storage(storage_url), wait_seconds, storage, study_path)
    if study.tune is not None:  # ablate cells run with the values the tune phase froze, never the file's
        run = run.with_study(frozen_study(run, wait_seconds))
    run = sequential.recorded(run)
    ran = worker.run_cells(run)
    if (extended := sequential.await_decision(run, wait_seconds)) is not None:
        ran += worker.run_cells(extended)  # the seeds added until decided
    return ran


def join(study: Study, tracker: Tracker, storage_url: str, ostorage, wait_seconds: float,
         storage: str | None = None, study_path: str = "") -> StudyRun:
    """The running study's parent run and Optuna study, waiting a while for `ablate run` to create them;
    a worker whose study file differs from the running study's is refused (results must not mix)."""
    from ablate.scheduler import storage as st
    from ablate.scheduler.schedule import Schedule
    from ablate.tracking import MlflowParentRun

    deadline = time.monotonic() + wait_seconds
    while True:
        parent = tracker.find_parent(study)
        ready = parent is not None and tracker.parent_record(parent).ready
        ostudy = st.find_study(study, ostorage) if ready else None
        if ostudy is not None:
            break
        if time.monotonic() > deadline:
            first = tracker.find_parent(study, first=True)
            if not ready and first is not None and tracker.parent_hash(first) != study.study_hash:
                raise StudyChanged(changed_message(study, tracker.parent_hash(first), tracker.parent_study(first)))
            where = f"the MLflow store {tracker.uri}" if not ready else f"the Optuna storage {storage!r}"
            raise AblateError(f"study '{study.name}' is not in {where} (waited {wait_seconds:.0f} s): "
                              f"start it with `ablate run {study_path}` (same --storage and --tracking-uri)")
        time.sleep(1.0)
    return StudyRun(study, Schedule(ostudy, ostorage, storage_url), MlflowParentRun(tracker, parent))


def frozen_study(run: StudyRun, wait_seconds: float) -> Study:
    """The study with its tune phase's frozen values, waiting a while for `ablate run` to freeze them
    (the tune phase runs in that process; cells are enqueued only afterwards)."""
    from ablate.tuning import apply_tuned

    study = run.study
    deadline = time.monotonic() + wait_seconds
    while (frozen := run.parent.tuned() or run.schedule.frozen_values(study)) is None:
        if time.monotonic() > deadline:
            raise AblateError(f"study '{study.name}' is still in its tune phase (run by `ablate run`; waited "
                              f"{wait_seconds:.0f} s): its cells are enqueued once the tuned values are "
                              f"frozen; start the worker then, or give it a longer --wait-seconds")
        time.sleep(2.0)
    return apply_tuned(study, frozen)
