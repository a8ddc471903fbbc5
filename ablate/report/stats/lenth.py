"""One-seed two-level factorials: Lenth's pseudo standard error instead of a residual that does not exist.

An unreplicated 2^k (or a fraction of one) spends every run on an effect, so no seed-to-seed spread is
left to test against. Lenth (1989): most effects are noise (effect sparsity), so a robust scale of all
the effects stands in for their standard error. s0 = 1.5 median|c|; PSE = 1.5 median of the |c| below
2.5 s0; effects are then judged by c / PSE against a t with m/3 df (m effects): margin of error
ME = t(0.975, m/3) PSE, and the simultaneous SME at gamma = (1 + 0.95^(1/m)) / 2.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.report.stats.contrast import Estimate

MAX_ORDER_WIDE = 3  # studies with many factors: contrasts up to three-factor terms only


def pse(effects) -> float:
    """Lenth's pseudo standard error of a set of effect estimates."""
    c = np.abs(np.asarray(effects, dtype=float))
    s0 = 1.5 * np.median(c)
    return float(1.5 * np.median(c[c < 2.5 * s0])) if np.any(c < 2.5 * s0) else float(s0)


def margins(effects, confidence: float = 0.95) -> tuple[float, float, float]:
    """(PSE, ME, SME): the individual and simultaneous margins of error."""
    m = len(effects)
    p = pse(effects)
    gamma = (1 + confidence ** (1 / m)) / 2
    return p, float(sps.t.ppf(0.5 + confidence / 2, m / 3) * p), float(sps.t.ppf(gamma, m / 3) * p)


def saturated_effects(cells: pd.DataFrame, factors: list[str], metric: str) -> pd.DataFrame:
    """Every estimable contrast of a two-level design (one per alias chain, named by its lowest-order
    term): effect = mean(y at +1) - mean(y at -1) over the cells; columns term, estimate, aliases."""
    y = cells[metric].astype(float).to_numpy()
    signs = {f: np.where(cells[f].astype(bool).to_numpy(), 1.0, -1.0) for f in factors}
    order = len(factors) if len(factors) <= 12 else MAX_ORDER_WIDE
    seen: dict[bytes, int] = {}
    rows: list[dict] = []
    for k in range(1, order + 1):
        for combo in itertools.combinations(factors, k):
            col = np.prod([signs[f] for f in combo], axis=0)
            if abs(col.sum()) == len(col):  # constant: a word of the defining relation
                continue
            key = (col * col[0]).tobytes()
            if key in seen:
                rows[seen[key]]["aliases"].append(":".join(combo))
                continue
            seen[key] = len(rows)
            rows.append({"term": ":".join(combo), "estimate": float(2 * (col @ y) / len(y)), "aliases": []})
    return pd.DataFrame(rows, columns=["term", "estimate", "aliases"])


def lenth_estimates(effects: pd.DataFrame, runs: int) -> dict[str, Estimate]:
    """Each effect as an Estimate with se = PSE and df = m/3, so intervals, p-values and the equivalence
    test come from the same machinery as every other comparison."""
    m = len(effects)
    if m < 3:
        return {}
    p = pse(effects["estimate"])
    return {r.term: Estimate(r.estimate, p, m / 3, runs, seeds=1, df_per_seed=runs - 1)
            for r in effects.itertuples()}
