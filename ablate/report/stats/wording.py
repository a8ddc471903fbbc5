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
    if v.level:
        what = f"best level {v.factor}={v.level}: {what} vs {v.factor}={basis.reference}"
    margin = f"±{v.min_effect * scale:g}{' ' + unit if unit else ''}" if np.isfinite(v.min_effect) else ""
    if v.status == "negligible":
        where = (f"no level helps by {margin} or more, and the best is within {margin}" if v.level
                 else f"inside the margin {margin}")
        text = (f"{v.factor}: negligible, {what}: {where} (equivalence test, "
                f"Holm-adjusted {p_text(v.p_tost_holm)})")
    elif v.status in ("helps", "hurts"):
        text = f"{v.factor}: {v.status}, {what}, significant after Holm correction ({p_text(v.p_holm)})"
    else:
        text = f"{v.factor}: inconclusive, {what}: neither significant ({p_text(v.p_holm)}) nor inside " + (
            f"{margin} (equivalence {p_text(v.p_tost_holm)})" if margin else "a margin (none set)")
    text += f"; {basis.words}."
    if np.isfinite(v.f_test_p):
        text += f" F-test of {v.factor}'s levels with the seed block: {p_text(v.f_test_p)}."
    if v.status == "inconclusive":
        text += _power_note(v, scale, unit, m, margin)
    if v.aliased_with:
        text += (f" Aliased with {v.aliased_with} (resolution III): the estimate is of the whole chain, "
                 "this factor's own only if those interactions are negligible.")
    text += _interaction_note(effects, v.factor, scale, unit)
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


def _interaction_note(effects: pd.DataFrame, factor: str, scale: float, unit: str) -> str:
    """Say so when the factor's effect depends on another factor: its main effect alone would mislead."""
    rows = effects[(effects["analysis"] == "interaction") & effects["significant"].astype(bool)]
    notes = [f"{r.term} ({amount(r.estimate, scale, unit)})" for r in rows.itertuples() if factor in r.term.split(":")]
    return f" Its effect depends on: {', '.join(notes)}." if notes else ""
