"""Factors with levels (e.g. `dropout: {p: [0.0, 0.25, 0.5]}`): each level against the reference, paired.

Each cell run carries its factors' level labels (CellRecord.levels, a `level:<factor>` column in
`Results.cells`); the design record's `levels` gives each factor's labels in the file's order. A factor
with levels is a categorical term of the factorial fit with the seed block (stats/factorial.py): its
levels are compared with the reference level (off, else the first listed) as contrasts of that fit, so
the seed-to-seed spread cancels as in any paired comparison; Holm runs over each factor's levels (one
family per factor), the F-test (type II, seed block) asks whether the levels differ at all, and numeric
levels get a linear trend contrast over the level order. The marginal means are shown for orientation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.aliasing import level_order
from ablate.report.stats.anova import anova_table
from ablate.report.stats.factorial import Factorial, analyse
from ablate.report.stats.intervals import t_ci
from ablate.report.stats.pvalues import holm

COLUMNS = ["factor", "level", "n", "mean", "ci_low", "ci_high"]
CONTRAST_COLUMNS = ["factor", "level", "reference", "estimate", "ci_low", "ci_high", "p_value", "p_holm", "family"]
TEST_COLUMNS = ["factor", "F", "df_levels", "p_F", "trend", "trend_low", "trend_high", "trend_p"]

__all__ = ["level_order", "level_summary", "level_contrasts", "level_tests"]


def level_summary(results: Results, metric: str | None = None) -> pd.DataFrame:
    """One row per (factor, level): finished cells, marginal mean of the metric, 95% t interval."""
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
            low, high = t_ci(values.to_numpy())
            rows.append({"factor": factor, "level": label, "n": int(values.size),
                         "mean": float(values.mean()) if values.size else np.nan, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=COLUMNS)


def level_contrasts(results: Results, analysis: Factorial | None = None) -> pd.DataFrame:
    """Each level minus the reference, averaged over the other factors, with its 95% t interval; Holm
    over the factor's levels."""
    analysis = analyse(results) if analysis is None else analysis
    if analysis is None:
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    rows = []
    for factor, levels in analysis.levels.items():
        ref = analysis.codings[factor].reference
        adjusted = holm([e.p_value() for e in levels.values()])
        family = f"levels of {factor} ({len(levels)})"
        rows.append({"factor": factor, "level": ref, "reference": ref, "estimate": 0.0, "ci_low": np.nan,
                     "ci_high": np.nan, "p_value": np.nan, "p_holm": np.nan, "family": family})
        for (level, est), p_adj in zip(levels.items(), adjusted):
            low, high = est.interval()
            rows.append({"factor": factor, "level": level, "reference": ref, "estimate": est.estimate,
                         "ci_low": low, "ci_high": high, "p_value": est.p_value(), "p_holm": p_adj,
                         "family": family})
    return pd.DataFrame(rows, columns=CONTRAST_COLUMNS)


def level_tests(results: Results, analysis: Factorial | None = None) -> pd.DataFrame:
    """Per factor with levels: the F-test of its term (type II, seed block) and its linear trend."""
    analysis = analyse(results) if analysis is None else analysis
    if analysis is None or analysis.fit is None or not analysis.levels:
        return pd.DataFrame(columns=TEST_COLUMNS)
    table = anova_table(analysis.fit).set_index("source")
    rows = []
    for factor in analysis.levels:
        trend = analysis.trends.get(factor)
        low, high = trend.interval() if trend is not None else (np.nan, np.nan)
        f_row = table.loc[factor] if factor in table.index else None
        rows.append({"factor": factor, "F": f_row["F"] if f_row is not None else np.nan,
                     "df_levels": f_row["df"] if f_row is not None else np.nan,
                     "p_F": f_row["p_value"] if f_row is not None else np.nan,
                     "trend": trend.estimate if trend is not None else np.nan, "trend_low": low,
                     "trend_high": high, "trend_p": trend.p_value() if trend is not None else np.nan})
    return pd.DataFrame(rows, columns=TEST_COLUMNS)
