"""Comparison figures: effects with their uncertainty, interactions, per-layer norms, early stopping.

Like plots.py, one function per figure, each returning a pyplot-free Figure with the shared arm colors.
Effect figures take the effect table (`verdicts.effect_table`) so the numbers drawn are the numbers
printed; accuracy-like metrics are drawn in percentage points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ablate.report import stats
from ablate.report.plots import BASELINE_COLOR, _empty, _legend_outside, arm_palette, ink, style
from ablate.report.results import Results
from ablate.report.verdicts import effect_table, metric_scale


def _effects(results: Results, effects: pd.DataFrame | None) -> pd.DataFrame:
    return effect_table(results) if effects is None else effects


def forest_plot(results: Results, effects: pd.DataFrame | None = None) -> Figure:
    """Each arm minus the baseline (or each factor's loco/add_one contribution) with its 95% CI."""
    effects = _effects(results, effects)
    rows = effects[effects["analysis"] == "vs_baseline"]
    if rows.empty:
        rows = effects[effects["analysis"] == "contribution"]
    metric = results.study.metric
    title = f"Effect on {metric} versus the baseline (paired by seed, 95% CI; ● significant after Holm)"
    if rows.empty:
        return _empty("Effects versus baseline", "no baseline arm or contribution to compare with")
    scale, unit = metric_scale(metric)
    palette = arm_palette(results.arm_order)
    with style():
        fig = Figure(figsize=(9, 0.38 * len(rows) + 1.6), layout="constrained")
        ax = fig.subplots()
        y = np.arange(len(rows))[::-1]
        for yi, row in zip(y, rows.itertuples(), strict=True):
            color = palette.get(row.term, BASELINE_COLOR)
            ax.plot([row.ci_low * scale, row.ci_high * scale], [yi, yi], color=color, linewidth=2)
            ax.plot(
                row.estimate * scale,
                yi,
                "o",
                color=color,
                markersize=7,
                markerfacecolor=color if row.significant else "white",
                markeredgewidth=1.6,
            )
        ax.axvline(0, color="black", linewidth=0.8, linestyle=":")
        ax.set_yticks(y, list(rows["term"]))
        for label in ax.get_yticklabels():
            label.set_color(ink(palette.get(label.get_text(), BASELINE_COLOR)))
        ax.set_xlabel(f"difference in {metric}" + (f" ({unit})" if unit else ""))
        fig.suptitle(
            title
            if rows.iloc[0]["analysis"] == "vs_baseline"
            else f"Contribution of each factor to {metric} (paired by seed, 95% CI)"
        )
        return fig


def main_effects_plot(results: Results, effects: pd.DataFrame | None = None) -> Figure:
    """Classic DOE main-effects plot: mean metric with the factor off vs on, one panel per factor."""
    effects = _effects(results, effects)
    mains = effects[effects["analysis"] == "main_effect"].set_index("term")
    metric, finished = results.study.metric, results.finished
    factors = [f for f in results.study.factors if f in mains.index]
    if not factors or metric not in finished:
        return _contribution_bars(results, effects)
    scale, unit = metric_scale(metric)
    with style():
        fig = Figure(figsize=(max(2.6 * len(factors) + 0.8, 7.5), 3.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(factors), sharey=True))
        for ax, f in zip(axes, factors, strict=True):
            per_seed = finished.groupby([f, "seed"])[metric].mean().unstack(0) * scale
            means = per_seed.mean()
            errors = per_seed.std(ddof=1).fillna(0) / np.sqrt(max(len(per_seed), 1))
            row = mains.loc[f]
            color = "#1a7f37" if row["significant"] else "#57606a"
            ax.errorbar(
                [0, 1],
                [means.get(False, np.nan), means.get(True, np.nan)],
                yerr=[errors.get(False, 0), errors.get(True, 0)],
                color=color,
                marker="o",
                capsize=4,
            )
            ax.set_xticks([0, 1], ["off", "on"])
            ax.set_xlim(-0.4, 1.4)
            ax.set_title(
                f"{f}\n{row['estimate'] * scale:+.2f} [{row['ci_low'] * scale:+.2f}, "
                f"{row['ci_high'] * scale:+.2f}]",
                fontsize=9,
            )
        axes[0].set_ylabel(f"mean {metric}" + (f" ({'%' if unit == 'points' else unit})" if unit else ""))
        fig.suptitle(
            "Main effects (mean over all cells with the factor off / on; bars ±1 SE over seeds; "
            "green: significant)",
            fontsize=10,
        )
        return fig


def _contribution_bars(results: Results, effects: pd.DataFrame) -> Figure:
    """loco/add_one: the factor contributions as bars with CI, the design's analogue of main effects."""
    rows = effects[effects["analysis"] == "contribution"]
    if rows.empty:
        return _empty("Main effects", "this design has no factorial main effects or contributions")
    scale, unit = metric_scale(results.study.metric)
    with style():
        fig = Figure(figsize=(max(1.1 * len(rows) + 3, 7.0), 3.6), layout="constrained")
        ax = fig.subplots()
        est = rows["estimate"].to_numpy() * scale
        err = np.vstack([est - rows["ci_low"] * scale, rows["ci_high"] * scale - est])
        colors = ["#1a7f37" if s else "#8c959f" for s in rows["significant"]]
        ax.bar(rows["term"], est, yerr=err, color=colors, capsize=4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel(f"contribution to {results.study.metric}" + (f" ({unit})" if unit else ""))
        fig.suptitle(
            f"Factor contributions ({results.study.design}), 95% CI; green: significant", fontsize=10
        )
        return fig


def interaction_heatmap(results: Results, effects: pd.DataFrame | None = None) -> Figure:
    """Two-way interactions (off-diagonal) and main effects (diagonal); * marks Holm-significant terms."""
    from ablate.report.factorial import interaction_matrix

    effects = _effects(results, effects)
    factors = list(results.study.factors)
    terms = effects[effects["analysis"].isin(["main_effect", "interaction"])]
    if len(factors) < 2 or not (terms["analysis"] == "interaction").any():
        return _empty("Interactions", "no two-way interactions (needs a factorial design with 2+ factors)")
    scale, unit = metric_scale(results.study.metric)
    matrix = interaction_matrix(terms, factors) * scale
    significant = {t for t, s in zip(terms["term"], terms["significant"], strict=True) if s}
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
    cmap = "RdBu" if results.study.direction == "maximize" else "RdBu_r"  # blue = better
    with style():
        fig = Figure(
            figsize=(max(1.2 * len(factors) + 3, 7.0), max(1.0 * len(factors) + 1.6, 4.0)),
            layout="constrained",
        )
        ax = fig.subplots()
        image = ax.imshow(matrix.to_numpy(dtype=float), cmap=cmap, vmin=-limit, vmax=limit)
        for i, a in enumerate(factors):
            for j, b in enumerate(factors):
                value = matrix.iloc[i, j]
                term = a if i == j else f"{a}:{b}" if f"{a}:{b}" in set(terms["term"]) else f"{b}:{a}"
                if np.isfinite(value):
                    ax.text(
                        j,
                        i,
                        f"{value:+.2f}{'*' if term in significant else ''}",
                        ha="center",
                        va="center",
                        fontsize=9,
                        color=_text_on(abs(value) / limit),
                    )
        ax.set_xticks(range(len(factors)), factors, rotation=30, ha="right")
        ax.set_yticks(range(len(factors)), factors)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label=f"{results.study.metric}" + (f" ({unit})" if unit else ""))
        fig.suptitle(
            "Interactions (off-diagonal) and main effects (diagonal); * significant after Holm", fontsize=10
        )
        return fig


def _text_on(shade: float) -> str:
    """Annotation color that stays readable on a heatmap cell of this intensity (0 pale .. 1 saturated)."""
    return "white" if np.isfinite(shade) and shade > 0.6 else "black"


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in name.replace("[", ".").replace("]", "").split(".")]


