"""The page's parts, shared by every section: Section, FigureBlock, and the one way a figure becomes one.

A leaf module (it imports nothing of the report but `results` and the figure processes, figure_pool), so
sections, figures and html can all use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from ablate.report import figure_pool
from ablate.report.results import Results


class FigureBlock:
    """A rendered figure: the PNG travels inside the page as base64, so the file opens offline. While a
    `figure_pool.parallel_figures` pool is open the PNG is still being drawn in another process; reading
    png_base64 waits for it (and draws it here if that process could not)."""

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


def figure_block(fid: str, title: str, fn: Callable[..., Figure], *args) -> FigureBlock:
    """Render one figure (in parallel_figures' pool when one is open); its function's first docstring line
    (why the figure exists) becomes the caption."""
    caption = (fn.__doc__ or "").strip().split("\n")[0]
    return FigureBlock(fid, title, figure_pool.draw(fn, *args), caption, lambda: figure_pool.render(fn, *args))
