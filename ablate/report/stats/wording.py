"""A verdict as one sentence: the word, the amount with its interval, the test that decided, and the caveats.

Accuracy-like metrics are stated in percentage points (effects.metric_scale), so "+2.00 points" beside an
interval of points; p-values are the family's Holm-adjusted ones, the interval the comparison's own 95% t
interval (the same test). An inconclusive verdict carries what more seeds would buy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.contrast import ALPHA
from ablate.report.stats.decision import significant_levels
from ablate.report.stats.effects import metric_scale


def p_text(p: float) -> str:
    if not np.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def amount(value: float, scale: float, unit: str) -> str:
    return f"{value * scale:+.2f}{' ' + unit if unit else ''}"


def verdict_text(v, basis, results: Results, effects: pd.DataFrame, m: int) -> str:
    """The sentence for a tested verdict `v` (a verdicts.Verdict) on `basis` (a basis.Basis)."""
    metric = results.study.metric
    scale, unit = metric_scale(metric)
    interval = f"[{v.ci_low * scale:+.2f}, {v.ci_high * scale:+.2f}]" if np.isfinite(v.ci_low) else "(no interval)"
    what = f"{amount(v.estimate, scale, unit)} {metric} {interval}"
    ref = f" vs {v.factor}={basis.reference}"
    margin = f"±{v.min_effect * scale:g}{' ' + unit if unit else ''}" if np.isfinite(v.min_effect) else ""
    if v.status == "depends":
        text = f"{v.factor}: depends on {v.depends_on}: {v.simple_effects}"
        if v.depends_on == "level":
            text += f"{ref}, significant after Holm over its levels and the verdicts ({p_text(v.p_holm)})"
        else:
            text += f"; averaged over {v.depends_on}, {what} would mislead"
    elif v.status == "negligible":
        where = (f"every level lies within {margin} of {v.factor}={basis.reference} (each level's equivalence "
                 "test must pass: intersection-union)" if v.level else f"inside the margin {margin}")
        text = (f"{v.factor}: negligible, {what}{' at ' + v.factor + '=' + v.level + ref if v.level else ''}: "
                f"{where} (equivalence test, Holm-adjusted {p_text(v.p_tost_holm)})")
    elif v.status in ("helps", "hurts"):
        at = f" at {v.factor}={v.level}" if v.level else ""
        text = (f"{v.factor}: {v.status}{at}, {what}{ref if v.level else ''}, significant after Holm correction "
                f"over the verdicts ({p_text(v.p_holm)})")
    else:
        at = f" (most significant level {v.factor}={v.level}{ref})" if v.level else ""
        text = f"{v.factor}: inconclusive, {what}{at}: neither significant ({p_text(v.p_holm)}) nor inside " + (
            f"{margin} (equivalence {p_text(v.p_tost_holm)})" if margin else "a margin (none set)")
    text += f"; {basis.words}."
    if np.isfinite(v.f_test_p):
        text += (f" F-test of {v.factor}'s levels with the seed block: {p_text(v.f_test_p)} (on its own, "
                 "outside the verdict family).")
    if v.status == "inconclusive":
        text += _power_note(v, scale, unit, m, margin)
    if v.aliased_with:
        text += (f" Aliased with {v.aliased_with} (resolution III): the estimate is of the whole chain, "
                 "this factor's own only if those interactions are negligible.")
    text += _interaction_note(effects, v, scale, unit)
    if v.undertrained:
        text += f" ⚠ {v.undertrained}: the verdict may be about the epoch budget, not the regularizer."
    return text


def _power_note(v, scale: float, unit: str, m: int, margin: str) -> str:
    level = f"two-sided, at the Bonferroni level {ALPHA:g}/{m}" if m > 1 else f"two-sided, at {ALPHA:g}"
    note = ""
    if np.isfinite(v.mde):
        note += f" This study could detect ±{v.mde * scale:.2f}{' ' + unit if unit else ''} at 80% power ({level})"
        if margin and v.mde > v.min_effect:
            note += f", more than the margin {margin}: too little power to settle it"
        note += "."
    if margin:
        note += (f" {v.seeds_needed} seeds would detect {margin} at 80% power." if v.seeds_needed
                 else f" More than 1000 seeds would be needed to detect {margin}.")
    return note


def _interaction_note(effects: pd.DataFrame, v, scale: float, unit: str) -> str:
    """The interactions beside a verdict, each with its family: in the verdict family (Holm with the
    verdicts) it is part of the answer; significant only in the effects table's family, it is exploratory."""
    family_p = dict(v.interaction_p)
    rows = effects[effects["analysis"] == "interaction"]
    held, exploratory = [], []
    for r in rows.itertuples():
        parts = r.term.split(":")
        if v.factor not in parts or [p for p in parts if p != v.factor] == [v.depends_on]:
            continue
        if family_p.get(r.term, np.nan) < ALPHA:
            held.append(f"{r.term} ({amount(r.estimate, scale, unit)}, Holm {p_text(family_p[r.term])})")
        elif bool(r.significant):
            exploratory.append(f"{r.term} ({amount(r.estimate, scale, unit)})")
    note = (f" Its effect changes with {', '.join(held)}: significant in the verdict family, the same sign "
            "either way." if held else "")
    if exploratory:
        note += (f" Exploratory: {', '.join(exploratory)} significant in the effects table's family only "
                 "(factorial terms, Holm), not in the verdict family.")
    return note


def explain_depends(v, j, crossing, p_holm: float, results: Results) -> dict:
    """The Verdict fields behind a "depends": what it depends on and the effects that show it."""
    scale, unit = metric_scale(results.study.metric)

    def shown(e) -> str:
        low, high = e.interval()
        return f"{amount(e.estimate, scale, unit)} [{low * scale:+.2f}, {high * scale:+.2f}]"

    if crossing is not None:
        o = crossing.other
        return {"depends_on": o, "simple_effects": (
            f"{shown(crossing.off)} with {o} off, {shown(crossing.on)} with {o} on (simple effects); the "
            f"interaction {crossing.term} is significant in the verdict family (Holm {p_text(crossing.p_holm)})")}
    if v.status != "depends":
        return {}
    sign = 1.0 if results.study.direction == "maximize" else -1.0
    parts = [f"{'helps' if sign * j.basis.estimates[lv].estimate > 0 else 'hurts'} at {v.factor}={lv} "
             f"({shown(j.basis.estimates[lv])})" for lv in significant_levels(j, p_holm)]
    return {"depends_on": "level", "simple_effects": ", ".join(parts)}
