"""Training-dynamics figures (the seed's four plots and their relatives): one function per figure.

Every function takes `Results` and returns a matplotlib `Figure` built without pyplot (no global figure
registry to leak, works headless). Every arm has one color in every figure (`arm_palette`), so a reader
who learned "l2 is orange" in one plot can read the next without a legend hunt.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ablate.report.results import Results

BASELINE_COLOR = (0.25, 0.25, 0.25)
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
    """The arm's color darkened for text: tab20's light hues are unreadable as title text on white."""
    return tuple(0.7 * c for c in color[:3])


@contextlib.contextmanager
def style():
    """Seaborn's look, scoped to the block: building a report must not restyle the caller's plots."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
        yield


def mean_band(history: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (arm, epoch): mean, std (0 for one seed) and seed count of one per-epoch metric."""
    rows = history[history["metric"] == metric]
    if rows.empty:
        return pd.DataFrame(columns=["arm", "epoch", "mean", "std", "n"])
    grouped = rows.groupby(["arm", "epoch"])["value"].agg(["mean", "std", "count"]).reset_index()
    return grouped.rename(columns={"count": "n"}).fillna({"std": 0.0})


def _grid(n_panels: int, ncols: int = 4, panel=(3.2, 2.4)) -> tuple[Figure, list]:
    """A figure of small multiples, one panel per arm; hidden spare panels keep the grid tidy."""
    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def _draw_band(ax, band: pd.DataFrame, arm: str, color, **line) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    part = band[band["arm"] == arm].sort_values("epoch")
    if part.empty:
        return
    ax.plot(part["epoch"], part["mean"], color=color, **line)
    ax.fill_between(
        part["epoch"],
        part["mean"] - part["std"],
        part["mean"] + part["std"],
        color=color,
        alpha=0.18,
        linewidth=0,
    )


def _empty(fig_title: str, message: str) -> Figure:
    """A figure that says why it is empty, instead of a silently blank image."""
    fig = Figure(figsize=(6, 1.6), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    fig.suptitle(fig_title)
    return fig


def _arms_with(results: Results, metric: str) -> list[str]:
    present = set(results.history.loc[results.history["metric"] == metric, "arm"])
    return [a for a in results.arm_order if a in present]


def _train_val_grid(results: Results, what: str, title: str) -> Figure:
    """Small multiples, one panel per arm: train (dashed) and validation (solid) `what` (loss or acc)."""
    with style():
        arms = _arms_with(results, f"val_{what}")
        if not arms:
            return _empty(title, f"no per-epoch train_{what} / val_{what} were logged")
        palette = arm_palette(results.arm_order)
        train, val = mean_band(results.history, f"train_{what}"), mean_band(results.history, f"val_{what}")
        fig, axes = _grid(len(arms))
        for ax, arm in zip(axes, arms, strict=True):
            _draw_band(ax, train, arm, palette[arm], linestyle="--", label="train")
            _draw_band(ax, val, arm, palette[arm], linestyle="-", label="validation")
            ax.set_title(arm, color=ink(palette[arm]), fontsize=9)
        axes[0].legend(fontsize=8)
        fig.supxlabel("epoch")
        fig.supylabel({"loss": "loss", "acc": "accuracy"}.get(what, what))
        fig.suptitle(f"{title}: training (dashed) vs validation (solid) — {BAND_NOTE}")
        return fig


def loss_curves(results: Results) -> Figure:
    """Train vs validation loss per arm: where the curves part is where overfitting starts."""
    return _train_val_grid(results, "loss", "Loss")


def learning_curves(results: Results) -> Figure:
    """Train vs validation accuracy per arm: the learning curves practitioners read first."""
    return _train_val_grid(results, "acc", "Accuracy")


def generalization_gap(results: Results) -> Figure:
    """Train minus validation accuracy per epoch: regularizers exist to keep this near zero."""
    return _overlay(
        results, "gap_acc", "Generalization gap (train − validation accuracy)", "accuracy gap", reference=0.0
    )


def sparsity(results: Results) -> Figure:
    """Fraction of near-zero weights per epoch: L1 and elastic net should push it up, others should not."""
    return _overlay(results, "sparsity", "Sparsity (fraction of |w| < 1e-3)", "fraction of weights")


def overfitting_score(results: Results) -> Figure:
    """val_loss / train_loss per arm on one axis; 1 means no gap, growth means memorization."""
    return _overlay(
        results,
        "overfit_ratio",
        "Overfitting score (validation loss / training loss)",
        "val / train loss",
        reference=1.0,
    )


def norm_evolution(results: Results) -> Figure:
    """L1 and L2 norms of the penalized weights per epoch: penalties should visibly bend these curves."""
    with style():
        arms = _arms_with(results, "l2_norm")
        if not arms:
            return _empty("Weight norm evolution", "no weight norms were logged")
        palette = arm_palette(results.arm_order)
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, metric, label in zip(
            axes, ["l1_norm", "l2_norm"], ["L1 norm (sum |w|)", "L2 norm (sqrt sum w²)"], strict=True
        ):
            band = mean_band(results.history, metric)
            for arm in arms:
                _draw_band(ax, band, arm, palette[arm], label=arm, linewidth=1.6)
            ax.set_title(label)
            ax.set_xlabel("epoch")
        _legend_outside(fig, axes[-1])
        fig.suptitle(f"Weight norm evolution — {BAND_NOTE}")
        return fig


def _overlay(
    results: Results, metric: str, title: str, ylabel: str, reference: float | None = None
) -> Figure:
    """All arms on one axis for a per-epoch metric whose scale is comparable across arms."""
    with style():
        arms = _arms_with(results, metric)
        if not arms:
            return _empty(title, f"metric '{metric}' was not logged")
        palette = arm_palette(results.arm_order)
        band = mean_band(results.history, metric)
        fig = Figure(figsize=(9, 4.2), layout="constrained")
        ax = fig.subplots()
        for arm in arms:
            _draw_band(ax, band, arm, palette[arm], label=arm, linewidth=1.6)
        if reference is not None:
            ax.axhline(reference, color="black", linewidth=0.8, linestyle=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        _legend_outside(fig, ax)
        fig.suptitle(f"{title} — {BAND_NOTE}")
        return fig


def _legend_outside(fig: Figure, ax) -> None:
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


def pooled_histogram(histograms: list[dict], max_bins: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Pool weight histograms of several seeds into one density on a common grid.

    Each run bins its own weight range, so edges differ. Every source bin's count is spread uniformly over
    the grid bins it overlaps (linear interpolation of its cumulative count), so re-binning neither combs
    nor shifts mass; the grid is as fine as the finest source. The result is a density, so arms with
    different seed counts compare.
    """
    usable = [
        h
        for h in histograms
        if h and len(h.get("edges", [])) == len(h.get("counts", [])) + 1 and len(h["counts"])
    ]
    if not usable:
        return np.array([]), np.array([])
    sources = [(np.asarray(h["edges"], float), np.asarray(h["counts"], float)) for h in usable]
    low = min(e[0] for e, _ in sources)
    high = max(e[-1] for e, _ in sources)
    finest = min(float(np.min(np.diff(e))) for e, _ in sources)
    bins = int(np.clip(round((high - low) / finest) if finest > 0 else 1, 1, max_bins))
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    total = np.zeros(bins)
    for e, c in sources:
        cumulative = np.interp(edges, e, np.concatenate([[0.0], np.cumsum(c)]))
        total += np.diff(cumulative)
    area = total.sum() * (edges[1] - edges[0])
    return edges, total / area if area > 0 else total


def _central_range(hists: list[tuple[np.ndarray, np.ndarray]], mass: float = 0.998) -> tuple[float, float]:
    """x-limits holding the central `mass` of every arm's weights: a few outliers must not squash the bulk."""
    lows, highs = [], []
    for edges, density in hists:
        if density.size == 0 or density.sum() <= 0:
            continue
        cdf = np.cumsum(density) / density.sum()
        lows.append(edges[np.searchsorted(cdf, (1 - mass) / 2)])
        highs.append(edges[min(np.searchsorted(cdf, 1 - (1 - mass) / 2) + 1, len(edges) - 1)])
    if not lows:
        return -1.0, 1.0
    span = max(abs(min(lows)), abs(max(highs)))  # symmetric: zero stays centred, shrinkage reads at a glance
    return -span, span


def weight_distribution(results: Results) -> Figure:
    """Final weight histogram per arm, baseline outlined in every panel: shrinkage and sparsity at a glance."""
    with style():
        by_arm: dict[str, list[dict]] = {}
        finished = results.finished
        for run_id, arm in zip(finished["run_id"], finished["arm"], strict=True):
            if run_id in results.weights:
                by_arm.setdefault(arm, []).append(results.weights[run_id])
        arms = [a for a in results.arm_order if a in by_arm]
        if not arms:
            return _empty("Weight distribution", "no weights.json histograms were logged")
        palette = arm_palette(results.arm_order)
        fig, axes = _grid(len(arms))
        reference = pooled_histogram(by_arm["baseline"]) if "baseline" in by_arm else None
        for ax, arm in zip(axes, arms, strict=True):
            edges, density = pooled_histogram(by_arm[arm])
            ax.stairs(density, edges, fill=True, color=palette[arm], alpha=0.55)
            if reference is not None and arm != "baseline":
                ax.stairs(reference[1], reference[0], color=BASELINE_COLOR, linewidth=1.0, linestyle="--")
            ax.set_title(arm, color=ink(palette[arm]), fontsize=9)
        axes[0].set_xlim(*_central_range([pooled_histogram(v) for v in by_arm.values()]))
        fig.supxlabel("weight value (all penalized weights, end of training)")
        fig.supylabel("density")
        title = "Weight distribution, pooled over seeds"
        fig.suptitle(title + (" — dashed: baseline" if reference is not None else ""))
        return fig


# The seed's four plots first, then the other per-epoch views, in report order.
TRAINING_FIGURES = [
    ("loss_curves", "Training vs validation loss", loss_curves),
    ("weight_distribution", "Weight distribution", weight_distribution),
    ("norm_evolution", "L1 / L2 norm evolution", norm_evolution),
    ("overfitting_score", "Overfitting score", overfitting_score),
    ("learning_curves", "Learning curves (accuracy)", learning_curves),
    ("generalization_gap", "Generalization gap", generalization_gap),
    ("sparsity", "Sparsity", sparsity),
]
