"""The local workers' events, pumped from their queue onto the parent's progress (progress.py draws it):
one lock, so one thread at a time changes the progress, and a worker found stopped is named."""

from __future__ import annotations

import queue
import threading
import time

from ablate.procs import is_stopped


class WorkerEvents:
    """The workers' events on the parent's progress (and this process's own, through emit): one lock, so
    the progress is changed by one thread at a time. `fatal`: the first error a worker stopped on."""

    def __init__(self, procs, events, progress):
        self.procs, self.events, self.progress = procs, events, progress
        self.watch, self.lock = _Watch(procs, progress), threading.Lock()
        self.ran, self.fatal, self.thread, self.done = 0, None, None, threading.Event()

    def emit(self, kind: str, **data) -> None:
        with self.lock:
            self.progress.event(kind, **data)

    def pump(self) -> None:
        """Until every worker has ended (in a thread: until stop) and its last events are shown."""
        while self._more() or not self.events.empty():
            with self.lock:
                self.watch.check()
            try:
                kind, data, pid = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            with self.lock:
                self.watch.seen(kind, data, pid)
                if kind == "fatal":
                    self.fatal = self.fatal or data["message"]
                    continue
                self.progress.event(kind, **data)
                self.ran += kind == "done"

    def _more(self) -> bool:
        if self.thread is not None:  # the workers may not be started yet: the caller says when they ended
            return not self.done.is_set()
        return any(p.is_alive() for p in self.procs)

    def in_thread(self) -> None:
        self.thread = threading.Thread(target=self.pump, name="ablate-worker-events", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Once the workers are joined: the thread shows what they sent last, then ends."""
        if self.thread is not None:
            self.done.set()
            self.thread.join()


class _Watch:
    """Which cell each worker runs; a worker found stopped (SIGSTOP, a debugger) is named once a heartbeat
    interval (30 s), since the run waits for it and would otherwise wait in silence."""

    def __init__(self, procs, progress):
        from ablate.scheduler.liveness import heartbeat_seconds

        self.procs, self.progress, self.cells = procs, progress, {}
        self.clock, self.last, self.every = time.monotonic, time.monotonic(), float(heartbeat_seconds())

    def seen(self, kind: str, data: dict, pid: int) -> None:
        if kind == "start":
            self.cells[pid] = data.get("cell", "")
        elif kind == "done":
            self.cells.pop(pid, None)

    def check(self) -> None:
        if self.clock() - self.last < self.every:
            return
        self.last = self.clock()
        # not p.is_alive(): called from a thread, its poll could race the main thread's join for the exit
        # code; a stopped process is alive, and an ended one is not stopped
        for p in self.procs:
            if p.pid and is_stopped(p.pid):
                cell = self.cells.get(p.pid)
                what = f"cell {cell}" if cell else "no cell yet"
                self.progress.console.print(
                    f"waiting for {p.name} (pid {p.pid}, {what}): it is stopped (SIGSTOP or a debugger). Resume "
                    f"it (kill -CONT {p.pid}), or end it (kill {p.pid}): its cell then runs again elsewhere",
                    highlight=False, markup=False, soft_wrap=True)
