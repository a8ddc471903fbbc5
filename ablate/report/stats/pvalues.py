"""Holm's step over a named family of comparisons (one `with_holm` builds each effects table), and the
exact sign-flip permutation test, which the paired tables show beside the t test once there are enough
seeds for it to reach 5% (its smallest two-sided p is 2/2^n, so never at 5 seeds or fewer).

Every table's p-value is its interval's own t test (stats/contrast.py); Holm then holds the probability
of any false rejection in that family at ALPHA. `low_power` marks a comparison whose minimum detectable
effect at 80% power (at the family's Bonferroni level) is larger than the practical margin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.report.stats.contrast import ALPHA
from ablate.report.stats.power import POWER, power

EXACT_PERMUTATION_MAX_N = 16  # 2^16 sign patterns; beyond, a seeded Monte Carlo permutation test
MIN_SEEDS_FOR_PERMUTATION = 6  # 2/2^6 = 0.031: below this the permutation test cannot reach 5%

# one row per comparison, in every effects table (paired vs baseline, contributions, factorial terms, levels)
EFFECT_COLUMNS = ["analysis", "term", "reference", "family", "n", "estimate", "se", "df", "ci_low", "ci_high",
                  "p_value", "p_holm", "significant", "p_tost", "p_permutation", "low_power", "method"]


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


def with_holm(rows: list[dict], family: str = "", margin: float | None = None) -> pd.DataFrame:
    """One Holm family (the rows given, named `family`) as an effects table: p_holm and significance at
    ALPHA added, and low_power where the comparison's MDE (80% power, Bonferroni over the family) exceeds
    the practical margin."""
    frame = pd.DataFrame(rows, columns=[c for c in EFFECT_COLUMNS if c not in {"p_holm", "significant", "family",
                                                                            "low_power"}])
    frame["family"] = family
    frame["p_holm"] = holm(frame["p_value"].to_numpy(dtype=float)) if len(frame) else []
    frame["significant"] = frame["p_holm"] < ALPHA
    m = max(int(frame["p_value"].notna().sum()), 1)
    # MDE > margin exactly when the power at the margin is below 80% (power grows with the effect)
    frame["low_power"] = [not (margin and power(margin, se, df, ALPHA / m) >= POWER)
                          for se, df in zip(frame["se"], frame["df"])]
    return frame[EFFECT_COLUMNS]
