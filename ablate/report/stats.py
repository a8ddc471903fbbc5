"""Numbers the report states about a study: pure functions over the tidy tables of `results.py`.

Nothing here draws or renders, so every number in the report can be tested against a hand computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results


def epochs_run(results: Results) -> pd.Series:
    """Epochs each finished cell trained (early stopping makes this differ per cell), indexed by run_id."""
    finished = results.finished.set_index("run_id")
    if "stopped_epoch" in finished:
        logged = finished["stopped_epoch"]
    else:
        logged = pd.Series(np.nan, index=finished.index)
    last = results.history.groupby("run_id")["epoch"].max()
    return logged.fillna(last.reindex(finished.index)).astype(float)


def leaderboard(results: Results) -> pd.DataFrame:
    """One row per arm: mean and std of the study metric over finished seeds, final gap, L2 norm, epochs.

    Sorted best first by the study's direction; arms whose every cell failed stay listed (n = 0) so a
    reader sees that they were tried.
    """
    metric, study = results.study.metric, results.study
    finished = results.finished.assign(epochs_run=lambda d: d["run_id"].map(epochs_run(results)))
    rows = []
    for arm in results.arm_order:
        cells = finished[finished["arm"] == arm]
        tried = results.ablation[results.ablation["arm"] == arm]
        values = _column(cells, metric)
        rows.append(
            {
                "arm": arm,
                "factors_on": "+".join(f for f in study.factors if bool(tried[f].any()))
                if len(tried)
                else "",
                "n_seeds": int(values.notna().sum()),
                "n_failed": int(len(tried) - len(cells)),
                f"{metric}_mean": values.mean(),
                f"{metric}_std": values.std(ddof=1) if values.notna().sum() > 1 else np.nan,
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
