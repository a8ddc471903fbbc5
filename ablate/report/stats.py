"""Numbers the report states about a study: pure functions over the tidy tables of `results.py`.

Nothing here draws or renders, so every number in the report can be tested against a hand computation.
Seeds are paired (seed k shares init, data order and augmentation across arms), so comparisons between
two arms use per-seed differences: the seed-to-seed spread cancels and few seeds go further.

Interval choices: per-arm means get a bootstrap interval (BCa where defined, else percentile), as
practitioners expect; paired differences get a Student t interval, whose coverage holds at the 2-5 seeds
a study can afford, where a bootstrap over 3 values is far too narrow. The paired test is an exact
sign-flip permutation test (no normality assumption); its smallest possible p-value is 2/2^n, so with
fewer than 5 seeds the report says that the test has little power. Holm's correction covers all arms
compared with the baseline.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.report.results import Results

ALPHA = 0.05
CONFIDENCE = 0.95
MIN_SEEDS_FOR_POWER = 5
EXACT_PERMUTATION_MAX_N = 16  # 2^16 sign patterns; beyond, a seeded Monte Carlo permutation test


def bootstrap_ci(values, confidence: float = CONFIDENCE, n_resamples: int = 4999) -> tuple[float, float, str]:
    """Bootstrap CI of the mean: BCa when it is defined, percentile otherwise; seeded so reports repeat."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return np.nan, np.nan, "none (fewer than 2 values)"
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0]), "none (identical values)"
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = sps.bootstrap(
                (x,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                rng=np.random.default_rng(0),
            ).confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            return float(ci.low), float(ci.high), f"bootstrap {method}"
    return np.nan, np.nan, "none (bootstrap undefined)"


def t_ci(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student t interval of the mean (the paired-difference interval)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return np.nan, np.nan
    half = sps.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def sign_flip_pvalue(diffs) -> float:
    """Two-sided paired permutation test of mean difference 0: exact over all sign flips for small n."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return np.nan
    if d.size == 1 or not np.any(d):
        return 1.0  # both sign patterns of one value are as extreme: the exact p-value is 1
    exact = d.size <= EXACT_PERMUTATION_MAX_N
    result = sps.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf if exact else 20000,
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN (no test possible) stays NaN and does not count."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, (len(order) - rank) * p[idx])
        out[idx] = min(1.0, running)
    return out


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


# one row per comparison, in every effects table (paired vs baseline, contributions, factorial terms)
EFFECT_COLUMNS = ["analysis", "term", "reference", "n", "estimate", "ci_low", "ci_high", "p_value", "p_holm",
                  "significant", "low_power", "method"]


def _with_holm(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[c for c in EFFECT_COLUMNS if c not in {"p_holm", "significant"}])
    frame["p_holm"] = holm(frame["p_value"].to_numpy()) if len(frame) else []
    frame["significant"] = frame["p_holm"] < ALPHA
    return frame[EFFECT_COLUMNS]


PAIRED_METHOD = "paired by seed; t CI; exact sign-flip permutation test; Holm"


def compare_to_baseline(results: Results) -> pd.DataFrame:
    """Every arm against the baseline arm, paired by seed, Holm-corrected across all arms compared."""
    base = results.study.baseline or ("baseline" if "baseline" in results.arm_order else None)
    table = metric_table(results)
    if base is None or table.empty or base not in table:
        return _with_holm([])
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
    return _with_holm(rows)


def contributions(results: Results) -> pd.DataFrame:
    """Each factor's contribution in loco (all on minus all-but-f) and add_one (f alone minus baseline).

    Arms are found by the factor sets their cells carry, so arm naming is free. A positive estimate means
    the metric is higher with the factor.
    """
    design, factors = results.study.design, results.study.factors
    sets = {s: arm for arm, s in arm_factor_sets(results).items()}
    table, rows = metric_table(results), []
    for f in factors:
        if design == "loco":
            with_f, without_f = sets.get(frozenset(factors)), sets.get(frozenset(factors) - {f})
        elif design == "add_one":
            with_f, without_f = sets.get(frozenset({f})), sets.get(frozenset())
        else:
            return _with_holm([])
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
    return _with_holm(rows)


def epochs_run(results: Results) -> pd.Series:
    """Epochs each finished cell trained (early stopping makes this differ per cell), indexed by run_id."""
    finished = results.finished.set_index("run_id")
    logged = (
        finished["stopped_epoch"] if "stopped_epoch" in finished else pd.Series(np.nan, index=finished.index)
    )
    last = results.history.groupby("run_id")["epoch"].max()
    return logged.fillna(last.reindex(finished.index)).astype(float)


def leaderboard(results: Results) -> pd.DataFrame:
    """One row per arm: the metric's mean, std and CI, its paired difference to the baseline, final gap,
    loss ratio, L2 norm and epochs run. Sorted best first; arms whose every cell failed stay listed."""
    metric, study = results.study.metric, results.study
    summary = arm_summary(results).set_index("arm")
    versus = compare_to_baseline(results).set_index("term")
    finished = results.finished.assign(epochs_run=lambda d: d["run_id"].map(epochs_run(results)))
    sets, rows = arm_factor_sets(results), []
    for arm in results.arm_order:
        cells = finished[finished["arm"] == arm]
        tried = results.ablation[results.ablation["arm"] == arm]
        s = summary.loc[arm]
        v = versus.loc[arm] if arm in versus.index else None
        rows.append(
            {
                "arm": arm,
                "factors_on": "+".join(f for f in study.factors if f in sets.get(arm, ())),
                "n_seeds": int(s["n"]),
                "n_failed": int(len(tried) - len(cells)),
                f"{metric}_mean": s["mean"],
                f"{metric}_std": s["std"],
                f"{metric}_ci_low": s["ci_low"],
                f"{metric}_ci_high": s["ci_high"],
                "diff_vs_baseline": v["estimate"] if v is not None else np.nan,
                "diff_ci_low": v["ci_low"] if v is not None else np.nan,
                "diff_ci_high": v["ci_high"] if v is not None else np.nan,
                "p_holm": v["p_holm"] if v is not None else np.nan,
                "gap_acc_final": _column(cells, "gap_acc").mean(),
                "overfit_ratio_final": _column(cells, "overfit_ratio").mean(),
                "l2_norm_final": _column(cells, "l2_norm").mean(),
                "epochs_run": _column(cells, "epochs_run").mean(),
            }
        )
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    ascending = study.direction == "minimize"
    board = board.sort_values(f"{metric}_mean", ascending=ascending, na_position="last", kind="stable")
    board.insert(0, "rank", range(1, len(board) + 1))
    return board.reset_index(drop=True)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, or all-NaN when the store never logged that metric (older or failed runs)."""
    if name in frame:
        return pd.to_numeric(frame[name], errors="coerce")
    return pd.Series(np.nan, index=frame.index, dtype=float)
