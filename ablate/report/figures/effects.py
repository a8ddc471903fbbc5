"""Effects with their uncertainty: each arm (or factor contribution) against its reference, the main
effects, and the interactions. Each figure takes the effect table (`stats.effects.effect_table`) so the
numbers drawn are the numbers printed; accuracy-like metrics are drawn in percentage points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ablate.report.figures.style import BASELINE_COLOR, arm_palette, empty, ink, style, text_on
from ablate.report.results import Results
from ablate.report.stats.effects import effect_table, metric_scale
from ablate.report.stats.factorial import interaction_matrix


def _effects(results: Results, effects: pd.DataFrame | None) -> pd.DataFrame:
    return effect_table(results) if effects is None else effects


def by_effect(rows: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Rows best effect first (largest for a maximized metric), unestimated last: a reader finds the
    winners at the top and the losers at the bottom, whatever the design's order."""
    return rows.sort_values("estimate", ascending=direction == "minimize", na_position="last", kind="stable")


def forest_plot(results: Results, effects: pd.DataFrame | None = None) -> Figure:
    """Each arm minus the baseline (or each factor's contribution, where the design records one) with its 95% CI."""
    effects = _effects(results, effects)
    rows = effects[effects["analysis"] == "vs_baseline"]
    if rows.empty:
        rows = effects[effects["analysis"] == "contribution"]
    metric = results.study.metric
    rows = by_effect(rows, results.study.direction)  # drawn top to bottom
    title = f"Effect on {metric} versus the baseline (paired by seed, 95% CI; ● significant after Holm)"
    if rows.empty:
        return empty("Effects versus baseline", "no baseline arm or contribution to compare with")
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
    ranked = by_effect(mains.reset_index(), results.study.direction)["term"]
    factors = [f for f in ranked if f in results.study.factors]
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
    """The factor contributions as bars with CI: a contribution design's analogue of main effects."""
    rows = by_effect(effects[effects["analysis"] == "contribution"], results.study.direction)
    if rows.empty:
        return empty("Main effects", "this design has no factorial main effects or contributions")
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
    effects = _effects(results, effects)
    factors = list(results.study.factors)
    terms = effects[effects["analysis"].isin(["main_effect", "interaction"])]
    if len(factors) < 2 or not (terms["analysis"] == "interaction").any():
        return empty("Interactions", "no two-way interactions (needs a factorial design with 2+ factors)")
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
                        color=text_on(abs(value) / limit),
                    )
        ax.set_xticks(range(len(factors)), factors, rotation=30, ha="right")
        ax.set_yticks(range(len(factors)), factors)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label=f"{results.study.metric}" + (f" ({unit})" if unit else ""))
        fig.suptitle(
            "Interactions (off-diagonal) and main effects (diagonal); * significant after Holm", fontsize=10
        )
        return fig
