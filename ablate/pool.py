"""Local worker processes for `ablate run --workers N`: a fork server started early, workers that die with
their parent, and the parent as the N-th worker, training while it shows the others' progress. Light at
import: `ablate run` starts the fork server before torch is imported anywhere."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ablate.event_pump import WorkerEvents
from ablate.procs import die_with_parent

if TYPE_CHECKING:
    from ablate.study import Study
    from ablate.studyrun import Emit, StudyRun

# What a worker process needs, imported once in the fork server (beside the parent's own imports and store
# creation) instead of in every worker: ~3 s of CPU per worker on the quickstart. The last six
# (mlflow.store.db.utils and alembic's): MlflowClient over SQL, 0.7 s when imported lazily.
_PRELOAD = ["torch", "torch._dynamo", "torch.optim", "mlflow", "optuna", "ablate.pool", "ablate.worker",
            "ablate.cache", "ablate.scheduler.cells", "ablate.scheduler.liveness", "ablate.scheduler.storage",
            "ablate.scheduler.tune", "ablate.scheduler.schedule", "ablate.studyrun", "ablate.tracking.parent",
            "ablate.tracking.writer", "ablate.tracking.reader", "ablate.train",
            "ablate.models", "ablate.regularizers", "ablate.data", "ablate.data.images", "ablate.data.text",
            "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.db.utils", "alembic.command",
            "alembic.config", "alembic.script", "alembic.migration", "alembic.runtime.environment"]


def threads_per_worker(workers: int) -> int:
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


@dataclass
class _Origin:
    """What a worker takes from the parent as it is now: a fork-server child inherits the server's working
    directory and environment, which are the parent's as they were when the server started."""
    pid: int
    cwd: str
    environ: dict[str, str]


def _ship(study: Study) -> tuple:
    """The study as bytes beside its plugins: a child unpickles it only once it has loaded them, since the
    study refers to classes a plugin defines and a fork-server or spawned child starts with none of them."""
    return study.plugins, pickle.dumps(study)


def _unship(shipped: tuple) -> Study:
    from ablate import plugins

    plugins.load_entry_points()
    for plugin in shipped[0]:
        plugins.load(plugin)  # from the bytes hashed in the parent: an edit since then is an error
    return pickle.loads(shipped[1])


def _worker_main(shipped: tuple, storage_url: str, tracking_uri: str, parent_id: str, threads: int, events,
                 origin: _Origin) -> None:
    os.chdir(origin.cwd)
    os.environ.clear()
    os.environ.update(origin.environ)
    from ablate import testpoints
    from ablate.errors import AblateError

    testpoints.ROLE = "worker"

    try:
        study = _unship(shipped)
    except AblateError as e:
        print(f"error: {e}", file=sys.stderr)
        _exit_now(2, events)
    import torch

    from ablate import interrupts, worker
    from ablate.studyrun import StudyRun

    torch.set_num_threads(threads)
    die_with_parent(origin.pid, 137)  # its cell is retried on resume
    interrupts.install()  # a batch system's SIGTERM: mark the cell, as on Ctrl-C (which is never lost)
    emit = lambda kind, **data: events.put((kind, data, os.getpid()))  # noqa: E731
    try:
        worker.run_cells(StudyRun.join(study, storage_url, tracking_uri, parent_id, emit=emit))
        code = 0
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # the user's to fix (a data file gone, a full disk): said once, by the parent
        from ablate.errors import AblateError
        from ablate.faults import store_fault

        message = str(e) if isinstance(e, AblateError) else store_fault(e)
        if message is None:
            raise  # a bug: its traceback is the report
        emit("fatal", message=message)
        code = 2
    _exit_now(code, events)


