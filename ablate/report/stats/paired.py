"""Paired comparisons: every arm against the baseline, and each factor's contribution, paired by seed.

Seed k shares init, data order and augmentation across arms, so two arms compare through their per-seed
differences: the one-sample t on them gives the estimate, its interval and its p-value (one procedure);
Holm's correction runs over each named family. The exact sign-flip test sits beside it from 6 seeds on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results, computed_once
from ablate.report.stats.contrast import Estimate, paired
from ablate.report.stats.intervals import BOOTSTRAP_MIN_N, bootstrap_ci, t_ci
from ablate.report.stats.margin import study_margin
from ablate.report.stats.pvalues import MIN_SEEDS_FOR_PERMUTATION, sign_flip_pvalue, with_holm

PAIRED_METHOD = "paired t on per-seed differences (estimate, 95% t CI and p from the same test)"


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


SUMMARY_COLUMNS = ["arm", "n", "mean", "std", "ci_low", "ci_high", "ci_method", "boot_low", "boot_high"]


@computed_once
def arm_summary(results: Results) -> pd.DataFrame:
    """Per arm: seeds, mean, std and the 95% Student t interval of the study metric (it covers what it
    says at 2-5 seeds, where a bootstrap over 3 values covers 49-83%); a bootstrap interval beside it from
    BOOTSTRAP_MIN_N seeds on."""
    table = metric_table(results)
    rows = []
    for arm in results.arm_order:
        values = table[arm].dropna().to_numpy() if arm in table else np.array([])
        low, high = t_ci(values)
        boot = bootstrap_ci(values)[:2] if values.size >= BOOTSTRAP_MIN_N else (np.nan, np.nan)
        rows.append({"arm": arm, "n": int(values.size), "mean": values.mean() if values.size else np.nan,
                     "std": values.std(ddof=1) if values.size > 1 else np.nan, "ci_low": low, "ci_high": high,
                     "ci_method": "t" if values.size > 1 else "none (fewer than 2 seeds)",
                     "boot_low": boot[0], "boot_high": boot[1]})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def paired_diffs(table: pd.DataFrame, arm: str, reference: str) -> np.ndarray:
    """arm - reference per seed, over the seeds both finished."""
    both = table[[arm, reference]].dropna() if {arm, reference} <= set(table.columns) else pd.DataFrame()
    return (both[arm] - both[reference]).to_numpy(dtype=float) if len(both) else np.array([])


def paired_estimate(table: pd.DataFrame, arm: str, reference: str) -> Estimate:
    return paired(paired_diffs(table, arm, reference))


def paired_difference(table: pd.DataFrame, arm: str, reference: str, margin: float | None = None) -> dict:
    """arm - reference over the seeds both finished: the paired t's estimate, CI, p (and TOST p), with
    the exact sign-flip p beside it once there are enough seeds for it to reach 5%."""
    diffs = paired_diffs(table, arm, reference)
    row = paired(diffs).row(margin)
    row["p_permutation"] = sign_flip_pvalue(diffs) if diffs.size >= MIN_SEEDS_FOR_PERMUTATION else np.nan
    return row


@computed_once
def compare_to_baseline(results: Results) -> pd.DataFrame:
    """Every arm against the baseline arm, paired by seed, Holm-corrected across all arms compared."""
    base = baseline_arm(results)
    table = metric_table(results)
    if base is None or table.empty or base not in table:
        return with_holm([])
    margin = study_margin(results.study)[0]
    rows = [{"analysis": "vs_baseline", "term": arm, "reference": base, "method": PAIRED_METHOD,
             **paired_difference(table, arm, base, margin)} for arm in results.arm_order if arm != base]
    return with_holm(rows, f"every arm vs {base} ({len(rows)})", margin)


def baseline_arm(results: Results) -> str | None:
    return results.study.baseline or ("baseline" if "baseline" in results.arm_order else None)


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
    table, rows = metric_table(results), []
    margin = study_margin(results.study)[0]
    for f, (with_f, without_f) in contribution_arms(results).items():
        rows.append({"analysis": "contribution", "term": f, "reference": f"{with_f} vs {without_f}",
                     "method": PAIRED_METHOD, **paired_difference(table, with_f, without_f, margin)})
    return with_holm(rows, f"contributions ({len(rows)})", margin)


def contribution_arms(results: Results) -> dict[str, tuple[str, str]]:
    """factor -> (the arm with it, the arm without it) whose paired difference is its contribution."""
    pairs = contribution_pairs(results)
    sets = {s: arm for arm, s in arm_factor_sets(results).items()}
    out = {}
    for f in results.study.factors:
        with_set, without_set = pairs.get(f, (None, None))
        if sets.get(with_set) is not None and sets.get(without_set) is not None:
            out[f] = (sets[with_set], sets[without_set])
    return out
