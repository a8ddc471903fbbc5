"""Factors with levels (e.g. `dropout: {p: [0.0, 0.25, 0.5]}`): the metric against each level, with CIs.

Each cell run carries its factors' level labels (CellRecord.levels, a `level:<factor>` column in
`Results.cells`); the design record's `levels` gives each factor's labels in the file's order. A
level's mean is marginal: over every finished cell at that level, whatever the other factors' levels
(balanced in a full factorial), with a Student t interval over those cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats as sps

from ablate.report.results import Results

COLUMNS = ["factor", "level", "n", "mean", "ci_low", "ci_high"]


def level_order(results: Results) -> dict[str, list[str]]:
    """factor -> level labels in level order, for the factors that list levels (empty: none do)."""
    levels = results.study.design_record.get("levels") or {}
    if not isinstance(levels, dict):
        return {}
    return {str(k): [str(x) for x in v] for k, v in levels.items() if isinstance(v, list)}


def level_summary(results: Results, metric: str | None = None) -> pd.DataFrame:
    """One row per (factor, level): finished cells, mean of the metric, 95% t interval."""
    metric = metric or results.study.metric
    cells = results.finished
    rows = []
    for factor, labels in level_order(results).items():
        column = f"level:{factor}"
        for label in labels:
            values = (
                pd.to_numeric(cells.loc[cells[column] == label, metric], errors="coerce").dropna()
                if column in cells and metric in cells
                else pd.Series(dtype=float)
            )
            low, high = _t_interval(values.to_numpy())
            rows.append(
                {
                    "factor": factor,
                    "level": label,
                    "n": int(values.size),
                    "mean": float(values.mean()) if values.size else np.nan,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _t_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    if x.size < 2:
        return np.nan, np.nan
    half = sps.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def levels_figure(summary: pd.DataFrame, metric: str) -> Figure:
    """The metric against each factor's level: marginal means with 95% intervals."""
    factors = list(dict.fromkeys(summary["factor"]))
    fig = Figure(figsize=(3.8 * max(1, len(factors)), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(factors)), squeeze=False, sharey=True)[0])
    for ax, factor in zip(axes, factors):
        part = summary[summary["factor"] == factor].reset_index(drop=True)
        x = np.arange(len(part))
        err = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.errorbar(x, part["mean"], yerr=np.nan_to_num(err), fmt="o-", color="#0969da", capsize=4)
        ax.set_xticks(x, part["level"])
        ax.set_xlabel(f"{factor} level")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} (mean, 95% CI)")
    return fig


def levels_section(results: Results):
    """Metric vs level for every factor with levels; None when every factor is a plain on/off switch."""
    from ablate.report.sections import Section
    from ablate.report.tune_section import figure_block

    summary = level_summary(results)
    if summary.empty or not summary["n"].any():
        return None
    metric = results.study.metric
    block = figure_block("levels", f"{metric} against each factor's level", levels_figure, summary, metric)
    return Section(
        "levels",
        "Factor levels",
        "_levels.html",
        {"figures": [block], "rows": summary.to_dict("records"), "metric": metric},
    )
