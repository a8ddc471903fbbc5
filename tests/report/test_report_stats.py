"""Leaderboard numbers checked against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ablate.report import stats
from ablate.report.results import Results, StudyInfo


def _results(direction="maximize") -> Results:
    cells = pd.DataFrame(
        {
            "run_id": ["b0", "b1", "d0", "d1", "l0", "l1"],
            "cell_id": ["b0", "b1", "d0", "d1", "l0", "l1"],
            "arm": ["baseline", "baseline", "dropout", "dropout", "l2", "l2"],
            "seed": [0, 1, 0, 1, 0, 1],
            "phase": ["ablate"] * 6,
            "status": ["FINISHED", "FINISHED", "FINISHED", "FAILED", "FINISHED", "FINISHED"],
            "dropout": [False, False, True, True, False, False],
            "l2": [False, False, False, False, True, True],
            "test_acc": [0.80, 0.82, 0.90, np.nan, 0.70, 0.74],
            "gap_acc": [0.1, 0.2, 0.0, np.nan, 0.05, 0.05],
            "l2_norm": [3.0, 5.0, 2.0, np.nan, 1.0, 1.0],
            "stopped_epoch": [10, 10, 7, np.nan, np.nan, np.nan],
        }
    )
    history = pd.DataFrame(
        {
            "run_id": ["l0", "l1"],
            "arm": ["l2", "l2"],
            "seed": [0, 1],
            "epoch": [6, 8],
            "metric": ["train_loss"] * 2,
            "value": [0.1, 0.1],
        }
    )
    study = StudyInfo(
        name="s",
        run_id="p",
        arms=("baseline", "dropout", "l2"),
        factors=("dropout", "l2"),
        direction=direction,
    )
    return Results(study=study, cells=cells, history=history, weights={}, params={})


def test_leaderboard_hand_computed():
    board = stats.leaderboard(_results()).set_index("arm")
    assert list(board.index) == ["dropout", "baseline", "l2"]  # best first
    assert board.loc["baseline", "test_acc_mean"] == pytest.approx(0.81)
    assert board.loc["baseline", "test_acc_std"] == pytest.approx(np.std([0.80, 0.82], ddof=1))
    assert np.isnan(board.loc["dropout", "test_acc_std"])  # one finished seed: no spread to report
    assert (board.loc["dropout", "n_seeds"], board.loc["dropout", "n_failed"]) == (1, 1)
    assert board.loc["baseline", "l2_norm_final"] == pytest.approx(4.0)
    assert board.loc["baseline", "gap_acc_final"] == pytest.approx(0.15)
    assert board.loc["l2", "epochs_run"] == pytest.approx(7.0)  # from history when stopped_epoch is absent
    assert board.loc["dropout", "factors_on"] == "dropout" and board.loc["baseline", "factors_on"] == ""


def test_leaderboard_minimize_sorts_ascending():
    board = stats.leaderboard(_results("minimize"))
    assert list(board["arm"]) == ["l2", "baseline", "dropout"]
    assert list(board["rank"]) == [1, 2, 3]
