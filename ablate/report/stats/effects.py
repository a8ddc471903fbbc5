"""Every comparison the report makes, as one tidy table (effects.csv), and how its numbers are shown.

Accuracy-like metrics (names ending in `acc`) are stated in percentage points everywhere: tables, figures
and sentences take their scale from `metric_scale`, so the numbers drawn are the numbers printed.
"""

from __future__ import annotations

import pandas as pd

from ablate.report.results import Results, computed_once
from ablate.report.stats.factorial import factorial_effects
from ablate.report.stats.paired import compare_to_baseline, contributions
from ablate.report.stats.pvalues import EFFECT_COLUMNS


def metric_scale(metric: str) -> tuple[float, str]:
    """Accuracy differences read best as points (x100); anything else stays in its own units."""
    return (100.0, "points") if metric.endswith("acc") else (1.0, "")


def effects_for_display(effects: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, str, int]:
    """An effects table's estimate and CI as the report states them (accuracy in points), the unit, and the
    decimals to show: 2 for points, 4 for a metric in its own units (a loss effect of 0.003 must not read 0.00)."""
    scale, unit = metric_scale(metric)
    shown = effects.copy()
    for col in ("estimate", "ci_low", "ci_high"):
        shown[col] = shown[col] * scale
    return shown, unit, 2 if unit else 4


@computed_once
def effect_table(results: Results) -> pd.DataFrame:
    """Every comparison in one table: vs baseline, then the analyses the design's record lists (factorial
    terms, contributions)."""
    parts = [compare_to_baseline(results), factorial_effects(results), contributions(results)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    return pd.concat(parts, ignore_index=True)
