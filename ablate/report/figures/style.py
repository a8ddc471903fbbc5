"""The figures' shared look: one color per arm in every figure, seaborn's style scoped to a block, and the
layout helpers (small multiples, an outside legend, an honest empty figure).

Every figure function takes `Results` (or a table) and returns a matplotlib `Figure` built without pyplot
(no global figure registry to leak, works headless). Every arm has one color in every figure
(`arm_palette`), so a reader who learned "l2 is orange" in one plot can read the next without a legend hunt.
"""

from __future__ import annotations

import contextlib
import math

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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
    """Seaborn's look, scoped to the block: building a report must not restyle the caller's plots.

    Titles sit at a fixed height (axes.titley 1.0, plus the usual pad) instead of being placed clear of any
    top-side ticks at draw time: no figure here has ticks on top, and placing them measured every panel's
    tick labels, half the draw time of a small-multiples figure."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85), \
            matplotlib.rc_context({"axes.titley": 1.0}):
        yield


def css_palette(arms: list[str]) -> dict[str, str]:
    """The figures' arm colors as CSS hex, so table swatches match the plots."""
    return {arm: "#" + "".join(f"{round(255 * c):02x}" for c in rgb) for arm, rgb in arm_palette(arms).items()}


# a grid's fixed margins in inches: left (y tick labels + supylabel), right, bottom (x tick labels +
# supxlabel), top (suptitle + the first row's titles), and between panels (titles above; beside, room for
# two neighbours' end tick labels, "0.30" and "−0.30", since shared axes hide only the inner y labels)
GRID_MARGINS = {"left": 0.85, "right": 0.2, "bottom": 0.6, "top": 0.6, "wspace": 0.4, "hspace": 0.4}
FIXED_FROM = 4  # panels from which a grid is laid out by GRID_MARGINS instead of constrained layout


def grid(n_panels: int, ncols: int = 4, panel=(3.2, 2.4), fixed: bool = True) -> tuple[Figure, list]:
    """A figure of small multiples, one panel per arm; hidden spare panels keep the grid tidy.

    From FIXED_FROM panels on (and `fixed`), the margins are fixed (GRID_MARGINS) instead of solved by
    constrained layout, which measures every panel's ticks and titles before drawing: that was half the
    time of an 8-panel figure, the report's costliest. Fewer panels keep constrained layout, whose margins
    follow a title wider than the panels."""
    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    width, height = panel[0] * ncols, panel[1] * nrows + 0.6
    if fixed and n_panels >= FIXED_FROM:
        m = GRID_MARGINS
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, bottom=m["bottom"] / height,
                            top=1 - m["top"] / height, wspace=m["wspace"] / panel[0], hspace=m["hspace"] / panel[1])
    else:
        fig = Figure(figsize=(width, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    # a few ticks a small panel: each tick (its grid line, marks and label) is drawn in every panel
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=5))
    axes[0].yaxis.set_major_locator(MaxNLocator(nbins=4))
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


AXES_LEFT, AXES_BOTTOM, AXES_GAP = 0.9, 0.6, 0.9  # inches: y tick labels + label; x ones + label; between axes
TITLE_LINE = 0.2  # inches a line of a 10 pt suptitle takes, spacing included
AXES_TITLE = 0.3  # inches an axes title takes above its axes


def titled_with_legend(fig: Figure, axes: list, title: str, legend_ax=None) -> None:
    """The suptitle, legend_outside's legend right of `legend_ax` (default the last axes), and fixed margins
    that fit them: the legend's width is measured alone (its texts only), where constrained layout would
    lay out and measure the whole figure once before drawing it (a quarter of an overlay figure's time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    legend_ax = legend_ax if legend_ax is not None else axes[-1]
    legend_outside(fig, legend_ax)
    fig.suptitle(title, fontsize=10)
    width, height = fig.get_size_inches()
    right = 0.15
    legend = legend_ax.get_legend()
    if legend is not None:
        right += legend.get_window_extent(FigureCanvasAgg(fig).get_renderer()).width / fig.dpi + 0.1
    fig.set_layout_engine("none")
    span = (width - AXES_LEFT - right - AXES_GAP * (len(axes) - 1)) / max(len(axes), 1)
    fig.subplots_adjust(left=AXES_LEFT / width, right=1 - right / width, bottom=AXES_BOTTOM / height,
                        top=1 - (0.15 + TITLE_LINE * (title.count("\n") + 1)
                                 + (AXES_TITLE if any(ax.get_title() for ax in axes) else 0.0)) / height,
                        wspace=AXES_GAP / max(span, 0.1))


def text_on(shade: float) -> str:
    """Annotation color that stays readable on a heatmap cell of this intensity (0 pale .. 1 saturated)."""
    return "white" if np.isfinite(shade) and shade > 0.6 else "black"
