"""Statistics against hand-computed values and simulated studies with known answers."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from simulate import results_from_cells, simulate
from statsmodels.stats.multitest import multipletests

from ablate.report.results import Results, StudyInfo
from ablate.report.stats import factorial, intervals, leaderboard, paired, pvalues


def test_holm_hand_computed_and_matches_statsmodels():
    p = [0.01, 0.04, 0.03, np.nan]
    adjusted = pvalues.holm(p)
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])
    assert adjusted[:3] == pytest.approx(multipletests(p[:3], method="holm")[1])


def test_t_ci_hand_computed():
    low, high = intervals.t_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, df=2) * sd 1 / sqrt(3)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert np.isnan(intervals.t_ci([1.0])[0])


def test_sign_flip_pvalue_is_exact():
    assert pvalues.sign_flip_pvalue([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    d = np.array([1.0, -1.0, 2.0, 2.0])
    flips = [abs(np.mean(d * np.array(s))) for s in itertools.product([1, -1], repeat=4)]
    expected = np.mean([f >= abs(d.mean()) - 1e-12 for f in flips])
    assert pvalues.sign_flip_pvalue(d) == pytest.approx(expected)
    assert pvalues.sign_flip_pvalue([0.0, 0.0]) == 1.0


def test_bootstrap_ci_is_bca_and_sane():
    x = np.random.default_rng(1).normal(10, 2, 40)
    low, high, method = intervals.bootstrap_ci(x)
    t_low, t_high = intervals.t_ci(x)
    assert method == "bootstrap BCa" and low < x.mean() < high
    assert low == pytest.approx(t_low, abs=0.3) and high == pytest.approx(t_high, abs=0.3)
    assert intervals.bootstrap_ci([5.0, 5.0, 5.0])[:2] == (5.0, 5.0)
    assert np.isnan(intervals.bootstrap_ci([1.0])[0])


def _two_arm_results() -> Results:
    cells = pd.DataFrame(
        {
            "arm": ["baseline"] * 3 + ["l2"] * 3,
            "seed": [0, 1, 2] * 2,
            "l2": [False] * 3 + [True] * 3,
            "test_acc": [0.80, 0.70, 0.90, 0.83, 0.71, 0.95],
        }
    )
    return results_from_cells(cells, ["l2"], design="explicit")


def test_paired_difference_vs_baseline_hand_computed():
    row = paired.compare_to_baseline(_two_arm_results()).iloc[0]
    d = np.array([0.03, 0.01, 0.05])
    assert row["term"] == "l2" and row["n"] == 3
    assert row["estimate"] == pytest.approx(d.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(intervals.t_ci(d))
    # the p-value is the interval's own test (the paired t), no longer the sign-flip test (whose p could
    # never go below 2/2^3 = 0.25 here): scipy's ttest_rel on the same pairs
    expected = sps.ttest_rel([0.83, 0.71, 0.95], [0.80, 0.70, 0.90]).pvalue
    assert row["p_value"] == pytest.approx(expected) and row["p_holm"] == pytest.approx(expected)
    assert bool(row["low_power"]) and not bool(row["significant"])


def test_arm_summary_uses_finished_cells_only():
    res = _two_arm_results()
    res.cells.loc[res.cells.index[-1], "status"] = "FAILED"
    summary = paired.arm_summary(res).set_index("arm")
    assert summary.loc["l2", "n"] == 2 and summary.loc["l2", "mean"] == pytest.approx(0.77)


def test_factorial_effects_known_answer():
    # y = 0.8 + 0.02 a + 0.01 b + 0.004 ab (+ seed offset); with +-1/2 coding the main effect of a is
    # averaged over b: 0.02 + 0.004/2 = 0.022; of b: 0.012; the interaction coefficient: 0.004.
    rows = []
    for s, offset, eps in [(0, 0.0, 1e-4), (1, 0.01, -1e-4), (2, -0.01, 0.0)]:
        for a, b in itertools.product([False, True], repeat=2):
            y = 0.8 + offset + 0.02 * a + 0.01 * b + 0.004 * (a and b) + eps * (a ^ b)
            rows.append(
                {
                    "arm": "+".join(n for n, v in [("a", a), ("b", b)] if v) or "baseline",
                    "seed": s,
                    "a": a,
                    "b": b,
                    "test_acc": y,
                }
            )
    effects = factorial.factorial_effects(results_from_cells(pd.DataFrame(rows), ["a", "b"])).set_index(
        "term"
    )
    assert effects.loc["a", "estimate"] == pytest.approx(0.022, abs=1e-6)
    assert effects.loc["b", "estimate"] == pytest.approx(0.012, abs=1e-6)
    assert effects.loc["a:b", "estimate"] == pytest.approx(0.004, abs=1e-6)
    assert set(effects["analysis"]) == {"main_effect", "interaction"}


def test_factorial_skipped_for_other_designs():
    assert factorial.factorial_effects(_two_arm_results()).empty


@pytest.mark.parametrize("design", ["loco", "add_one"])
def test_contributions_known_answer(design):
    res = simulate({"l2": 0.02, "dropout": -0.01, "augment": 0.0}, seeds=4, noise=0.0, design=design)
    got = paired.contributions(res).set_index("term")["estimate"]
    assert got.to_dict() == pytest.approx({"l2": 0.02, "dropout": -0.01, "augment": 0.0}, abs=1e-9)


def test_analyses_follow_the_design_record_not_the_design_name():
    """A design is known by what its record says its cells support, so a new design needs no report edit."""
    res = simulate({"l2": 0.02, "dropout": -0.01}, seeds=3, noise=0.0, design="loco")
    record = res.study.design_record
    renamed = dataclasses.replace(res, study=dataclasses.replace(res.study, design="my_own_design"))
    assert paired.contributions(renamed).set_index("term")["estimate"].to_dict() == pytest.approx(
        {"l2": 0.02, "dropout": -0.01}, abs=1e-9)
    silent = dataclasses.replace(res, study=dataclasses.replace(res.study, design_record={}))
    assert paired.contributions(silent).empty and factorial.factorial_effects(silent).empty
    factorial_record = {**record, "analyses": ["vs_baseline", "factorial"]}
    full = simulate({"l2": 0.02, "dropout": -0.01}, seeds=3, noise=0.0)
    renamed = dataclasses.replace(full, study=dataclasses.replace(full.study, design="my_own_design",
                                                                   design_record=factorial_record))
    assert set(factorial.factorial_effects(renamed)["term"]) == {"l2", "dropout", "l2:dropout"}
    assert paired.contributions(renamed).empty


def test_planted_effect_recovered_and_null_covered_in_simulated_studies():
    """100 studies: +2 points from `l2`, nothing from `dropout` and `augment`, 3 paired seeds."""
    rng = np.random.default_rng(2024)
    planted_in_ci = null_covers_zero = planted_significant = 0
    for _ in range(100):
        effects = factorial.factorial_effects(simulate({"l2": 0.02, "dropout": 0.0, "augment": 0.0}, rng=rng))
        e = effects.set_index("term")
        planted_in_ci += e.loc["l2", "ci_low"] <= 0.02 <= e.loc["l2", "ci_high"]
        planted_significant += bool(e.loc["l2", "significant"])
        null_covers_zero += e.loc["dropout", "ci_low"] <= 0 <= e.loc["dropout", "ci_high"]
    assert planted_in_ci >= 90 and null_covers_zero >= 90
    assert planted_significant >= 90


def test_paired_ci_coverage_for_a_null_arm_in_simulated_studies():
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(100):
        res = simulate({"l2": 0.0}, seeds=3, rng=rng, design="add_one")
        row = paired.compare_to_baseline(res).iloc[0]
        covered += row["ci_low"] <= 0 <= row["ci_high"]
    assert covered >= 90


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
        study="s",
        run_id="p",
        arms=("baseline", "dropout", "l2"),
        factors=("dropout", "l2"),
        direction=direction,
    )
    return Results(study=study, cells=cells, history=history, weights={}, params={})


def test_leaderboard_hand_computed():
    board = leaderboard.leaderboard(_results()).set_index("arm")
    assert list(board.index) == ["dropout", "baseline", "l2"]  # best first
    assert board.loc["baseline", "test_acc_mean"] == pytest.approx(0.81)
    assert board.loc["baseline", "test_acc_std"] == pytest.approx(np.std([0.80, 0.82], ddof=1))
    assert np.isnan(board.loc["dropout", "test_acc_std"])  # one finished seed: no spread to report
    assert (board.loc["dropout", "n_seeds"], board.loc["dropout", "n_failed"]) == (1, 1)
    assert board.loc["baseline", "l2_norm_final"] == pytest.approx(4.0)
    assert board.loc["baseline", "gap_acc_final"] == pytest.approx(0.15)
    assert board.loc["l2", "epochs_run"] == pytest.approx(7.0)  # from history when stopped_epoch is absent
    assert board.loc["l2", "diff_vs_baseline"] == pytest.approx(-0.09)
    assert board.loc["dropout", "factors_on"] == "dropout" and board.loc["baseline", "factors_on"] == ""


def test_leaderboard_minimize_sorts_ascending():
    board = leaderboard.leaderboard(_results("minimize"))
    assert list(board["arm"]) == ["l2", "baseline", "dropout"]
    assert list(board["rank"]) == [1, 2, 3]
