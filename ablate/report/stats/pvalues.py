"""p-values and their correction: the exact sign-flip test and Holm's step, applied the same way to every
family of comparisons (one `with_holm` builds each effects table).

The paired test is an exact sign-flip permutation test (no normality assumption); its smallest possible
p-value is 2/2^n, so with fewer than 5 seeds the report says that the test has little power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

ALPHA = 0.05
MIN_SEEDS_FOR_POWER = 5
EXACT_PERMUTATION_MAX_N = 16  # 2^16 sign patterns; beyond, a seeded Monte Carlo permutation test

# one row per comparison, in every effects table (paired vs baseline, contributions, factorial terms)
EFFECT_COLUMNS = ["analysis", "term", "reference", "n", "estimate", "ci_low", "ci_high", "p_value", "p_holm",
                  "significant", "low_power", "method"]


def sign_flip_pvalue(diffs) -> float:
    """Two-sided paired permutation test of mean difference 0: exact over all sign flips for small n."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return np.nan
    if d.size == 1 or not np.any(d):
        return 1.0  # both sign patterns of one value are as extreme: the exact p-value is 1
    exact = d.size <= EXACT_PERMUTATION_MAX_N
    result = sps.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf if exact else 20000,
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN (no test possible) stays NaN and does not count."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, (len(order) - rank) * p[idx])
        out[idx] = min(1.0, running)
    return out


def with_holm(rows: list[dict]) -> pd.DataFrame:
    """One Holm family (the rows given) as an effects table: p_holm and significance at ALPHA added."""
    frame = pd.DataFrame(rows, columns=[c for c in EFFECT_COLUMNS if c not in {"p_holm", "significant"}])
    frame["p_holm"] = holm(frame["p_value"].to_numpy()) if len(frame) else []
    frame["significant"] = frame["p_holm"] < ALPHA
    return frame[EFFECT_COLUMNS]
