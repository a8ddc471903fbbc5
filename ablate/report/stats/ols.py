"""The one regression behind every factorial number: OLS over finished cells, factors coded ±1/2, seed block.

Coding each factor as -1/2 (off) and +1/2 (on) makes the coefficients read directly in metric units: a
main effect is mean(on) - mean(off) averaged over the other factors, an interaction a:b is how much a's
effect changes when b is switched on. Seeds enter as a block (fixed effect), which is what pairing buys
in a regression: seed-to-seed spread leaves the residual. Factorial effects and a fraction's estimable
effects both fit through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report.stats.intervals import CONFIDENCE

TERM_COLUMNS = ["term", "estimate", "ci_low", "ci_high", "p_value"]


@dataclass(frozen=True)
class TermFit:
    """The fitted terms (TERM_COLUMNS, in the order asked), the cells used and the residual degrees of
    freedom (what the tests' power rests on)."""

    terms: pd.DataFrame
    n: int
    df_resid: float


def design_matrix(cells: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """Intercept, seed dummies (first seed as reference), then one ±1/2 column per term ('a' or 'a:b', the
    product of its factors' codes); a term naming a factor the cells lack is left out."""
    x = pd.DataFrame({"const": 1.0}, index=cells.index)
    for seed in sorted(cells["seed"].dropna().unique())[1:]:
        x[f"seed[{seed}]"] = (cells["seed"] == seed).astype(float)
    for term in terms:
        parts = term.split(":")
        if all(p in cells for p in parts):
            x[term] = np.prod([cells[p].astype(float) - 0.5 for p in parts], axis=0)
    return x


def fit_terms(cells: pd.DataFrame, metric: str, terms: list[str]) -> TermFit | None:
    """Fit `terms` with 95% t intervals; None when the cells cannot identify them with a residual to spare
    (rank-deficient design, or no more cells than columns)."""
    import statsmodels.api as sm

    cells = cells[pd.to_numeric(cells[metric], errors="coerce").notna()]
    x = design_matrix(cells, terms)
    y = cells[metric].astype(float).to_numpy()
    if np.linalg.matrix_rank(x.to_numpy()) < x.shape[1] or len(y) <= x.shape[1]:
        return None
    fit = sm.OLS(y, x.to_numpy()).fit()
    ci = fit.conf_int(alpha=1 - CONFIDENCE)
    rows = [
        {
            "term": t,
            "estimate": float(fit.params[i]),
            "ci_low": float(ci[i, 0]),
            "ci_high": float(ci[i, 1]),
            "p_value": float(fit.pvalues[i]),
        }
        for i, t in enumerate(x.columns)
        if t in terms
    ]
    return TermFit(pd.DataFrame(rows, columns=TERM_COLUMNS), int(len(y)), float(fit.df_resid))
