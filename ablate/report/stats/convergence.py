"""Whether the cells behind a verdict were still improving when training stopped.

A 3-epoch study can call "dropout hurts" with confidence when dropout only learns slower: the verdict is
about the budget, not the regularizer. A cell is still improving when its best epoch (best val_acc, or
val_loss for a loss metric) is within the last RECENT_EPOCHS epochs (or the last 10% of them) and it was
not early-stopped (it ran every planned epoch). A verdict is flagged when at least half of its cells were.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results

RECENT_EPOCHS = 2
RECENT_SHARE = 0.10


def _tracked(metric: str) -> tuple[str, bool]:
    """The validation curve that tells improvement for this metric, and whether higher is better."""
    return ("val_loss", False) if metric.endswith("loss") else ("val_acc", True)


def still_improving(results: Results) -> pd.Series:
    """run_id -> True when the cell was still improving at its last epoch (only cells with a curve)."""
    planned = results.study.planned_epochs
    key, higher = _tracked(results.study.metric)
    curves = results.history[results.history["metric"] == key]
    if curves.empty:
        return pd.Series(dtype=bool)
    out = {}
    for run_id, curve in curves.groupby("run_id"):
        curve = curve.sort_values("epoch")
        values = curve["value"].to_numpy(dtype=float)
        if not np.isfinite(values).any():
            continue
        best = int(curve["epoch"].iloc[int(np.nanargmax(values) if higher else np.nanargmin(values))])
        last = int(curve["epoch"].max())
        window = max(RECENT_EPOCHS, int(np.ceil(RECENT_SHARE * (planned or last))))
        ran_all = planned is None or last >= planned
        out[run_id] = bool(ran_all and best > last - window)
    return pd.Series(out, dtype=bool)


def undertrained_note(results: Results, arms: list[str], flags: pd.Series | None = None) -> str:
    """'undertrained: N of M cells were still improving ...' when at least half of `arms`' finished cells
    were; empty otherwise (or when no curves were logged)."""
    flags = still_improving(results) if flags is None else flags
    cells = results.finished
    run_ids = cells.loc[cells["arm"].isin(arms), "run_id"]
    known = flags.reindex(run_ids).dropna()
    if known.empty:
        return ""
    n, m = int(known.sum()), len(known)
    if 2 * n < m:
        return ""
    return f"undertrained: {n} of {m} cells were still improving at their last epoch"
