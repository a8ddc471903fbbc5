"""A progress display: cells done/total with an ETA, and the running cells' epochs."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, total: int, done: int, quiet: bool = False, label: str = "cells"):
        self.quiet = quiet
        self.running: dict[str, str] = {}
        self.console = Console(file=sys.stderr)
        self.bar = RichProgress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TimeElapsedColumn(), TextColumn("{task.fields[running]}"),
            console=self.console, disable=quiet, transient=False,
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
        elif kind == "epoch":
            self.running[cell] = f"epoch {data['epoch']}/{data['epochs']}"
        elif kind == "count":  # the stores' count, which includes cells other workers finished
            self.bar.update(self.task, completed=data["done"])
        elif kind == "done":
            self.running.pop(cell, None)
            self.bar.advance(self.task)
            if data.get("status") == "FAILED" and not self.quiet:
                self.console.print(f"[red]cell {escape(cell)} failed:[/red] {escape(str(data.get('reason', '')))}",
                                   highlight=False)
        text = "  ".join(f"{c} {s}" for c, s in list(self.running.items())[:3])
        self.bar.update(self.task, running=text)
