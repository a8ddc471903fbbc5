"""One sentence per factor, in plain words: does it help, by how much, how sure.

The sentence is built from the strongest analysis the design allows: the OLS main effect when the design
is factorial, the factor's contribution when the design records one, and otherwise the single-factor arm
against the baseline. Accuracy-like metrics are stated in percentage points (effects.metric_scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.effects import effect_table, metric_scale
from ablate.report.stats.paired import arm_factor_sets


@dataclass(frozen=True)
class Verdict:
    """A factor's verdict: `status` is helps | hurts | unclear | untested; `text` is the sentence."""

    factor: str
    status: str
    text: str
    estimate: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    p_holm: float = np.nan
    basis: str = ""


def _basis(results: Results, effects: pd.DataFrame, factor: str) -> tuple[pd.Series | None, str]:
    """The row that speaks for `factor`, and a few words on what it compares."""
    for analysis, words in [
        ("main_effect", "main effect, averaged over the other factors"),
        ("contribution", ""),
    ]:
        rows = effects[(effects["analysis"] == analysis) & (effects["term"] == factor)]
        if len(rows):
            row = rows.iloc[0]
            return row, words or f"contribution: {row['reference']}"
    alone = [arm for arm, s in arm_factor_sets(results).items() if s == frozenset({factor})]
    rows = effects[(effects["analysis"] == "vs_baseline") & effects["term"].isin(alone)]
    if len(rows):
        return rows.iloc[0], f"arm {rows.iloc[0]['term']} vs baseline"
    return None, ""


def factor_verdicts(results: Results, effects: pd.DataFrame | None = None) -> list[Verdict]:
    """A verdict for every factor of the study, in the study's factor order."""
    effects = effect_table(results) if effects is None else effects
    metric, direction = results.study.metric, results.study.direction
    scale, unit = metric_scale(metric)
    n_seeds = int(results.finished["seed"].nunique()) if len(results.finished) else 0
    out = []
    for factor in results.study.factors:
        row, basis = _basis(results, effects, factor)
        if row is None or not np.isfinite(row["estimate"]):
            out.append(
                Verdict(
                    factor,
                    "untested",
                    f"{factor}: not isolated by this design "
                    "(no arm differs from another by this factor alone), so no verdict.",
                )
            )
            continue
        est, low, high = (float(row[k]) * scale for k in ("estimate", "ci_low", "ci_high"))
        better = est > 0 if direction == "maximize" else est < 0
        status = ("helps" if better else "hurts") if bool(row["significant"]) else "unclear"
        words = {"helps": "helps", "hurts": "hurts", "unclear": "no clear effect"}[status]
        interval = f"[{low:+.2f}, {high:+.2f}]" if np.isfinite(low) else "(no interval: one paired seed)"
        amount = f"{est:+.2f}{' ' + unit if unit else ''} {metric} {interval}"
        sig = "significant" if status != "unclear" else "not significant"
        text = f"{factor}: {words}, {amount}, {sig} after Holm correction ({_p(row['p_holm'])}; {basis})."
        if bool(row["low_power"]):
            text += f" Only {n_seeds} seed(s): the test has little power, so 'no clear effect' is not 'no effect'."
        text += _interaction_note(effects, factor, scale, unit)
        out.append(Verdict(factor, status, text, est, low, high, float(row["p_holm"]), basis))
    return out


def _interaction_note(effects: pd.DataFrame, factor: str, scale: float, unit: str) -> str:
    """Say so when the factor's effect depends on another factor: its main effect alone would mislead."""
    rows = effects[(effects["analysis"] == "interaction") & effects["significant"].astype(bool)]
    notes = [
        f"{r.term} ({r.estimate * scale:+.2f}{' ' + unit if unit else ''})"
        for r in rows.itertuples()
        if factor in r.term.split(":")
    ]
    return f" Its effect depends on: {', '.join(notes)}." if notes else ""


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
