"""A main effect whose sign flips with another factor: "depends on X", with the simple effects shown.

Averaging a crossing interaction (+2 points with b, -2 without) gives a main effect near zero, which the
equivalence test would call negligible: confidently wrong. So a two-level factor's verdict becomes
"depends on X" when both hold:
- the interaction with X is significant in the verdict family (Holm over the factors' tests and the
  two-way interactions together: stats/decision.decide_family), so a false "depends" is one of the
  page's 5% errors, and
- its simple effects (X off, X on: the fit's coefficient of the factor -+ half the interaction's, the
  effect at each level of X averaged over the other factors of the design's full grid) have opposite
  signs and each lies outside the margin (without a margin: only the opposite signs).
A significant interaction whose simple effects share a sign (the quickstart's label_smoothing x augment:
augment hurts with and without label smoothing, by different amounts) leaves the verdict alone and is
quoted beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ablate.report.stats.contrast import ALPHA, Estimate
from ablate.report.stats.factorial import Factorial


@dataclass(frozen=True)
class Depends:
    """Factor `factor`'s effect with `other` off and on, and the interaction's family p."""

    factor: str
    other: str
    term: str
    off: Estimate
    on: Estimate
    p_holm: float


def _term(analysis: Factorial, factor: str, other: str) -> str | None:
    for term in (f"{factor}:{other}", f"{other}:{factor}"):
        if term in analysis.interactions:
            return term
    return None


def simple_effects(analysis: Factorial, factor: str, other: str) -> tuple[Estimate, Estimate] | None:
    """(effect of `factor` with `other` off, with it on) from the factorial fit; None without the term."""
    fit, term = analysis.fit, _term(analysis, factor, other)
    if fit is None or term is None or factor not in fit.model.terms:
        return None
    columns = fit.model.terms[term]
    if len(columns) != 1 or len(fit.model.terms[factor]) != 1:
        return None
    out = []
    for half in (-0.5, 0.5):
        c = np.zeros(len(fit.beta))
        c[fit.column(fit.model.terms[factor][0])] = 1.0
        c[fit.column(columns[0])] = half
        out.append(fit.estimate(c))
    return out[0], out[1]


def depends_on(analysis: Factorial | None, factor: str, interaction_p: dict[str, float], margin: float | None,
               sign: float = 1.0) -> Depends | None:
    """The factor this one's verdict depends on (the most significant crossing interaction), or None."""
    if analysis is None or factor not in analysis.mains:
        return None
    found = []
    for other in analysis.factors:
        term = _term(analysis, factor, other) if other != factor else None
        if term is None or not interaction_p.get(term, np.nan) < ALPHA:
            continue
        pair = simple_effects(analysis, factor, other)
        if pair is None:
            continue
        off, on = (sign * e.estimate for e in pair)
        bound = margin or 0.0
        if off * on < 0 and abs(off) > bound and abs(on) > bound:
            found.append(Depends(factor, other, term, pair[0], pair[1], interaction_p[term]))
    return min(found, key=lambda d: d.p_holm) if found else None
