"""The ANOVA table of the factorial fit (type II sums of squares, seed block included) and what pairing bought.

Type II: each term's sum of squares is what it adds to every term that does not contain it (a main effect
is judged before its interactions, an interaction after both its factors), which is what statsmodels'
anova_lm(typ=2) computes; the F statistics use the full model's residual mean square. The seed block's own
row and the residual mean square with and without it show what pairing the seeds bought: their ratio is
how many times more unpaired seeds the same precision would take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.report.stats.ols import Fit, rss

ANOVA_COLUMNS = ["source", "df", "sum_sq", "mean_sq", "F", "p_value"]


@dataclass(frozen=True)
class Pairing:
    """Residual mean square with and without the seed block, and their ratio (the efficiency)."""

    ms_with: float
    ms_without: float

    @property
    def efficiency(self) -> float:
        return self.ms_without / self.ms_with if self.ms_with > 0 else np.inf


def _contains(term: str, other: str) -> bool:
    """Whether `other` is a higher-order term containing every factor of `term`."""
    a, b = set(term.split(":")), set(other.split(":"))
    return a < b


def anova_table(fit: Fit) -> pd.DataFrame:
    """One row per term, then the seed block and the residual."""
    model, y = fit.model, fit.y
    full_rss = fit.sigma2 * fit.df_resid
    rows = []
    for term, columns in model.terms.items():
        above = {c for t, cols in model.terms.items() if _contains(term, t) for c in cols}
        without, rank_without = rss(model, y, above | set(columns))
        with_term, rank_with = rss(model, y, above)
        rows.append(_row(term, without - with_term, rank_with - rank_without, fit))
    if model.seed_columns:
        without, rank = rss(model, y, set(model.seed_columns))
        rows.append(_row("seed (block)", without - full_rss, model.x.shape[1] - rank, fit))
    rows.append({"source": "residual", "df": fit.df_resid, "sum_sq": full_rss, "mean_sq": fit.sigma2,
                 "F": np.nan, "p_value": np.nan})
    return pd.DataFrame(rows, columns=ANOVA_COLUMNS)


def _row(source: str, ss: float, df: int, fit: Fit) -> dict:
    ss = max(ss, 0.0)
    f = (ss / df) / fit.sigma2 if df > 0 and fit.sigma2 > 0 else np.nan
    p = float(sps.f.sf(f, df, fit.df_resid)) if np.isfinite(f) else np.nan
    return {"source": source, "df": float(df), "sum_sq": ss, "mean_sq": ss / df if df else np.nan, "F": f,
            "p_value": p}


def pairing(fit: Fit) -> Pairing | None:
    """What the seed block bought (None without one)."""
    model = fit.model
    if not model.seed_columns:
        return None
    without, rank = rss(model, fit.y, set(model.seed_columns))
    df = len(fit.y) - rank
    return Pairing(fit.sigma2, without / df if df > 0 else np.nan)
