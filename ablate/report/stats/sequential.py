"""Seeds until decided: Stein's two-stage fixed-width procedure over the verdict family.

Stage 1 runs the initial seeds for every arm. From their residual spread alone, each comparison j (with
stage-1 standard error se_j over n1 seeds, df_j) needs N_j seeds for its (1 - alpha/m) interval to have
half-width at most min_effect/2: the smallest N >= initial with t(1 - alpha/(2m), df_j) se_j sqrt(n1/N)
<= min_effect/2 (m: the family's factors; a factor with L levels against its reference uses alpha/(mL),
since its best level is Holm'd over its L levels). Such an interval either excludes 0
(|estimate| > min_effect/2: helps or hurts) or lies inside +-min_effect (negligible), so at N = max_j N_j
every comparison is decided; N is capped at the study's `max` (then a decision is no longer guaranteed,
the error rates still are).

Every comparison counts in the max, decided at stage 1 or not: N then depends on the stage-1 variances
only, which under normality are independent of every contrast's estimate. So Stein's statistic (the mean
over all N seeds, scaled by the stage-1 standard error and judged by a t with the stage-1 df) is exactly t
under the null, and the verdicts keep their error rates: any wrong helps/hurts call at most alpha, any
wrong negligible call at most alpha (Holm over the family, as for fixed seeds).
"""

from __future__ import annotations

import math
from dataclasses import replace

from scipy import stats as sps

from ablate.report.results import Results
from ablate.report.stats.basis import Basis, verdict_basis
from ablate.report.stats.contrast import ALPHA, Estimate
from ablate.report.stats.margin import study_margin


def comparison_key(factor: str, level: str) -> str:
    return f"{factor}={level}" if level else factor


def stein_seeds(est: Estimate, margin: float, alpha_each: float, initial: int) -> int | None:
    """N_j: the fewest seeds (>= initial) for a two-sided (1 - alpha_each) half-width <= margin / 2;
    None when the stage-1 spread is unknown (no residual df)."""
    if not (est.testable and est.seeds > 0):
        return None
    crit = sps.t.ppf(1 - alpha_each / 2, est.df)
    needed = est.seeds * (crit * est.se / (margin / 2)) ** 2
    return max(initial, math.ceil(needed - 1e-9))


def plan(bases: dict[str, Basis | None], margin: float, initial: int, max_seeds: int,
         alpha: float = ALPHA) -> dict:
    """The stage-1 decision: every comparison's stage-1 numbers and N_j, and the seeds to run (N)."""
    tested = {f: b for f, b in bases.items() if b is not None and any(e.testable for e in b.estimates.values())}
    m = len(tested) or 1
    comparisons, needed = {}, [initial]
    for f, b in tested.items():
        for level, est in b.estimates.items():
            n_j = stein_seeds(est, margin, alpha / (m * len(b.estimates)), initial)
            comparisons[comparison_key(f, level)] = {"estimate": est.estimate, "se": est.se, "df": est.df,
                                                     "seeds": est.seeds, "needed": n_j}
            needed.append(n_j if n_j is not None else max_seeds + 1)
    want = max(needed)
    return {"procedure": "Stein two-stage (fixed width min_effect/2 at alpha/m, Bonferroni)", "alpha": alpha,
            "factors_m": m, "min_effect": margin, "initial": initial, "max": max_seeds,
            "needed": want, "seeds": min(want, max_seeds), "capped": want > max_seeds,
            "comparisons": comparisons}


def decide(results: Results, initial: int, max_seeds: int) -> dict | None:
    """The decision for a study whose stage-1 cells are finished (None without a margin to aim for)."""
    margin, _ = study_margin(results.study)
    if not margin:
        return None
    return plan(verdict_basis(results), margin, initial, max_seeds)


def stein_estimate(final: Estimate, stage1: dict) -> Estimate:
    """Stein's statistic: the estimate over every seed run, with the stage-1 spread and df."""
    try:
        se1, df1, n1 = float(stage1["se"]), float(stage1["df"]), int(stage1["seeds"])
    except (KeyError, TypeError, ValueError):
        return final
    if not (df1 > 0 and n1 > 0 and final.seeds > 0):
        return final
    return replace(final, se=se1 * math.sqrt(n1 / final.seeds), df=df1)


def stein_estimates(results: Results, bases: dict[str, Basis | None]) -> dict[str, Basis | None]:
    """The verdict family as a study with a recorded seed decision judges it (unchanged otherwise)."""
    decision = results.study.seed_decision
    if not decision or not isinstance(decision.get("comparisons"), dict):
        return bases
    recorded = decision["comparisons"]
    out = {}
    for f, b in bases.items():
        if b is None:
            out[f] = b
            continue
        out[f] = replace(b, estimates={lv: stein_estimate(e, recorded.get(comparison_key(f, lv), {}))
                                       for lv, e in b.estimates.items()})
    return out
