"""Weights and norms: where the weights end up (histograms), how their norms move per epoch, and which
layers a regularizer shrinks. One function per figure, with the shared arm colors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ablate.records import LAYER_NORM_METRIC
from ablate.report.figures.style import (
    BAND_NOTE,
    BASELINE_COLOR,
    arm_palette,
    empty,
    grid,
    ink,
    style,
    text_on,
    titled_with_legend,
)
from ablate.report.figures.training import arms_with, draw_overlay, mean_band, overlay_styles
from ablate.report.results import Results


def norm_evolution(results: Results) -> Figure:
    """L1 and L2 norms of the penalized weights per epoch: penalties should visibly bend these curves."""
    with style():
        arms = arms_with(results, "l2_norm")
        if not arms:
            return empty("Weight norm evolution", "no weight norms were logged")
        styles, note = overlay_styles(results, arms)
        fig = Figure(figsize=(11, 4.2))
        axes = fig.subplots(1, 2)
        for ax, metric, label in zip(
            axes, ["l1_norm", "l2_norm"], ["L1 norm (sum |w|)", "L2 norm (sqrt sum w²)"], strict=True
        ):
            draw_overlay(ax, mean_band(results.history, metric), styles)
            ax.set_title(label)
            ax.set_xlabel("epoch")
        titled_with_legend(fig, list(axes), f"Weight norm evolution — {BAND_NOTE}" + (f"\n{note}" if note else ""))
        return fig


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


def staircase(edges: np.ndarray, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A histogram's outline as a polyline from zero to zero (what Axes.stairs draws). A polyline and a
    fill_between over it draw the same; a stairs patch costs a bezier walk over its ~800 vertices just to
    update the axes' limits, 40 ms a panel."""
    if density.size == 0:
        return np.array([]), np.array([])
    return np.repeat(edges, 2), np.concatenate([[0.0], np.repeat(density, 2), [0.0]])


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
            return empty("Weight distribution", results.artifacts_missing or "no weights.json histograms were logged")
        palette = arm_palette(results.arm_order)
        fig, axes = grid(len(arms))
        pooled = {arm: pooled_histogram(by_arm[arm]) for arm in arms}  # once per arm: panels, reference, limits
        reference = pooled.get("baseline")
        for ax, arm in zip(axes, arms, strict=True):
            x, y = staircase(*pooled[arm])
            ax.fill_between(x, y, 0.0, color=palette[arm], alpha=0.55, linewidth=0)
            if reference is not None and arm != "baseline":
                ax.plot(*staircase(*reference), color=BASELINE_COLOR, linewidth=1.0, linestyle="--")
            ax.set_title(arm, color=ink(palette[arm]), fontsize=9)
        axes[0].set_xlim(*_central_range(list(pooled.values())))
        fig.supxlabel("weight value (all penalized weights, end of training)")
        fig.supylabel("density")
        title = "Weight distribution, pooled over seeds"
        fig.suptitle(title + (" — dashed: baseline" if reference is not None else ""))
        return fig


def _natural(name: str) -> list[tuple[int, int, str]]:
    """Sort key: numbers by value, words alphabetically, a number before a word at the same depth (a key of
    bare ints and strs would compare 1 with 'weight' once one arm names a layer `fc.weight`, another `fc.1`)."""
    parts = name.replace("[", ".").replace("]", "").split(".")
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]


def aligned_layer_names(names: list[str]) -> dict[str, str]:
    """Per-run layer names that line up across arms: `features.3.weight` -> `features[2].weight`.

    Sequential indices shift when an arm inserts BatchNorm or dropout layers, so the same conv layer is
    `features.0` in one arm and `features.1` in another; ranking the index within its container (per run)
    names it by position instead. A container with one such layer drops the index: a head that dropout
    wraps (`fc.1.weight`, after the Dropout) is the `fc.weight` of the arms without it.
    """
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    out = {}
    for name in names:
        parts = name.removeprefix(LAYER_NORM_METRIC).split(".")
        index = next((i for i, p in enumerate(parts) if p.isdigit()), None)
        if index is None:
            out[name] = ".".join(parts)
            continue
        key = (".".join(parts[:index]), ".".join(parts[index + 1 :]))
        groups.setdefault(key, []).append((int(parts[index]), name))
    for (prefix, suffix), members in groups.items():
        for rank, (_, name) in enumerate(sorted(members), start=1):
            position = f"[{rank}]" if len(members) > 1 or not prefix else ""
            out[name] = f"{prefix}{position}" + (f".{suffix}" if suffix else "")
    return out


