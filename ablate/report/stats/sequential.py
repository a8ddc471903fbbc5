"""Seeds until decided: Stein's two-stage fixed-width procedure over the verdict family.

Stage 1 runs the initial seeds for every arm. From their residual spread alone, each comparison j (with
stage-1 standard error se_j over n1 seeds, df_j) needs N_j seeds for its (1 - alpha/m) interval to have
half-width at most min_effect/2: the smallest N >= initial with t(1 - alpha/(2m), df_j) se_j sqrt(n1/N)
<= min_effect/2 (m: the family's factors; a factor with L levels against its reference uses alpha/(mL),
since its best level is Holm'd over its L levels). Such an interval either excludes 0
(|estimate| > min_effect/2: helps or hurts) or lies inside +-min_effect (negligible), so at N = max_j N_j
every comparison is decided; N is capped at the study's `max` (then a decision is no longer guaranteed,
the error rates still are).

Only the comparisons still undecided after stage 1 (by the ordinary test) count in the max, so a study
decided by its initial seeds adds none. Every verdict then uses Stein's statistic: the mean over all N
seeds, scaled by the stage-1 standard error, judged by a t with the stage-1 df. Given N it is exactly t
under the null, because the stage-1 variance is independent of the means under normality; N depends on a
comparison's own stage-1 estimate only through whether that comparison was decided (in a balanced
factorial every N_j is the same, so only when every other comparison was decided too). The simulations
(tests/test_sequential.py) show the family's rates: any wrong helps/hurts call at most 5%, any wrong
negligible call at most 5%, every verdict decided when N was not capped.
"""

from __future__ import annotations

import math
from dataclasses import replace

from scipy import stats as sps

from ablate.report.results import Results
from ablate.report.stats.basis import Basis, verdict_basis
from ablate.report.stats.contrast import ALPHA, Estimate
from ablate.report.stats.decision import decide, judge
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


def undecided(bases: dict[str, Basis | None], margin: float, sign: float) -> set[str]:
    """The factors the ordinary verdict rule leaves inconclusive (or cannot test) at stage 1."""
    judged = {f: judge(b, sign, margin) for f, b in bases.items() if b is not None and b.estimates}
    words = decide(judged, sign)
    return {f for f in bases if words.get(f, ("inconclusive",))[0] == "inconclusive"}


def plan(bases: dict[str, Basis | None], margin: float, initial: int, max_seeds: int, sign: float = 1.0,
         alpha: float = ALPHA) -> dict:
    """The stage-1 decision: every comparison's stage-1 numbers and N_j, and the seeds to run (N: the most
    any still-undecided comparison needs, capped at max)."""
    tested = {f: b for f, b in bases.items() if b is not None and any(e.testable for e in b.estimates.values())}
    m = len(tested) or 1
    open_ = undecided(bases, margin, sign)
    comparisons, needed = {}, [initial]
    for f, b in tested.items():
        for level, est in b.estimates.items():
            n_j = stein_seeds(est, margin, alpha / (m * len(b.estimates)), initial)
            comparisons[comparison_key(f, level)] = {"estimate": est.estimate, "se": est.se, "df": est.df,
                                                     "seeds": est.seeds, "needed": n_j, "decided": f not in open_}
            if f in open_:
                needed.append(n_j if n_j is not None else max_seeds + 1)
    want = max(needed)
    return {"procedure": "Stein two-stage (fixed width min_effect/2 at alpha/m, Bonferroni)", "alpha": alpha,
            "factors_m": m, "min_effect": margin, "initial": initial, "max": max_seeds,
            "needed": want, "seeds": min(want, max_seeds), "capped": want > max_seeds,
            "undecided": sorted(open_ & set(tested)), "comparisons": comparisons}


def decide_seeds(results: Results, initial: int, max_seeds: int) -> dict | None:
    """The decision for a study whose stage-1 cells are finished (None without a margin to aim for)."""
    margin, _ = study_margin(results.study)
    if not margin:
        return None
    sign = 1.0 if results.study.direction == "maximize" else -1.0
    return plan(verdict_basis(results), margin, initial, max_seeds, sign)


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
