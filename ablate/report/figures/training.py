"""Training curves: what each regularizer does to the per-epoch losses, accuracies, gap and sparsity, and
how long each cell trained. One function per figure; the line is the mean over seeds, the band ±1 std.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ablate.report.figures.style import BAND_NOTE, arm_palette, empty, grid, ink, legend_outside, style
from ablate.report.results import Results
from ablate.report.stats.effects import metric_scale
from ablate.report.stats.leaderboard import epochs_run


def mean_band(history: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (arm, epoch): mean, std (0 for one seed) and seed count of one per-epoch metric."""
    rows = history[history["metric"] == metric]
    if rows.empty:
        return pd.DataFrame(columns=["arm", "epoch", "mean", "std", "n"])
    grouped = rows.groupby(["arm", "epoch"])["value"].agg(["mean", "std", "count"]).reset_index()
    return grouped.rename(columns={"count": "n"}).fillna({"std": 0.0})


def draw_band(ax, band: pd.DataFrame, arm: str, color, **line) -> None:
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


def arms_with(results: Results, metric: str) -> list[str]:
    present = set(results.history.loc[results.history["metric"] == metric, "arm"])
    return [a for a in results.arm_order if a in present]


def _train_val_grid(results: Results, what: str, title: str) -> Figure:
    """Small multiples, one panel per arm: train (dashed) and validation (solid) `what` (loss or acc)."""
    with style():
        arms = arms_with(results, f"val_{what}")
        if not arms:
            return empty(title, f"no per-epoch train_{what} / val_{what} were logged")
        palette = arm_palette(results.arm_order)
        train, val = mean_band(results.history, f"train_{what}"), mean_band(results.history, f"val_{what}")
        fig, axes = grid(len(arms))
        for ax, arm in zip(axes, arms, strict=True):
            draw_band(ax, train, arm, palette[arm], linestyle="--", label="train")
            draw_band(ax, val, arm, palette[arm], linestyle="-", label="validation")
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


def _overlay(
    results: Results, metric: str, title: str, ylabel: str, reference: float | None = None
) -> Figure:
    """All arms on one axis for a per-epoch metric whose scale is comparable across arms."""
    with style():
        arms = arms_with(results, metric)
        if not arms:
            return empty(title, f"metric '{metric}' was not logged")
        palette = arm_palette(results.arm_order)
        band = mean_band(results.history, metric)
        fig = Figure(figsize=(9, 4.2), layout="constrained")
        ax = fig.subplots()
        for arm in arms:
            draw_band(ax, band, arm, palette[arm], label=arm, linewidth=1.6)
        if reference is not None:
            ax.axhline(reference, color="black", linewidth=0.8, linestyle=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        legend_outside(fig, ax)
        fig.suptitle(f"{title} — {BAND_NOTE}")
        return fig


def metric_vs_epochs(results: Results) -> Figure:
    """Final metric against epochs trained, one dot per cell: does early stopping cost or save accuracy?"""
    finished, metric = results.finished, results.study.metric
    if finished.empty or metric not in finished:
        return empty(f"{metric} vs epochs run", "no finished cells")
    epochs = finished["run_id"].map(epochs_run(results))
    palette = arm_palette(results.arm_order)
    scale, unit = metric_scale(metric)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(finished))
    with style():
        fig = Figure(figsize=(9, 4.2), layout="constrained")
        ax = fig.subplots()
        for arm in [a for a in results.arm_order if a in set(finished["arm"])]:
            mask = (finished["arm"] == arm).to_numpy()
            ax.scatter(
                epochs[mask] + jitter[mask],
                finished.loc[mask, metric] * scale,
                color=palette[arm],
                label=arm,
                s=36,
                edgecolor="white",
                linewidth=0.5,
            )
        # whole-epoch ticks even when every cell ran the same number of epochs
        ax.set_xlim(float(epochs.min()) - 0.6, float(epochs.max()) + 0.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel("epochs run (early stopping may end a cell before the budget)")
        ax.set_ylabel(metric + (f" ({'%' if unit == 'points' else unit})" if unit else ""))
        legend_outside(fig, ax)
        fig.suptitle(f"Final {metric} against epochs run, one dot per cell", fontsize=10)
        return fig