def aligned_layer_names(names: list[str]) -> dict[str, str]:
    """Per-run layer names that line up across arms: `features.3.weight` -> `features[2].weight`.

    Sequential indices shift when an arm inserts BatchNorm or dropout layers, so the same conv layer is
    `features.0` in one arm and `features.1` in another; ranking the index within its container (per run)
    names it by position instead.
    """
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    out = {}
    for name in names:
        parts = name.removeprefix("norm/").split(".")
        index = next((i for i, p in enumerate(parts) if p.isdigit()), None)
        if index is None:
            out[name] = ".".join(parts)
            continue
        key = (".".join(parts[:index]), ".".join(parts[index + 1 :]))
        groups.setdefault(key, []).append((int(parts[index]), name))
    for (prefix, suffix), members in groups.items():
        for rank, (_, name) in enumerate(sorted(members), start=1):
            out[name] = f"{prefix}[{rank}]" + (f".{suffix}" if suffix else "")
    return out


def layer_norm_heatmap(results: Results) -> Figure:
    """Final per-layer L2 norm per arm, relative to the baseline: which layers a regularizer shrinks."""
    h = results.history
    rows = h[h["metric"].str.startswith("norm/") & h["run_id"].isin(results.finished["run_id"])]
    if rows.empty:
        return _empty("Per-layer weight norms", "no per-layer norms (norm/<layer>) were logged")
    last = rows.sort_values("epoch").groupby(["run_id", "metric"]).tail(1).copy()
    last["metric"] = last.groupby("run_id")["metric"].transform(lambda m: m.map(aligned_layer_names(list(m))))
    table = last.groupby(["arm", "metric"])["value"].mean().unstack("metric")
    table = table.loc[[a for a in results.arm_order if a in table.index]]
    table = table[sorted(table.columns, key=_natural)]
    relative = "baseline" in table.index
    shown = table / table.loc["baseline"] if relative else table
    with style():
        fig = Figure(
            figsize=(max(0.9 * len(shown.columns) + 4, 7.5), 0.36 * len(shown) + 2.4), layout="constrained"
        )
        ax = fig.subplots()
        values = shown.to_numpy(dtype=float)
        if relative:
            spread = max(float(np.nanmax(np.abs(np.log2(values)))), 0.05)
            image = ax.imshow(np.log2(values), cmap="PuOr_r", vmin=-spread, vmax=spread, aspect="auto")
        else:
            image = ax.imshow(values, cmap="viridis", aspect="auto")
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                shade = abs(np.log2(values[i, j])) / spread if relative else 0.0
                ax.text(
                    j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=_text_on(shade)
                )
        ax.set_xticks(range(len(shown.columns)), list(shown.columns), rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(shown)), list(shown.index), fontsize=8)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="log2(norm / baseline norm)" if relative else "L2 norm")
        fig.suptitle(
            "Final per-layer L2 norm" + (" relative to the baseline (1.00 = same)" if relative else ""),
            fontsize=10,
        )
        return fig


def metric_vs_epochs(results: Results) -> Figure:
    """Final metric against epochs trained, one dot per cell: does early stopping cost or save accuracy?"""
    finished, metric = results.finished, results.study.metric
    if finished.empty or metric not in finished:
        return _empty(f"{metric} vs epochs run", "no finished cells")
    epochs = finished["run_id"].map(stats.epochs_run(results))
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
        _legend_outside(fig, ax)
        fig.suptitle(f"Final {metric} against epochs run, one dot per cell", fontsize=10)
        return fig


# Report order: (id, title, function, takes the effect table)
COMPARISON_FIGURES = [
    ("forest", "Effects versus baseline", forest_plot, True),
    ("main_effects", "Main effects", main_effects_plot, True),
    ("interactions", "Interaction heatmap", interaction_heatmap, True),
]
DIAGNOSTIC_FIGURES = [
    ("layer_norms", "Per-layer norm heatmap", layer_norm_heatmap, False),
    ("metric_vs_epochs", "Final metric against epochs run", metric_vs_epochs, False),
]