def layer_norm_table(results: Results) -> pd.DataFrame:
    """arm x layer: the final per-layer L2 norm, mean over the arm's finished seeds, layers by aligned name;
    NaN where an arm's network has no such layer (arms of different architectures share no columns)."""
    h = results.history
    if h.empty:  # no cell logged an epoch (all failed first): the column is not even text
        return pd.DataFrame()
    rows = h[h["metric"].astype(str).str.startswith(LAYER_NORM_METRIC) & h["run_id"].isin(results.finished["run_id"])]
    if rows.empty:
        return pd.DataFrame()
    last = rows.sort_values("epoch").groupby(["run_id", "metric"]).tail(1).copy()
    last["metric"] = last.groupby("run_id")["metric"].transform(lambda m: m.map(aligned_layer_names(list(m))))
    table = last.groupby(["arm", "metric"])["value"].mean().unstack("metric")
    table = table.loc[[a for a in results.arm_order if a in table.index]]
    return table[sorted(table.columns, key=_natural)]


def layer_norm_heatmap(results: Results) -> Figure:
    """Final per-layer L2 norm per arm, relative to the baseline: which layers a regularizer shrinks."""
    table = layer_norm_table(results)
    if table.empty:
        return empty("Per-layer weight norms", "no per-layer norms (norm/<layer>) were logged by a finished cell")
    # relative to the baseline only where it has every layer some arm has: else ratios would hide arms
    relative = "baseline" in table.index and bool(table.loc["baseline"].notna().all())
    shown = table / table.loc["baseline"] if relative else table
    with style():
        fig = Figure(
            figsize=(max(0.9 * len(shown.columns) + 4, 7.5), 0.36 * len(shown) + 2.4), layout="constrained"
        )
        ax = fig.subplots()
        values = shown.to_numpy(dtype=float)
        missing = ~np.isfinite(values) | (values <= 0)  # the arm's network lacks the layer
        values = np.where(missing, np.nan, values)
        ax.set_facecolor("#eeeeee")  # missing cells are NaN: drawn as the background
        if relative:  # ratios on a log scale centred on 1, so halving and doubling look alike
            spread = max(float(np.nanmax(np.abs(np.log2(values)), initial=0.0)), 0.05)
            norm = LogNorm(vmin=2**-spread, vmax=2**spread)
            image = ax.imshow(values, cmap="PuOr_r", norm=norm, aspect="auto")
        else:
            image = ax.imshow(values, cmap="viridis", aspect="auto")
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if missing[i, j]:
                    ax.text(j, i, "—", ha="center", va="center", fontsize=7, color="#777777")
                    continue
                shade = abs(np.log2(values[i, j])) / spread if relative else 0.0
                ax.text(
                    j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=text_on(shade)
                )
        ax.set_xticks(range(len(shown.columns)), list(shown.columns), rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(shown)), list(shown.index), fontsize=8)
        ax.grid(False)
        bar = fig.colorbar(image, ax=ax, label="norm / baseline norm (log scale)" if relative else "L2 norm")
        if relative:  # the cells' own unit on the bar: ratios, two decimals, even steps in log
            ticks = 2.0 ** np.linspace(-spread, spread, 5)
            bar.set_ticks(ticks, labels=[f"{t:.2f}" for t in ticks])
            bar.minorticks_off()
        fig.suptitle(
            "Final per-layer L2 norm" + (" relative to the baseline (1.00 = same)" if relative else "")
            + ("\n— : the arm's network has no such layer" if missing.any() else ""),
            fontsize=10,
        )
        return fig
