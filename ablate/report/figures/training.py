"""Training curves: what each regularizer does to the per-epoch losses, accuracies, gap and sparsity, and
how long each cell trained. One function per figure; the line is the mean over seeds, the band ±1 std.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ablate.report.figures.style import (
    BAND_NOTE,
    FACTOR_OFF,
    FACTOR_ON,
    HIGHLIGHT_ABOVE,
    HIGHLIGHTED,
    OTHER_COLOR,
    arm_palette,
    empty,
    grid,
    ink,
    style,
    titled_with_legend,
)
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


def draw_band(ax, band: pd.DataFrame, arm: str, color, band_alpha: float = 0.18, **line) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # epochs are whole numbers
    part = band[band["arm"] == arm].sort_values("epoch")
    if part.empty:
        return
    ax.plot(part["epoch"], part["mean"], color=color, **line)
    if band_alpha:
        ax.fill_between(
            part["epoch"],
            part["mean"] - part["std"],
            part["mean"] + part["std"],
            color=color,
            alpha=band_alpha,
            linewidth=0,
        )


def arm_ranking(results: Results) -> list[str]:
    """Arms by their mean study metric over finished cells, best first (arms with none last)."""
    finished, metric = results.finished, results.study.metric
    if finished.empty or metric not in finished:
        return list(results.arm_order)
    means = finished.groupby("arm")[metric].mean()
    ranked = list(means.sort_values(ascending=results.study.direction == "minimize", kind="stable").index)
    return ranked + [a for a in results.arm_order if a not in ranked]


def overlay_styles(results: Results, arms: list[str]) -> tuple[dict[str, dict], str]:
    """How each arm is drawn on a shared axis, and a note saying so. Up to HIGHLIGHT_ABOVE arms: each in its
    colour. More (a 16-arm factorial): the baseline and the HIGHLIGHTED best and worst arms by the study
    metric in colour, the rest thin grey and unlabelled; a legend of 16 pastel lines reads as none."""
    palette = arm_palette(results.arm_order)
    if len(arms) <= HIGHLIGHT_ABOVE:
        return {a: {"color": palette[a], "label": a, "linewidth": 1.6} for a in arms}, ""
    ranked = [a for a in arm_ranking(results) if a in arms]
    best, worst = ranked[:HIGHLIGHTED], ranked[-HIGHLIGHTED:]
    keep = {"baseline", *best, *worst}
    styles = {}
    for arm in arms:
        if arm in keep:
            tag = " (best)" if arm in best[:1] else " (worst)" if arm == ranked[-1] else ""
            styles[arm] = {"color": palette[arm], "label": arm + tag, "linewidth": 1.8, "zorder": 3}
        else:
            styles[arm] = {"color": OTHER_COLOR, "linewidth": 0.8, "zorder": 1, "band_alpha": 0.0}
    others = len(arms) - len(keep & set(arms))
    note = (f"coloured: baseline, the {HIGHLIGHTED} best and {HIGHLIGHTED} worst arms by mean "
            f"{results.study.metric}; grey: the other {others} (every arm's numbers: the cells table)")
    return styles, note


def draw_overlay(ax, band: pd.DataFrame, styles: dict[str, dict]) -> None:
    """Grey arms first, so the highlighted ones stay on top; one grey legend entry stands for them all."""
    grey = [a for a, st in styles.items() if "label" not in st]
    for arm in grey + [a for a in styles if a not in grey]:
        draw_band(ax, band, arm, **styles[arm])
    if grey:
        ax.plot([], [], color=OTHER_COLOR, linewidth=0.8, label=f"{len(grey)} other arms")


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
    """All arms on one axis for a per-epoch metric whose scale is comparable across arms; past
    HIGHLIGHT_ABOVE arms of a design with on/off factors, one panel per factor instead (factor_panels)."""
    with style():
        arms = arms_with(results, metric)
        if not arms:
            return empty(title, f"metric '{metric}' was not logged")
        if len(arms) > HIGHLIGHT_ABOVE and not _switches(results).empty:
            return factor_panels(results, metric, title, ylabel, reference)
        styles, note = overlay_styles(results, arms)
        band = mean_band(results.history, metric)
        fig = Figure(figsize=(9, 4.2))
        ax = fig.subplots()
        draw_overlay(ax, band, styles)
        if reference is not None:
            ax.axhline(reference, color="black", linewidth=0.8, linestyle=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        titled_with_legend(fig, [ax], f"{title} — {BAND_NOTE}" + (f"\n{note}" if note else ""))
        return fig


def _switches(results: Results) -> pd.DataFrame:
    """arm -> factor -> on (bool), for the study's factors the cells table carries."""
    factors = [f for f in results.study.factors if f in results.ablation]
    if not factors:
        return pd.DataFrame()
    return results.ablation.drop_duplicates("arm").set_index("arm")[factors].astype(bool)


