"""The page's parts, shared by every section: Section, FigureBlock, and the one way a figure becomes one.

A leaf module (it imports nothing of the report but `results`), so sections, figures and html can all use
it without importing each other.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from ablate.report.results import Results


@dataclass
class FigureBlock:
    """A rendered figure: the PNG travels inside the page as base64, so the file opens offline."""

    id: str
    title: str
    png_base64: str
    caption: str = ""


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


def figure_block(fid: str, title: str, fn: Callable[..., Figure], *args) -> FigureBlock:
    """Render one figure; its function's first docstring line (why the figure exists) becomes the caption."""
    caption = (fn.__doc__ or "").strip().split("\n")[0]
    return FigureBlock(fid, title, figure_png(fn(*args)), caption)
