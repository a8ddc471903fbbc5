"""What a study could have detected, and how many seeds it would take: exact power of the two-sided t test.

An inconclusive verdict is only useful with these two numbers: the smallest effect the study had an 80%
chance to call (its minimum detectable effect, MDE) and the seeds that would call the practical margin.
Power is exact for the t test the verdict used (noncentral t with noncentrality effect / se, the same df),
at the Bonferroni level alpha / m of the verdict family (Holm is at least as powerful, so this is the
conservative figure). More seeds shrink the contrast's se as 1 / sqrt(seeds) and add residual df
(contrast.Estimate.at_seeds).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import stats as sps

from ablate.report.stats.contrast import ALPHA, Estimate

POWER = 0.8
MAX_SEEDS = 1000  # beyond this, "more than 1000 seeds": the margin is out of reach


def power(effect: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """P(the two-sided level-alpha t test rejects) when the true effect is `effect`."""
    if not (se > 0 and df > 0):
        return np.nan
    crit = sps.t.ppf(1 - alpha / 2, df)
    ncp = abs(effect) / se
    upper = sps.nct.sf(crit, df, ncp)
    upper = 1.0 - sps.nct.cdf(crit, df, ncp) if np.isnan(upper) else upper
    lower = sps.nct.cdf(-crit, df, ncp)  # the far tail: scipy returns NaN where it underflows
    return float(min(1.0, upper + (0.0 if np.isnan(lower) else lower)))


def mde(se: float, df: float, alpha: float = ALPHA, target: float = POWER) -> float:
    """The smallest |effect| the test detects with probability `target`."""
    if not (se > 0 and df > 0):
        return np.nan
    upper = se * 2.0
    while power(upper, se, df, alpha) < target:
        upper *= 2.0
        if upper > se * 1e9:
            return np.inf
    return float(optimize.brentq(lambda e: power(e, se, df, alpha) - target, 0.0, upper, xtol=se * 1e-9))


def seeds_needed(est: Estimate, effect: float, alpha: float = ALPHA, target: float = POWER) -> int | None:
    """The fewest paired seeds at which `est`'s test detects `effect` with probability `target`;
    None when more than MAX_SEEDS would be needed or the spread is unknown."""
    if not (est.testable and est.seeds > 0 and effect > 0):
        return None
    if est.se == 0:
        return est.seeds

    def ok(n: int) -> bool:
        at = est.at_seeds(n)
        return at.df > 0 and power(effect, at.se, at.df, alpha) >= target

    if not ok(MAX_SEEDS):
        return None
    low = 2
    high = MAX_SEEDS
    while low < high:  # power grows with n: the first n that reaches the target
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid + 1
    return int(low)
