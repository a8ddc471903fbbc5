"""The verdict rule itself, on plain comparisons: which level speaks for a factor, and the four words.

Pure functions over Basis/Estimate values, shared by the report's verdicts (stats/verdicts.py), the
seeds-until-decided plan (which comparisons are still undecided after stage 1: stats/sequential.py) and
the simulations that check the rule's error rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ablate.report.stats.basis import Basis
from ablate.report.stats.contrast import ALPHA, Estimate
from ablate.report.stats.pvalues import holm


@dataclass(frozen=True)
class Judged:
    """One factor's family entry before Holm: the level that speaks for it and its p-values."""

    basis: Basis
    level: str
    estimate: Estimate
    p: float
    p_tost: float
    level_p: dict[str, float] = field(default_factory=dict)  # each level's p, Holm over the factor's levels


def judge(basis: Basis, sign: float, margin: float | None) -> Judged:
    """The level that speaks for the factor (the most significant one) and its two p-values.

    Two-sided p: that level's, Holm-adjusted over the factor's levels (it was chosen by looking), so the
    factor's test asks "does any level differ from the reference?". Equivalence: every level's own TOST
    must reject (intersection-union over the levels, both sides: no level helps or hurts by the margin);
    for an on/off factor this is exactly TOST. A level that costs 3 points keeps its factor from being
    negligible however good the other levels are.
    """
    levels = list(basis.estimates)
    estimates = [basis.estimates[lv] for lv in levels]
    raw = np.array([e.p_value() for e in estimates], dtype=float)
    adjusted = holm(raw) if len(levels) > 1 else raw
    if np.isfinite(adjusted).any():
        speaks = int(np.nanargmin(np.where(np.isfinite(adjusted), adjusted, np.inf)))
    else:
        scores = [sign * e.estimate if np.isfinite(e.estimate) else -np.inf for e in estimates]
        speaks = int(np.argmax(scores))
    p_tost = np.nan
    if margin:
        p_tost = float(max(e.p_tost(margin) for e in estimates))
    return Judged(basis, levels[speaks], estimates[speaks], float(adjusted[speaks]), p_tost,
                  {lv: float(p) for lv, p in zip(levels, adjusted)})


def decide(judged: dict[str, Judged], sign: float) -> dict[str, tuple[str, float, float]]:
    """The family's words: factor -> (status, Holm-adjusted p, Holm-adjusted equivalence p), for every
    factor with a testable comparison; negligible is checked first, then helps / hurts / depends."""
    return decide_family(judged, sign)[0]


def decide_family(judged: dict[str, Judged], sign: float, interactions: dict[str, Estimate] | None = None
                  ) -> tuple[dict[str, tuple[str, float, float]], dict[str, float]]:
    """decide() with the two-way interactions in the same Holm family as the factors' two-sided tests
    (so an interaction a verdict quotes, or a "depends on" that rests on it, is held to the page's error
    rate); returns the factors' words and each interaction's Holm-adjusted p."""
    tested = [f for f, j in judged.items() if j.estimate.testable]
    inter = {t: e for t, e in (interactions or {}).items() if e.testable}
    p_all = holm([judged[f].p for f in tested] + [e.p_value() for e in inter.values()])
    p_holm, inter_holm = p_all[:len(tested)], dict(zip(inter, map(float, p_all[len(tested):])))
    tost_holm = holm([judged[f].p_tost for f in tested])
    out = {}
    for f, p, q in zip(tested, p_holm, tost_holm):
        if q < ALPHA:
            status = "negligible"
        elif p < ALPHA:
            status = _direction(judged[f], float(p), sign)
        else:
            status = "inconclusive"
        out[f] = (status, float(p), float(q))
    return out, inter_holm


def significant_levels(j: Judged, p_holm: float) -> dict[str, float]:
    """The levels that differ from the reference at the family's level: a level's own Holm p scaled by
    the factor's family multiplier (p_holm / p, >= 1), so the family's error rate still holds."""
    scale = p_holm / j.p if j.p > 0 else 1.0
    return {lv: p for lv, p in j.level_p.items() if np.isfinite(p) and p * max(scale, 1.0) < ALPHA}


def _direction(j: Judged, p_holm: float, sign: float) -> str:
    """helps / hurts by the level that speaks; "depends" when significant levels go both ways."""
    if len(j.level_p) > 1:
        levels = significant_levels(j, p_holm)
        signs = {sign * j.basis.estimates[lv].estimate > 0 for lv in levels}
        if len(signs) > 1:
            return "depends"
    return "helps" if sign * j.estimate.estimate > 0 else "hurts"
