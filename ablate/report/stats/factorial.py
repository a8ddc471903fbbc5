"""Factorial designs: main effect of every factor and every two-way interaction, from the one OLS fit.

Run when the design's record lists the "factorial" analysis. Holm's correction covers all terms reported.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.ols import fit_terms
from ablate.report.stats.pvalues import EFFECT_COLUMNS, MIN_SEEDS_FOR_POWER, with_holm

METHOD = "OLS, factors coded ±1/2, seed as block; t CI; Holm"


def factorial_effects(results: Results, metric: str | None = None) -> pd.DataFrame:
    """Main effects and two-way interactions with 95% CIs; empty when the design is not factorial.

    Interactions are dropped (main effects kept) when the cells cannot identify them with residual
    degrees of freedom to spare, e.g. one seed or a resolution-III fraction.
    """
    metric = metric or results.study.metric
    cells = results.finished
    if not results.study.supports("factorial") or cells.empty or metric not in cells:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    cells = cells[cells[metric].notna()]
    factors = [f for f in results.study.factors if f in cells and cells[f].nunique() == 2]
    for interactions in (True, False):
        pairs = itertools.combinations(factors, 2) if interactions and len(factors) > 1 else ()
        fit = fit_terms(cells, metric, factors + [f"{a}:{b}" for a, b in pairs])
        if fit is not None:
            break
    else:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    rows = [
        {
            "analysis": "interaction" if ":" in row.term else "main_effect",
            "term": row.term,
            "reference": "averaged over the other factors",
            "n": fit.n,
            "estimate": row.estimate,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "p_value": row.p_value,
            "low_power": fit.df_resid < MIN_SEEDS_FOR_POWER,
            "method": METHOD,
        }
        for row in fit.terms.itertuples()
    ]
    return with_holm(rows)


def interaction_matrix(effects: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Factor x factor table of interaction estimates (diagonal: main effects) for the heatmap."""
    matrix = pd.DataFrame(np.nan, index=factors, columns=factors)
    for row in effects.itertuples():
        if row.analysis == "main_effect" and row.term in matrix.index:
            matrix.loc[row.term, row.term] = row.estimate
        elif row.analysis == "interaction":
            a, b = row.term.split(":")
            if a in matrix.index and b in matrix.index:
                matrix.loc[a, b] = matrix.loc[b, a] = row.estimate
    return matrix
