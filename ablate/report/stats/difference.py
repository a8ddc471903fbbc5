"""One factor's effect in two independent studies: is the difference real? (`ablate compare`)

Two verdicts that read differently are not evidence of a difference: with the same true effect, one study
says "helps" at p = 0.03 and the other "inconclusive" at p = 0.08 about half the time. The question is the
difference of the two estimates, tested on its own: B - A with se = sqrt(se_A^2 + se_B^2) (the studies share
no seeds, so the two estimates are independent) and the Welch-Satterthwaite df,
    df = (se_A^2 + se_B^2)^2 / (se_A^4 / df_A + se_B^4 / df_B),
each study's se and df being those of its own verdict's procedure (paired t, factorial fit, Stein). The
family is the factors compared, Holm at ALPHA: "differs" is wrong for any factor on the page with probability
at most 5%. Where both studies are precise enough, TOST on the difference within +-margin (Holm over the same
family) says they agree within that margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ablate.report.stats.contrast import ALPHA, CONFIDENCE, NO_ESTIMATE, Estimate
from ablate.report.stats.pvalues import holm

DIFFERS = "differs"
NO_DIFFERENCE = "no detectable difference"
AGREE = "agree within"  # + " ±margin"
NO_TEST = "no test"


def estimate_from(estimate: float, low: float = np.nan, high: float = np.nan, se: float = np.nan,
                  df: float = np.nan, confidence: float = CONFIDENCE) -> Estimate:
    """An effect as its table states it -> Estimate. se as stored, else from the t interval:
    high - low = 2 t_{(1+confidence)/2, df} se (the interval needs its df to be read back)."""
    if not (np.isfinite(estimate) and np.isfinite(df) and df > 0):
        return NO_ESTIMATE
    if not np.isfinite(se) and np.isfinite(low) and np.isfinite(high):
        se = (high - low) / (2 * sps.t.ppf(0.5 + confidence / 2, df))
    if not (np.isfinite(se) and se >= 0):
        return NO_ESTIMATE
    return Estimate(float(estimate), float(se), float(df))


def welch(a: Estimate, b: Estimate) -> Estimate:
    """B - A of two independent estimates, with the Welch-Satterthwaite df."""
    if not (a.testable and b.testable):
        return NO_ESTIMATE
    va, vb = a.se ** 2, b.se ** 2
    if va + vb == 0:
        df = a.df + b.df  # no spread in either: Estimate's se == 0 rule decides
    else:
        df = (va + vb) ** 2 / (va ** 2 / a.df + vb ** 2 / b.df)
    return Estimate(b.estimate - a.estimate, float(np.sqrt(va + vb)), float(df))


@dataclass(frozen=True)
class Difference:
    """B - A for one factor, in the metric's units, and what may be said of it."""

    factor: str
    estimate: float = np.nan
    low: float = np.nan
    high: float = np.nan
    se: float = np.nan
    df: float = np.nan
    p: float = np.nan
    p_holm: float = np.nan
    p_tost_holm: float = np.nan
    margin: float = np.nan
    verdict: str = NO_TEST


def differences(pairs: dict[str, tuple[Estimate, Estimate]],
                margin: float | None = None) -> dict[str, Difference]:
    """factor -> (A's estimate, B's estimate) -> the Welch difference of each, judged as one Holm family.

    "differs" where the Holm-adjusted two-sided p < ALPHA; else "agree within ±margin" where the
    Holm-adjusted TOST p < ALPHA (margin > 0 given); else "no detectable difference". A pair without a
    standard error on both sides gets "no test"."""
    diffs = {f: welch(a, b) for f, (a, b) in pairs.items()}
    tested = [f for f, d in diffs.items() if d.testable]
    p_holm = dict(zip(tested, holm([diffs[f].p_value() for f in tested])))
    use_margin = margin if margin is not None and margin > 0 else None
    tost = holm([diffs[f].p_tost(use_margin) if use_margin else np.nan for f in tested])
    p_tost = dict(zip(tested, tost))
    out = {}
    for f, d in diffs.items():
        if f not in p_holm:
            out[f] = Difference(f, d.estimate)
            continue
        low, high = d.interval()
        q = p_tost[f]
        verdict = DIFFERS if p_holm[f] < ALPHA else AGREE if np.isfinite(q) and q < ALPHA else NO_DIFFERENCE
        out[f] = Difference(f, d.estimate, low, high, d.se, d.df, d.p_value(), float(p_holm[f]), float(q),
                            use_margin if use_margin else np.nan, verdict)
    return out


def family_statement(m: int, margin_text: str = "") -> str:
    """What error rate holds for the page's "differs" (and "agree within") marks."""
    text = (f"Differences: {m} test{'s' if m != 1 else ''} (one per factor in both studies), Welch t on B-A "
            f"(each study's own standard error and df, Welch-Satterthwaite df), Holm at {ALPHA:.0%}: the "
            f"probability of any wrong \"differs\" on this page is at most {ALPHA:.0%}.")
    if margin_text:
        text += (f" \"agree within {margin_text}\": the equivalence test (TOST) on the difference, Holm "
                 f"over the same family, at most {ALPHA:.0%} wrong.")
    return text + " Verdicts that read differently are not, by themselves, a difference."
