"""results.py reads a study back from a real MLflow store in the layout tracking.py writes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ablate.errors import AblateError
from ablate.records import ParentRecord, Tag
from ablate.report.results import StudyInfo, dedupe_cells, load_results


@pytest.fixture(scope="module")
def results(study_store):
    uri, _, _ = study_store
    return load_results("synthetic", uri)


def test_study_info_comes_from_parent_tags(results, study_store):
    _, spec, ids = study_store
    s = results.study
    assert s.run_id == ids["parent"]
    assert (s.name, s.metric, s.direction, s.design) == (
        "synthetic",
        "test_acc",
        "maximize",
        "full_factorial",
    )
    assert s.factors == spec.factors and s.seeds == spec.seeds
    assert s.arms[0] == "baseline" and set(s.arms) == {"baseline", "l2", "dropout", "l2+dropout"}
    assert s.git_commit == "0123456789abcdef" and s.versions["torch"] == "2.14.1"
    assert s.params["train.epochs"] == "5"


def test_one_row_per_cell_killed_attempt_dropped(results, study_store):
    _, spec, ids = study_store
    cells = results.cells
    assert len(cells) == 4 * len(spec.seeds)
    assert cells["cell_id"].is_unique
    l2_seed0 = cells[(cells["arm"] == "l2") & (cells["seed"] == 0)].iloc[0]
    assert l2_seed0["status"] == "FINISHED" and l2_seed0["run_id"] == ids["l2/seed0"]


def test_factor_columns_are_booleans_matching_arm(results):
    cells = results.cells
    assert cells["l2"].dtype == bool
    assert (cells["l2"] == cells["arm"].str.contains("l2")).all()
    assert (cells["dropout"] == cells["arm"].str.contains("dropout")).all()


def test_failed_cell_keeps_reason_and_is_not_finished(results):
    failed = results.failed
    assert list(zip(failed["arm"], failed["seed"], failed["status"], strict=True)) == [
        ("dropout", 2, "FAILED")
    ]
    assert failed.iloc[0]["failure"] == "diverged at epoch 2"
    assert len(results.finished) == 11


def test_final_metrics_and_history(results, study_store):
    _, spec, _ = study_store
    finished = results.finished
    assert finished["test_acc"].between(0.7, 0.9).all()
    h = results.history
    assert set(h.columns) == {"run_id", "arm", "seed", "epoch", "metric", "value"}
    losses = h[(h["metric"] == "train_loss") & h["run_id"].isin(finished["run_id"])]
    assert (
        losses.groupby("run_id")["epoch"]
        .apply(list)
        .map(lambda e: e == list(range(1, spec.epochs + 1)))
        .all()
    )
    assert "norm/conv1.weight" in set(h["metric"])
    assert "test_acc" not in set(h["metric"])  # final metrics are not curves


def test_weight_histograms_for_finished_cells(results):
    assert set(results.weights) == set(results.finished["run_id"])
    one = next(iter(results.weights.values()))
    assert len(one["edges"]) == len(one["counts"]) + 1 and "conv1.weight" in one["layers"]


def test_unknown_study_names_the_store_and_what_is_there(study_store):
    uri, _, _ = study_store
    with pytest.raises(AblateError, match=r"no study named 'nope'.*synthetic"):
        load_results("nope", uri)


def test_malformed_json_tags_degrade_to_empty():
    parent = ParentRecord.from_mlflow(
        "p", {Tag.STUDY: "s", Tag.ARMS: "[oops", Tag.SEEDS: json.dumps({"a": 1}), Tag.DESIGN_RECORD + "levels": "{"}
    )
    s = StudyInfo.of(parent)
    assert s.arms == () and s.seeds == () and s.metric == "test_acc"


def test_dedupe_prefers_finished_then_latest_attempt():
    t = pd.Timestamp("2026-01-01", tz="UTC")
    cells = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e"],
            "cell_id": ["x", "x", "y", "y", "t"],
            "status": ["FINISHED", "KILLED", "FAILED", "KILLED", "FINISHED"],
            "start_time": [t, t + pd.Timedelta(1, "s"), t, t + pd.Timedelta(1, "s"), t],
            "phase": ["ablate"] * 4 + ["tune"],
            "arm": ["a1", "a1", "a2", "a2", "a1"],
            "seed": [0, 0, 0, 0, 0],
        }
    )
    kept = dedupe_cells(cells)
    assert sorted(kept["run_id"]) == ["a", "d", "e"]
