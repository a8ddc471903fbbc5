"""Paired comparisons: every arm against the baseline, and each factor's contribution, paired by seed.

Seed k shares init, data order and augmentation across arms, so two arms compare through their per-seed
differences: mean, t interval, exact sign-flip p-value, and Holm's correction over the family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.intervals import bootstrap_ci, t_ci
from ablate.report.stats.pvalues import MIN_SEEDS_FOR_POWER, sign_flip_pvalue, with_holm

PAIRED_METHOD = "paired by seed; t CI; exact sign-flip permutation test; Holm"


def metric_table(results: Results, metric: str | None = None) -> pd.DataFrame:
    """Finished cells as a seed x arm table of the study metric: the shape every paired comparison needs."""
    metric = metric or results.study.metric
    finished = results.finished
    if finished.empty or metric not in finished:
        return pd.DataFrame()
    table = finished.pivot_table(index="seed", columns="arm", values=metric, aggfunc="mean")
    return table[[a for a in results.arm_order if a in table.columns]]


def arm_factor_sets(results: Results) -> dict[str, frozenset[str]]:
    """Arm -> the factors it switches on, from the cells' factor tags (never parsed out of arm names)."""
    cells = results.ablation
    out = {}
    for arm in results.arm_order:
        rows = cells[cells["arm"] == arm]
        if len(rows):
            out[arm] = frozenset(f for f in results.study.factors if f in rows and bool(rows.iloc[0][f]))
    return out


def arm_summary(results: Results) -> pd.DataFrame:
    """Per arm: seeds, mean, std and 95% bootstrap CI of the study metric."""
    table = metric_table(results)
    rows = []
    for arm in results.arm_order:
        values = table[arm].dropna().to_numpy() if arm in table else np.array([])
        low, high, method = bootstrap_ci(values)
        rows.append(
            {
                "arm": arm,
                "n": int(values.size),
                "mean": values.mean() if values.size else np.nan,
                "std": values.std(ddof=1) if values.size > 1 else np.nan,
                "ci_low": low,
                "ci_high": high,
                "ci_method": method,
            }
        )
    return pd.DataFrame(rows, columns=["arm", "n", "mean", "std", "ci_low", "ci_high", "ci_method"])


def paired_difference(table: pd.DataFrame, arm: str, reference: str) -> dict:
    """arm - reference over the seeds both finished: mean, t CI, exact sign-flip p-value."""
    both = table[[arm, reference]].dropna() if {arm, reference} <= set(table.columns) else pd.DataFrame()
    diffs = (both[arm] - both[reference]).to_numpy() if len(both) else np.array([])
    low, high = t_ci(diffs)
    return {
        "n": int(diffs.size),
        "estimate": diffs.mean() if diffs.size else np.nan,
        "ci_low": low,
        "ci_high": high,
        "p_value": sign_flip_pvalue(diffs),
        "low_power": diffs.size < MIN_SEEDS_FOR_POWER,
    }


def compare_to_baseline(results: Results) -> pd.DataFrame:
    """Every arm against the baseline arm, paired by seed, Holm-corrected across all arms compared."""
    base = results.study.baseline or ("baseline" if "baseline" in results.arm_order else None)
    table = metric_table(results)
    if base is None or table.empty or base not in table:
        return with_holm([])
    rows = [
        {
            "analysis": "vs_baseline",
            "term": arm,
            "reference": base,
            "method": PAIRED_METHOD,
            **paired_difference(table, arm, base),
        }
        for arm in results.arm_order
        if arm != base
    ]
    return with_holm(rows)


def contribution_pairs(results: Results) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """factor -> (factors on with it, factors on without it), as the design recorded them; empty when the
    design's analyses do not include contributions."""
    study = results.study
    pairs = study.design_record.get("contributions") if study.supports("contribution") else None
    if not isinstance(pairs, dict):
        return {}
    return {str(f): (frozenset(p[0]), frozenset(p[1])) for f, p in pairs.items()
            if isinstance(p, list | tuple) and len(p) == 2}


def contributions(results: Results) -> pd.DataFrame:
    """Each factor's contribution: the paired difference between the two arms its design names for it
    (e.g. all on minus all on but f, or f alone minus the baseline).

    Arms are found by the factor sets their cells carry, so arm naming is free. A positive estimate means
    the metric is higher with the factor.
    """
    pairs = contribution_pairs(results)
    if not pairs:
        return with_holm([])
    sets = {s: arm for arm, s in arm_factor_sets(results).items()}
    table, rows = metric_table(results), []
    for f in results.study.factors:
        with_set, without_set = pairs.get(f, (None, None))
        with_f, without_f = sets.get(with_set), sets.get(without_set)
        if with_f is None or without_f is None:
            continue
        rows.append(
            {
                "analysis": "contribution",
                "term": f,
                "reference": f"{with_f} vs {without_f}",
                "method": PAIRED_METHOD,
                **paired_difference(table, with_f, without_f),
            }
        )
    return with_holm(rows)
