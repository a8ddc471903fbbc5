"""One sentence per factor, in plain words: does it help, by how much, how sure.

The sentence is built from the strongest analysis the design allows: the OLS main effect for factorial
designs, the leave-one-out or add-one contribution for loco/add_one, and otherwise the single-factor arm
against the baseline. Accuracy-like metrics (names ending in `acc`) are stated in percentage points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report import factorial, stats
from ablate.report.results import Results


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


def metric_scale(metric: str) -> tuple[float, str]:
    """Accuracy differences read best as points (x100); anything else stays in its own units."""
    return (100.0, "points") if metric.endswith("acc") else (1.0, "")


def effects_for_display(effects: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, str, int]:
    """An effects table's estimate and CI as the report states them (accuracy in points), the unit, and the
    decimals to show: 2 for points, 4 for a metric in its own units (a loss effect of 0.003 must not read 0.00)."""
    scale, unit = metric_scale(metric)
    shown = effects.copy()
    for col in ("estimate", "ci_low", "ci_high"):
        shown[col] = shown[col] * scale
    return shown, unit, 2 if unit else 4


def effect_table(results: Results) -> pd.DataFrame:
    """Every comparison the report makes, in one tidy table (effects.csv): vs baseline, factorial terms,
    loco/add_one contributions."""
    parts = [
        stats.compare_to_baseline(results),
        factorial.factorial_effects(results),
        stats.contributions(results),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=factorial.COLUMNS)
    return pd.concat(parts, ignore_index=True)


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
    alone = [arm for arm, s in stats.arm_factor_sets(results).items() if s == frozenset({factor})]
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