def factor_panels(
    results: Results, metric: str, title: str, ylabel: str, reference: float | None = None
) -> Figure:
    """One panel per factor: every arm's curve (mean over seeds) thin, in colour where the factor is on and
    grey where it is off, and in bold the mean of all cells with it on and with it off. What a factor does
    to the curve reads at a glance however many arms the design has, and no arm is hidden."""
    switches, rows = _switches(results), results.history[results.history["metric"] == metric]
    band = mean_band(results.history, metric)
    fig, axes = grid(len(switches.columns), ncols=4, panel=(3.4, 2.6), fixed=False)  # in-panel legends
    for ax, factor in zip(axes, switches.columns, strict=True):
        on_arms = set(switches.index[switches[factor]])
        for arm in [a for a in arms_with(results, metric) if a not in on_arms] + sorted(on_arms):
            part = band[band["arm"] == arm].sort_values("epoch")
            ax.plot(part["epoch"], part["mean"], color=FACTOR_ON if arm in on_arms else OTHER_COLOR,
                    linewidth=0.7, alpha=0.55)
        for on, color in ((False, FACTOR_OFF), (True, FACTOR_ON)):
            mean = rows[rows["arm"].isin(on_arms) == on].groupby("epoch")["value"].mean()
            n = len(on_arms) if on else len(switches) - len(on_arms)
            ax.plot(mean.index, mean.to_numpy(), color=color, linewidth=2.4, label=f"{'on' if on else 'off'}"
                    f" ({n} arms)")
        if reference is not None:
            ax.axhline(reference, color="black", linewidth=0.8, linestyle=":")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(factor, fontsize=10)
        ax.legend(fontsize=7, loc="best")
    fig.supxlabel("epoch")
    fig.supylabel(ylabel)
    fig.suptitle(f"{title}, factor by factor — thin: each arm (mean over seeds), coloured where the factor is "
                 "on; bold: mean of every cell with it on / off", fontsize=10)
    return fig


def metric_vs_epochs(results: Results) -> Figure:
    """Final metric against epochs trained, one dot per cell: does early stopping cost or save accuracy?"""
    finished, metric = results.finished, results.study.metric
    if finished.empty or metric not in finished:
        return empty(f"{metric} vs epochs run", "no finished cells")
    epochs = finished["run_id"].map(epochs_run(results))
    scale, unit = metric_scale(metric)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(finished))
    arms = [a for a in results.arm_order if a in set(finished["arm"])]
    styles, note = overlay_styles(results, arms)
    with style():
        fig = Figure(figsize=(9, 4.2))
        ax = fig.subplots()
        for arm in sorted(arms, key=lambda a: "label" in styles[a]):  # grey dots underneath
            mask = (finished["arm"] == arm).to_numpy()
            st = styles[arm]
            ax.scatter(
                epochs[mask] + jitter[mask],
                finished.loc[mask, metric] * scale,
                color=st["color"],
                label=st.get("label"),
                s=36 if "label" in st else 18,
                edgecolor="white",
                linewidth=0.5,
                zorder=st.get("zorder", 2),
            )
        # whole-epoch ticks even when every cell ran the same number of epochs
        ax.set_xlim(float(epochs.min()) - 0.6, float(epochs.max()) + 0.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel("epochs run (early stopping may end a cell before the budget)")
        ax.set_ylabel(metric + (f" ({'%' if unit == 'points' else unit})" if unit else ""))
        titled_with_legend(fig, [ax], f"Final {metric} against epochs run, one dot per cell"
                           + (f"\n{note}" if note else ""))
        return fig
