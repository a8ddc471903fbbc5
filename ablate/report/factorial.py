"""Factorial designs: main effect of every factor and every two-way interaction, from one OLS fit.

Coding each factor as -1/2 (off) and +1/2 (on) makes the coefficients read directly in metric units: a
main effect is mean(on) - mean(off) averaged over the other factors, an interaction a:b is how much a's
effect changes when b is switched on. Seeds enter as a block (fixed effect), which is what pairing buys
in a regression: seed-to-seed spread leaves the residual. Holm's correction covers all terms reported.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ablate.report.results import Results
from ablate.report.stats import ALPHA, CONFIDENCE, EFFECT_COLUMNS, MIN_SEEDS_FOR_POWER, holm

FACTORIAL_DESIGNS = {"full_factorial", "fractional"}
COLUMNS = EFFECT_COLUMNS
METHOD = "OLS, factors coded ±1/2, seed as block; t CI; Holm"


def design_matrix(cells: pd.DataFrame, factors: list[str], interactions: bool) -> pd.DataFrame:
    """Intercept, seed dummies (first seed as reference), ±1/2 main effects and their pairwise products."""
    x = pd.DataFrame({"const": 1.0}, index=cells.index)
    seeds = sorted(cells["seed"].dropna().unique())
    for seed in seeds[1:]:
        x[f"seed[{seed}]"] = (cells["seed"] == seed).astype(float)
    for f in factors:
        x[f] = cells[f].astype(float) - 0.5
    if interactions:
        for a, b in itertools.combinations(factors, 2):
            x[f"{a}:{b}"] = x[a] * x[b]
    return x


def factorial_effects(results: Results, metric: str | None = None) -> pd.DataFrame:
    """Main effects and two-way interactions with 95% CIs; empty when the design is not factorial.

    Interactions are dropped (main effects kept) when the cells cannot identify them with residual
    degrees of freedom to spare, e.g. one seed or a resolution-III fraction.
    """
    study = results.study
    metric = metric or study.metric
    cells = results.finished
    if study.design not in FACTORIAL_DESIGNS or cells.empty or metric not in cells:
        return pd.DataFrame(columns=COLUMNS)
    cells = cells[cells[metric].notna()]
    factors = [f for f in study.factors if f in cells and cells[f].nunique() == 2]
    y = cells[metric].astype(float)
    for interactions in (True, False):
        x = design_matrix(cells, factors, interactions and len(factors) > 1)
        if np.linalg.matrix_rank(x.to_numpy()) == x.shape[1] and len(y) > x.shape[1]:
            break
    else:
        return pd.DataFrame(columns=COLUMNS)
    fit = sm.OLS(y.to_numpy(), x.to_numpy()).fit()
    ci = fit.conf_int(alpha=1 - CONFIDENCE)
    rows = []
    for i, term in enumerate(x.columns):
        if term == "const" or term.startswith("seed["):
            continue
        rows.append(
            {
                "analysis": "interaction" if ":" in term else "main_effect",
                "term": term,
                "reference": "averaged over the other factors",
                "n": int(len(y)),
                "estimate": float(fit.params[i]),
                "ci_low": float(ci[i, 0]),
                "ci_high": float(ci[i, 1]),
                "p_value": float(fit.pvalues[i]),
                "low_power": fit.df_resid < MIN_SEEDS_FOR_POWER,
                "method": METHOD,
            }
        )
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in {"p_holm", "significant"}])
    frame["p_holm"] = holm(frame["p_value"].to_numpy())
    frame["significant"] = frame["p_holm"] < ALPHA
    return frame[COLUMNS]


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
