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

from ablate.report.results import Results

BASELINE_COLOR = (0.25, 0.25, 0.25)
BAND_NOTE = "line: mean over seeds; band: ±1 std"


def arm_palette(arms: list[str]) -> dict[str, tuple[float, float, float]]:
    """Arm -> RGB in design order; `baseline` is always dark grey, the reference every eye looks for."""
    others = [a for a in arms if a != "baseline"]
    if len(others) <= 10:
        colors = sns.color_palette("tab10", 10)
    elif len(others) <= 20:  # tab20 pairs dark/light: all dark hues first, so early arms stay legible
        pairs = sns.color_palette("tab20", 20)
        colors = pairs[0::2] + pairs[1::2]
    else:
        colors = sns.color_palette("husl", len(others))
    palette = {arm: tuple(colors[i % len(colors)]) for i, arm in enumerate(others)}
    if "baseline" in arms:
        palette["baseline"] = BASELINE_COLOR
    return palette


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


def loss_curves(results: Results) -> Figure:
    """Train (dashed) vs validation (solid) loss per arm: where the curves part is where overfitting starts."""
    with style():
        arms = _arms_with(results, "val_loss")
        if not arms:
            return _empty("Training vs validation loss", "no per-epoch losses were logged")
        palette = arm_palette(results.arm_order)
        train, val = mean_band(results.history, "train_loss"), mean_band(results.history, "val_loss")
        fig, axes = _grid(len(arms))
        for ax, arm in zip(axes, arms, strict=True):
            _draw_band(ax, train, arm, palette[arm], linestyle="--", label="train")
            _draw_band(ax, val, arm, palette[arm], linestyle="-", label="validation")
            ax.set_title(arm, color=palette[arm], fontsize=9)
        axes[0].legend(fontsize=8)
        fig.supxlabel("epoch")
        fig.supylabel("loss")
        fig.suptitle(f"Training (dashed) vs validation (solid) loss — {BAND_NOTE}")
        return fig


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


def pooled_histogram(histograms: list[dict], max_bins: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Pool weight histograms of several seeds into one density on a common grid.

    Each run may bin its own weight range, so edges can differ; counts are re-binned at their bin centres
    onto a grid spanning all runs (no finer than the source bins, or empty bins would comb the plot), then
    normalized to a density so arms with different seed counts compare.
    """
    usable = [h for h in histograms if h and len(h.get("edges", [])) == len(h.get("counts", [])) + 1]
    if not usable:
        return np.array([]), np.array([])
    bins = max(1, min(max_bins, max(len(h["counts"]) for h in usable)))
    low = min(float(h["edges"][0]) for h in usable)
    high = max(float(h["edges"][-1]) for h in usable)
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    total = np.zeros(bins)
    for h in usable:
        e = np.asarray(h["edges"], dtype=float)
        total += np.histogram((e[:-1] + e[1:]) / 2, bins=edges, weights=np.asarray(h["counts"], float))[0]
    area = total.sum() * (edges[1] - edges[0])
    return edges, total / area if area > 0 else total


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
            ax.set_title(arm, color=palette[arm], fontsize=9)
        fig.supxlabel("weight value (all penalized weights, end of training)")
        fig.supylabel("density")
        title = "Weight distribution, pooled over seeds"
        fig.suptitle(title + (" — dashed: baseline" if reference is not None else ""))
        return fig


# The seed's four plots, in report order; html.py renders each with its caption.
TRAINING_FIGURES = [
    ("loss_curves", "Training vs validation loss", loss_curves),
    ("weight_distribution", "Weight distribution", weight_distribution),
    ("norm_evolution", "L1 / L2 norm evolution", norm_evolution),
    ("overfitting_score", "Overfitting score", overfitting_score),
]
