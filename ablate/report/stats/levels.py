"""Factors with levels (e.g. `dropout: {p: [0.0, 0.25, 0.5]}`): the metric at each level, with CIs.

Each cell run carries its factors' level labels (CellRecord.levels, a `level:<factor>` column in
`Results.cells`); the design record's `levels` gives each factor's labels in the file's order. A
level's mean is marginal: over every finished cell at that level, whatever the other factors' levels
(balanced in a full factorial), with a Student t interval over those cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.intervals import t_ci

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
            low, high = t_ci(values.to_numpy())
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
