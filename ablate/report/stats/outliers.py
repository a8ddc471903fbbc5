"""Outlying finished cells: part of the answer, not noise to average away.

A FINISHED cell at chance accuracy (a run that silently diverged) in a 2^3 factorial reversed every
estimate's sign and left every verdict inconclusive, with no warning. So each finished cell is checked:
- its externally studentized residual from the factorial OLS fit with the seed block (stats/ols.py):
  e_i / (s_(i) sqrt(1 - h_ii)), s_(i) the residual spread without cell i; |t| > MAX_STUDENTIZED flags it
  (under normal errors about 1 cell in 10^4 by chance at 20+ residual df);
- whether it sits at chance for its metric (stats/learned.py), when the class count is known.
The page lists flagged cells, and the verdicts with and without them whenever a verdict changes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ablate.report.results import Results, computed_once
from ablate.report.stats.factorial import analyse
from ablate.report.stats.learned import at_chance, study_classes

MAX_STUDENTIZED = 4.0
COLUMNS = ["run_id", "arm", "seed", "value", "studentized", "at_chance", "why"]


def studentized_residuals(fit) -> np.ndarray:
    """Externally studentized residuals of an OLS fit (NaN where a cell has no residual to spare)."""
    x = fit.model.x.to_numpy(dtype=float)
    h = np.einsum("ij,jk,ik->i", x, fit.xtx_inv, x)
    e = fit.y - x @ fit.beta
    rss, df = float(e @ e), fit.df_resid
    with np.errstate(divide="ignore", invalid="ignore"):
        s2_i = (rss - e ** 2 / (1 - h)) / (df - 1)
        t = e / np.sqrt(s2_i * (1 - h))
    return np.where((1 - h > 1e-10) & (s2_i > 0) & (df > 1), t, np.nan)


@computed_once
def outlying_cells(results: Results) -> pd.DataFrame:
    """The finished cells flagged: |studentized residual| > MAX_STUDENTIZED, or at chance."""
    metric = results.study.metric
    cells = results.finished
    if cells.empty or metric not in cells:
        return pd.DataFrame(columns=COLUMNS)
    values = pd.to_numeric(cells[metric], errors="coerce")
    chance = at_chance(values.to_numpy(dtype=float), metric, study_classes(results))
    frame = pd.DataFrame({"run_id": cells["run_id"], "arm": cells["arm"], "seed": cells["seed"], "value": values,
                          "studentized": np.nan,
                          "at_chance": chance if chance is not None else False}, index=cells.index)
    analysis = analyse(results)
    if analysis is not None and analysis.fit is not None:
        frame.loc[analysis.cells.index, "studentized"] = studentized_residuals(analysis.fit)
    flagged = frame[(frame["studentized"].abs() > MAX_STUDENTIZED) | frame["at_chance"]].copy()
    flagged["why"] = [", ".join(w for w in (
        f"studentized residual {r.studentized:+.1f}" if abs(r.studentized) > MAX_STUDENTIZED else "",
        "at chance" if r.at_chance else "") if w) for r in flagged.itertuples()]
    return flagged[COLUMNS].reset_index(drop=True)


def without_cells(results: Results, run_ids) -> Results:
    """The same study with those cells left out (a fresh Results: its computed tables start empty)."""
    return dataclasses.replace(results, cells=results.cells[~results.cells["run_id"].isin(set(run_ids))])


def outlier_words(results: Results) -> list[str]:
    """One phrase per flagged cell: 'augment+dropout seed 2 (test_acc 0.1000: studentized residual -9.3,
    at chance)'."""
    metric = results.study.metric
    return [f"{r.arm} seed {r.seed} ({metric} {r.value:.4f}: {r.why})" for r in outlying_cells(results).itertuples()]
