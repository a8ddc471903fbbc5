"""The one test behind every comparison: a linear contrast with a standard error and residual df.

Every number the report states about a comparison (estimate, 95% interval, two-sided p, the equivalence
test against the practical margin, power, seeds needed) is computed here from (estimate, se, df), so the
p-value beside an interval is always that interval's own test. A paired comparison is the one-sample t on
per-seed differences (the OLS y = delta + e on the differences); a factorial effect is c'b of the OLS fit
with the seed block, se = s * sqrt(c'(X'X)^-1 c), df = residual df (stats/ols.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as sps

ALPHA = 0.05  # two-sided level of every test; Holm keeps it per family
CONFIDENCE = 1 - ALPHA


@dataclass(frozen=True)
class Estimate:
    """A contrast: estimate, standard error, residual degrees of freedom, and the units it rests on
    (seeds for a paired comparison, cells for an OLS contrast)."""

    estimate: float
    se: float
    df: float
    n: int = 0
    seeds: int = 0  # the paired seeds it rests on: se scales as 1/sqrt(seeds) when seeds are added
    df_per_seed: float = 1.0  # residual df one more seed adds (arms - 1 with a seed block; 1 when paired)

    def at_seeds(self, seeds: int) -> Estimate:
        """The same contrast as it would be measured over `seeds` paired seeds (the design replicated):
        the variance factor c'(X'X)^-1 c shrinks as 1/seeds and the residual df grows per seed."""
        if self.seeds <= 0:
            return self
        return replace(self, se=self.se * np.sqrt(self.seeds / seeds),
                       df=self.df + (seeds - self.seeds) * self.df_per_seed, seeds=seeds)

    @property
    def testable(self) -> bool:
        return bool(np.isfinite(self.estimate) and np.isfinite(self.se) and self.df > 0)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The two-sided t interval (NaN when there is no residual to estimate the spread from)."""
        if not self.testable:
            return np.nan, np.nan
        half = sps.t.ppf(0.5 + confidence / 2, self.df) * self.se
        return float(self.estimate - half), float(self.estimate + half)

    def p_value(self) -> float:
        """Two-sided p of estimate = 0; 0 when a spread of exactly zero meets a non-zero estimate."""
        if not self.testable:
            return np.nan
        if self.se == 0:
            return 1.0 if self.estimate == 0 else 0.0
        return float(2 * sps.t.sf(abs(self.estimate / self.se), self.df))

    def p_below(self, bound: float) -> float:
        """One-sided p of H0: delta >= bound (small when the estimate lies well below the bound)."""
        if not self.testable:
            return np.nan
        if self.se == 0:
            return 0.0 if self.estimate < bound else 1.0
        return float(sps.t.cdf((self.estimate - bound) / self.se, self.df))

    def p_above(self, bound: float) -> float:
        """One-sided p of H0: delta <= bound."""
        if not self.testable:
            return np.nan
        if self.se == 0:
            return 0.0 if self.estimate > bound else 1.0
        return float(sps.t.sf((self.estimate - bound) / self.se, self.df))

    def p_tost(self, margin: float) -> float:
        """Equivalence within +-margin (two one-sided tests): the larger of the two one-sided p's, so it
        is below alpha exactly when the (1 - 2 alpha) interval lies inside the margin."""
        if not self.testable or not margin > 0:
            return np.nan
        return max(self.p_above(-margin), self.p_below(margin))

    def p_positive(self) -> float:
        """P(delta > 0) under the flat-prior posterior delta ~ estimate + se * t_df: the t cdf at est/se,
        the same model as the interval."""
        if not self.testable:
            return np.nan
        if self.se == 0:
            return float(self.estimate > 0) if self.estimate != 0 else 0.5
        return float(sps.t.cdf(self.estimate / self.se, self.df))

    def row(self, margin: float | None = None) -> dict:
        """The columns every effects table carries for one comparison."""
        low, high = self.interval()
        return {"n": self.n, "estimate": self.estimate, "se": self.se, "df": self.df, "ci_low": low,
                "ci_high": high, "p_value": self.p_value(),
                "p_tost": self.p_tost(margin) if margin else np.nan}


NO_ESTIMATE = Estimate(np.nan, np.nan, 0.0, 0)


def paired(diffs) -> Estimate:
    """The one-sample t on per-seed differences (NaNs dropped): mean, sd / sqrt(n), n - 1."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return NO_ESTIMATE
    if d.size == 1:
        return Estimate(float(d[0]), np.nan, 0.0, 1)
    return Estimate(float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)), float(d.size - 1), int(d.size),
                    seeds=int(d.size))
