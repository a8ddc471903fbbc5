"""The page's parts, shared by every section: Section, FigureBlock, and the one way a figure becomes one.

A leaf module (it imports nothing of the report but `results`), so sections, figures and html can all use
it without importing each other.
"""

from __future__ import annotations

import base64
import contextlib
import io
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from ablate.report.results import Results


class FigureBlock:
    """A rendered figure: the PNG travels inside the page as base64, so the file opens offline. While a
    `parallel_figures` pool is open the PNG is still being drawn in another process; reading png_base64
    waits for it (and draws it here if that process could not)."""

    def __init__(self, id: str, title: str, png_base64: str | Future, caption: str = "", redo=None):
        self.id, self.title, self.caption, self._png, self._redo = id, title, caption, png_base64, redo

    @property
    def png_base64(self) -> str:
        if isinstance(self._png, Future):
            try:
                self._png = self._png.result()
            except Exception:  # e.g. an argument that does not pickle: draw it here instead
                self._png = self._redo()
        return self._png


@dataclass
class Section:
    """One titled part of the page; `template` names its partial in templates/, `context` feeds it."""

    id: str
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)


SectionBuilder = Callable[[Results], "Section | None"]


def figure_png(fig: Figure, dpi: int = 100) -> str:
    """Figure -> base64 PNG text."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _render(fn: Callable[..., Figure], *args) -> str:
    return figure_png(fn(*args))


_pools: list[ProcessPoolExecutor] = []  # the pool parallel_figures opened, while it is open


@contextlib.contextmanager
def parallel_figures():
    """Draw the figures in forked processes while the statistics go on here: drawing (layout, rasterizing,
    PNG encoding) is most of a report's time, and each figure is independent of the others. One process
    per core beyond this one's; none on one core or where fork is missing (figures are then drawn inline)."""
    cores = os.cpu_count() or 1
    if cores < 2 or "fork" not in mp.get_all_start_methods():
        yield
        return
    with ProcessPoolExecutor(max_workers=min(cores, 4), mp_context=mp.get_context("fork")) as pool:
        _pools.append(pool)
        try:
            yield
        finally:
            _pools.remove(pool)


def figure_block(fid: str, title: str, fn: Callable[..., Figure], *args) -> FigureBlock:
    """Render one figure (in parallel_figures' pool when one is open); its function's first docstring line
    (why the figure exists) becomes the caption."""
    caption = (fn.__doc__ or "").strip().split("\n")[0]
    if _pools:
        return FigureBlock(fid, title, _pools[-1].submit(_render, fn, *args), caption, lambda: _render(fn, *args))
    return FigureBlock(fid, title, _render(fn, *args), caption)
