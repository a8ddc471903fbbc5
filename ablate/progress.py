"""Progress wherever the output goes: a live bar on a terminal, one line per finished cell elsewhere.

A live bar in a log file (nohup, CI, a batch job) is either nothing until the end or a mess of redraws, so
off a terminal each finished cell prints one flushed line to stderr that a log reader (or `grep`) can use:
`cell 12/32 done dropout+l2/seed1 test_acc=0.9312 4.1s elapsed 0:52 ETA 1:30`. With local worker
processes, their events reach the same progress through a queue, pumped by event_pump.WorkerEvents.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


def clock(seconds: float) -> str:
    """0:52, 1:02:05: elapsed and remaining time as a log reader expects them."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int, done: int, quiet: bool = False, label: str = "cells", metric: str = "value",
                 live: bool | None = None):
        """live: draw the bar (default: when stderr is a terminal); otherwise print a line per finished cell.
        quiet: neither."""
        self.quiet, self.total, self.done, self.metric = quiet, total, done, metric
        self.word = "cell" if label == "cells" else label
        self.running: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.t0, self.finished_here = time.monotonic(), 0
        self.console = Console(file=sys.stderr)
        self.live = self.console.is_terminal if live is None else live
        self.bar = RichProgress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TimeElapsedColumn(), TextColumn("{task.fields[running]}"),
            console=self.console, disable=quiet or not self.live, transient=False,
        )
        self.task = self.bar.add_task("cells", total=total, completed=done, running="")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def event(self, kind: str, **data) -> None:
        cell = data.get("cell", "")
        if kind == "start":
            self.running[cell] = "starting"
            self.started[cell] = time.monotonic()
        elif kind == "epoch":
            self.running[cell] = f"epoch {data['epoch']}/{data['epochs']}"
        elif kind == "count":  # the stores' count, which includes cells other workers finished
            self.done = max(self.done, data["done"])
            self.bar.update(self.task, completed=data["done"])
        elif kind == "done":
            self.running.pop(cell, None)
            self.done, self.finished_here = self.done + 1, self.finished_here + 1
            self.bar.advance(self.task)
            if not self.quiet and not self.live:
                self._line(cell, data)
            elif data.get("status") == "FAILED" and not self.quiet:
                self.console.print(f"[red]cell {escape(cell)} failed:[/red] {escape(str(data.get('reason', '')))}",
                                   highlight=False)
        text = "  ".join(f"{c} {s}" for c, s in list(self.running.items())[:3])
        self.bar.update(self.task, running=text)

    def _line(self, cell: str, data: dict) -> None:
        now = time.monotonic()
        elapsed = now - self.t0
        took = now - self.started.pop(cell, now)
        status = data.get("status", "FINISHED")
        if status == "FINISHED" and data.get("value") is not None:
            what = f"done {cell} {self.metric}={float(data['value']):.4f}"
        elif status == "FINISHED":
            what = f"done {cell}"
        else:
            what = f"{status} {cell}" + (f": {data['reason']}" if data.get("reason") else "")
        left = max(self.total - self.done, 0)
        eta = f" ETA {clock(elapsed / self.finished_here * left)}" if left else ""
        print(f"{self.word} {min(self.done, self.total)}/{self.total} {what} {took:.1f}s elapsed "
              f"{clock(elapsed)}{eta}", file=sys.stderr, flush=True)
