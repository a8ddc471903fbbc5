"""The leaderboard: one row per arm, ranked by the study metric, with its t interval, how sure its rank
is (P(beats baseline), P(best): stats/ranking.py) and what each arm did to training."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results, computed_once
from ablate.report.stats.contrast import Estimate
from ablate.report.stats.paired import arm_factor_sets, arm_summary, compare_to_baseline
from ablate.report.stats.ranking import p_best


@computed_once
def epochs_run(results: Results) -> pd.Series:
    """Epochs each finished cell trained (early stopping makes this differ per cell), indexed by run_id."""
    finished = results.finished.set_index("run_id")
    logged = (
        finished["stopped_epoch"] if "stopped_epoch" in finished else pd.Series(np.nan, index=finished.index)
    )
    last = results.history.groupby("run_id")["epoch"].max()
    return logged.astype(float).fillna(last.reindex(finished.index).astype(float))


@computed_once
def leaderboard(results: Results) -> pd.DataFrame:
    """One row per arm: the metric's mean, std and 95% t CI, its paired difference to the baseline with
    P(it beats the baseline), P(it is the best arm), final gap, loss ratio, L2 norm and epochs run. Sorted
    best first; arms whose every cell failed stay listed."""
    metric, study = results.study.metric, results.study
    summary = arm_summary(results).set_index("arm")
    versus = compare_to_baseline(results).set_index("term")
    finished = results.finished.assign(epochs_run=lambda d: d["run_id"].map(epochs_run(results)))
    sets, rows = arm_factor_sets(results), []
    best = p_best(results)
    sign = 1.0 if study.direction == "maximize" else -1.0
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
                "p_beats_baseline": _p_beats(v, sign),
                "p_best": best.get(arm, np.nan),
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


def _p_beats(row: pd.Series | None, sign: float) -> float:
    """P(arm better than the baseline) under the paired t model of its comparison."""
    if row is None:
        return np.nan
    return Estimate(sign * float(row["estimate"]), float(row["se"]), float(row["df"])).p_positive()


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, or all-NaN when the store never logged that metric (older or failed runs)."""
    if name in frame:
        return pd.to_numeric(frame[name], errors="coerce")
    return pd.Series(np.nan, index=frame.index, dtype=float)