def _exit_now(code: int, events) -> None:
    """Exit without the interpreter's teardown of torch, MLflow and SQLAlchemy (~1 s per process, on the
    critical path of every parallel run). Everything is already durable: each cell's Optuna and MLflow
    writes are synchronous, and the events queue is flushed to the parent here."""
    from ablate.tracking.client import close_stores

    close_stores()
    events.close()
    events.join_thread()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def _main_hidden():
    """Start workers without multiprocessing running the parent's __main__ again in each of them: a script
    or notebook that calls ablate.run without an `if __name__ == "__main__":` guard would otherwise run
    again in every worker and start workers of its own. The workers' code lives in ablate.pool and the
    study's in its plugins, so a worker needs nothing from __main__."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__} if main else {}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def _refuse_main_code(study: Study) -> None:
    """Worker processes cannot import what a notebook or script defined itself: say so before starting them."""
    from ablate.errors import AblateError

    found = [f"{kind} '{name}'" for kind, name, module in study_code(study) if module in ("__main__", "__mp_main__")]
    if found:
        raise AblateError(f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} defined in the running script "
                          "or notebook (__main__), which worker processes cannot import: move the code to a "
                          "plugin file and list it in the study's `plugins:` (or pass plugins=[...]), or run "
                          "with one worker")


def study_code(study: Study) -> list[tuple[str, str, str]]:
    """(kind, registered name, defining module) of the model, dataset and regularizers a study uses."""
    from ablate.data import DATASETS
    from ablate.models import MODELS
    from ablate.regularizers import REGULARIZERS

    out = [("model", study.model.name, _origin_module(MODELS.get(study.model.name))),
           ("dataset", study.data.name, _origin_module(DATASETS.get(study.data.name)))]
    names = [f.name for f in study.factors] + [n for n, _ in study.always]
    return out + [("regularizer", n, _origin_module(REGULARIZERS.get(n))) for n in names]


def _origin_module(obj) -> str:
    return getattr(getattr(obj, "fn", obj), "__module__", "")


def run_processes(run: StudyRun, workers: int, progress, here: Callable[[Emit], int] | None = None) -> int:
    """Run the study to its end in `workers` streams of cells; returns the cells they ran.

    here: this process's own stream (called with the emit for its events; returns the cells it ran). This
    process has torch and MLflow imported and its stores open by now, so it trains from the first moment
    while the fork server finishes importing for the others: `workers - 1` processes are started, and the
    workers' events are shown from a thread meanwhile. Without it, `workers` processes are started and this
    process only shows their progress."""
    ctx = worker_context(workers)
    events = ctx.Queue()
    threads = threads_per_worker(workers)
    origin = _Origin(os.getpid(), os.getcwd(), dict(os.environ))
    _refuse_main_code(run.study)
    shipped = _ship(run.study)  # each worker rebuilds the StudyRun from the stores' addresses (StudyRun.join)
    args = (shipped, run.schedule.url, run.parent.uri, run.parent.run_id, threads, events, origin)
    procs = [ctx.Process(target=_worker_main, args=args, name=f"ablate-worker-{i}")
             for i in range(workers - (here is not None))]
    starting = _Starting(procs, progress, background=here is not None)
    shown = WorkerEvents(procs, events, progress)
    ran = 0
    try:
        if here is None:
            shown.pump()
        else:
            ran += _here(here, shown, threads)
            for p in starting.started():  # within the try: a Ctrl-C now is handled as one during the cells
                p.join()
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the workers too, and they are marking their cells: a second SIGINT
        # now would cut that short. A SIGINT/SIGTERM sent to this process alone reaches them late.
        for p in starting.started():
            p.join(timeout=5)
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGINT)
        raise
    finally:
        for p in starting.started():
            p.join()
        shown.stop()
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad and 130 in bad:
        raise KeyboardInterrupt
    if shown.fatal is not None:
        from ablate.errors import AblateError

        raise AblateError(shown.fatal)
    return ran + shown.ran


class _Starting:
    """The worker processes, started. Process.start() returns only once the fork server has forked the
    child, after its preload (~11 s of imports on one core of two); when this process trains too, they are
    started from a thread, so that its cells do not wait. A worker that cannot start then is said once."""

    def __init__(self, procs, progress, background: bool):
        self.procs, self.progress, self.thread = procs, progress, None
        if not background:
            self._start()
            return
        self.thread = threading.Thread(target=self._start_or_say, name="ablate-start-workers", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        with _main_hidden():
            for p in self.procs:
                p.start()

    def _start_or_say(self) -> None:
        try:
            self._start()
        except Exception as e:  # noqa: BLE001 (a Ctrl-C meanwhile is the main thread's to handle)
            self.progress.console.print(f"a worker process could not be started ({type(e).__name__}: {e}); "
                                        "the study goes on without it", highlight=False, markup=False)

    def started(self) -> list:
        """The processes that were started, once the starting is over."""
        if self.thread is not None:
            self.thread.join()
        return [p for p in self.procs if p.pid is not None]


def _here(here: Callable[[Emit], int], shown: WorkerEvents, threads: int) -> int:
    """This process's stream, with the workers' events shown from a thread; torch keeps a worker's share of
    the cores meanwhile (the caller's setting is restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    shown.in_thread()
    try:
        return here(shown.emit)
    finally:
        torch.set_num_threads(before)
