"""The figures' shared look: one color per arm in every figure, seaborn's style scoped to a block, and the
layout helpers (small multiples, an outside legend, an honest empty figure).

Every figure function takes `Results` (or a table) and returns a matplotlib `Figure` built without pyplot
(no global figure registry to leak, works headless). Every arm has one color in every figure
(`arm_palette`), so a reader who learned "l2 is orange" in one plot can read the next without a legend hunt.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

BASELINE_COLOR = (0.25, 0.25, 0.25)
INK_LUMINANCE = 0.33  # the lightest an arm's name may be drawn as text (white's is 1)
OTHER_COLOR = (0.78, 0.78, 0.78)  # arms drawn for context only, when a shared axis highlights a few
HIGHLIGHT_ABOVE = 8  # arms a shared axis shows each in its own colour; beyond, it highlights a few
HIGHLIGHTED = 3  # the best and the worst arms highlighted (with the baseline) beyond that
FACTOR_ON, FACTOR_OFF = (0.85, 0.37, 0.01), (0.35, 0.35, 0.35)  # a factor's on / off curves, per-factor panels
BAND_NOTE = "line: mean over seeds; band: ±1 std"


def arm_palette(arms: list[str]) -> dict[str, tuple[float, float, float]]:
    """Arm -> RGB in design order; `baseline` is always dark grey, the reference every eye looks for."""
    others = [a for a in arms if a != "baseline"]
    # The tab palettes' greys are dropped: grey means baseline. tab20 pairs dark/light hues; all dark
    # hues come first so the early (single-factor) arms stay legible.
    if len(others) <= 9:
        colors = [c for i, c in enumerate(sns.color_palette("tab10", 10)) if i != 7]
    elif len(others) <= 18:
        pairs = [c for i, c in enumerate(sns.color_palette("tab20", 20)) if i not in (14, 15)]
        colors = pairs[0::2] + pairs[1::2]
    else:
        colors = sns.color_palette("husl", len(others))
    palette = {arm: tuple(colors[i % len(colors)]) for i, arm in enumerate(others)}
    if "baseline" in arms:
        palette["baseline"] = BASELINE_COLOR
    return palette


def ink(color) -> tuple[float, float, float]:
    """The arm's color darkened for text: tab20's light hues are unreadable as title text on white, so every
    hue is brought to at most a fixed luminance (dark ones barely change, pale ones a lot; the hue stays)."""
    r, g, b = color[:3]
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    scale = min(0.7, INK_LUMINANCE / luminance) if luminance > 0 else 1.0
    return (scale * r, scale * g, scale * b)


@contextlib.contextmanager
def style():
    """Seaborn's look, scoped to the block: building a report must not restyle the caller's plots."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
        yield


def css_palette(arms: list[str]) -> dict[str, str]:
    """The figures' arm colors as CSS hex, so table swatches match the plots."""
    return {arm: "#" + "".join(f"{round(255 * c):02x}" for c in rgb) for arm, rgb in arm_palette(arms).items()}


def grid(n_panels: int, ncols: int = 4, panel=(3.2, 2.4)) -> tuple[Figure, list]:
    """A figure of small multiples, one panel per arm; hidden spare panels keep the grid tidy."""
    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def empty(fig_title: str, message: str) -> Figure:
    """A figure that says why it is empty, instead of a silently blank image."""
    fig = Figure(figsize=(6, 1.6), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    fig.suptitle(fig_title)
    return fig


def legend_outside(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            ncols=1 if len(labels) <= 16 else 2,
            frameon=False,
        )


def text_on(shade: float) -> str:
    """Annotation color that stays readable on a heatmap cell of this intensity (0 pale .. 1 saturated)."""
    return "white" if np.isfinite(shade) and shade > 0.6 else "black"
