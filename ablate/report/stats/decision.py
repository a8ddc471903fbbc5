"""The verdict rule itself, on plain comparisons: which level speaks for a factor, and the four words.

Pure functions over Basis/Estimate values, shared by the report's verdicts (stats/verdicts.py), the
seeds-until-decided plan (which comparisons are still undecided after stage 1: stats/sequential.py) and
the simulations that check the rule's error rates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


def judge(basis: Basis, sign: float, margin: float | None) -> Judged:
    """The level that speaks for the factor (the best, in the metric's direction) and its two p-values.

    Two-sided p: the best level's, Holm-adjusted over the factor's levels (it was chosen by looking).
    Equivalence: no level helps by the margin (each level's one-sided test, all must reject:
    intersection-union) and the best level is no worse than the margin (one-sided, Bonferroni over the
    levels, since it was chosen); for an on/off factor this is exactly TOST.
    """
    levels = list(basis.estimates)
    estimates = [basis.estimates[lv] for lv in levels]
    raw = np.array([e.p_value() for e in estimates], dtype=float)
    adjusted = holm(raw) if len(levels) > 1 else raw
    scores = [sign * e.estimate if np.isfinite(e.estimate) else -np.inf for e in estimates]
    best = int(np.argmax(scores))
    p_tost = np.nan
    if margin:
        toward = [replace(e, estimate=sign * e.estimate) for e in estimates]  # + = helps
        no_gain = max(e.p_below(margin) for e in toward)
        no_loss = min(1.0, len(levels) * toward[best].p_above(-margin))
        p_tost = float(max(no_gain, no_loss))
    return Judged(basis, levels[best], estimates[best], float(adjusted[best]), p_tost)


def decide(judged: dict[str, Judged], sign: float) -> dict[str, tuple[str, float, float]]:
    """The family's words: factor -> (status, Holm-adjusted p, Holm-adjusted equivalence p), for every
    factor with a testable comparison; negligible is checked first, then helps / hurts."""
    tested = [f for f, j in judged.items() if j.estimate.testable]
    p_holm = holm([judged[f].p for f in tested])
    tost_holm = holm([judged[f].p_tost for f in tested])
    out = {}
    for f, p, q in zip(tested, p_holm, tost_holm):
        if q < ALPHA:
            status = "negligible"
        elif p < ALPHA:
            status = "helps" if sign * judged[f].estimate.estimate > 0 else "hurts"
        else:
            status = "inconclusive"
        out[f] = (status, float(p), float(q))
    return out
