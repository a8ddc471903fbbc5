"""The MLflow schema: records survive a real store unchanged, and the names users rely on stay put.

Records are written and read through a real SQLite MLflow store (to_mlflow -> MLflow -> from_mlflow, and
through tracking.read_study, the report's reader). The last test is the one place the tests spell the
public tag names: DESIGN.md and README promise them to users (MLflow UI filters, their own scripts).
"""

from __future__ import annotations

import dataclasses

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from ablate.records import CELL, PARENT, CellRecord, ParentRecord, Tag
from ablate.tracking import read_study
from ablate.tracking.store import create as create_store

DESIGN_RECORD = {
    "estimable": ["l2", "dropout", "l2:dropout"],
    "analyses": ["vs_baseline", "contribution"],
    "contributions": {"l2": [["l2", "dropout"], ["dropout"]], "dropout": [["l2", "dropout"], ["l2"]]},
    "levels": {"dropout": ["off", "0.25", "0.5"]},
    "aliases": {"resolution": 4, "runs": 8, "chains": [["l2:dropout", "-augment:l1"]]},
}
PARENT_RECORD = ParentRecord(
    study="recs", study_hash="f00dfeed", description="records round trip", design="loco", metric="val_loss",
    direction="minimize", arms=("l2+dropout", "dropout", "l2"), factors=("l2", "dropout"), seeds=(0, 3),
    model="cnn", dataset="digits", precision="bf16", git_commit="0123abcd", versions={"torch": "2.5.0"},
    machine="host x86_64 2 cores Linux", created="2026-01-01T00:00:00+00:00", design_record=DESIGN_RECORD,
)
FROZEN = {"train.lr": 0.003, "factors.l2.lambda": 1e-4}
TUNE_SUMMARY = {"importances": {"train.lr": 0.8, "factors.l2.lambda": 0.2}, "importance_method": "fanova",
                "optuna_study": "recs:tune"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One real store for the module (creating one costs seconds); each test writes its own experiment."""
    root = tmp_path_factory.mktemp("records")
    create_store(root / "mlflow.db")  # from the empty-store template, as ablate makes its stores
    return f"sqlite:///{root / 'mlflow.db'}", root


@pytest.fixture(scope="module")
def client(store):
    return MlflowClient(store[0])


@pytest.fixture
def experiment(client, store, request):
    return client.create_experiment(request.node.name, artifact_location=(store[1] / request.node.name).as_uri())


def _write_parent(client, experiment) -> str:
    run_id = client.create_run(experiment, tags=PARENT_RECORD.to_mlflow(), run_name="recs").info.run_id
    client.log_batch(run_id, params=[Param("train.epochs", "3")])
    tags = {**ParentRecord.ready_tags(), **ParentRecord.tune_tags(FROZEN, TUNE_SUMMARY)}
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return run_id


def _cell(parent_id: str, arm: str, seed: int, on: dict[str, bool]) -> CellRecord:
    return CellRecord(
        study="recs", arm=arm, seed=seed, cell_id=f"{arm}/seed{seed}", study_hash="f00dfeed", phase="ablate",
        trial_number=seed, factors=on, levels={"dropout": "0.25"} if on.get("dropout") else {"dropout": "off"},
        parent_run_id=parent_id, git_commit="0123abcd", worker="host:42", run_name=f"{arm}/seed{seed}",
    )


def _write_cell(client, experiment, record: CellRecord, status="FINISHED", failure="") -> str:
    run_id = client.create_run(experiment, tags=record.to_mlflow(), run_name=record.run_name).info.run_id
    tags = CellRecord.runtime_tags("cpu", "fp32", False, True, 2)
    if failure:
        tags.update(CellRecord.failure_tags(failure))
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()],
                     params=[Param("seed", str(record.seed)), Param("reg.l2.lambda", "0.001")],
                     metrics=[Metric("val_loss", 0.5 + 0.1 * e, 0, e) for e in (1, 2)]
                     + [Metric("test_acc", 0.9, 0, 2)])
    client.set_terminated(run_id, status=status)
    return run_id


def test_parent_record_round_trips_through_a_real_store(client, experiment):
    run_id = _write_parent(client, experiment)
    run = client.get_run(run_id)
    back = ParentRecord.from_mlflow(run_id, run.data.tags, run.data.params)
    written = dataclasses.replace(
        PARENT_RECORD, ready=True, tuned=FROZEN, tune_importances=TUNE_SUMMARY["importances"],
        tune_importance_method="fanova", tune_optuna_study="recs:tune",
    )
    assert dataclasses.replace(back, run_id="", params={}, tags={}) == written
    assert back.run_id == run_id and back.params == {"train.epochs": "3"}
    assert back.tags == run.data.tags  # every tag, as stored


def test_cell_record_round_trips_through_a_real_store(client, experiment):
    parent_id = _write_parent(client, experiment)
    record = _cell(parent_id, "l2+dropout", 3, {"l2": True, "dropout": True})
    run_id = _write_cell(client, experiment, record, status="FAILED", failure="diverged at epoch 2")
    run = client.get_run(run_id)
    back = CellRecord.from_mlflow(run_id, run.data.tags, run.data.params, run.data.metrics, status=run.info.status,
                                  run_name=run.info.run_name, start_time_ms=run.info.start_time,
                                  end_time_ms=run.info.end_time)
    read_back_only = dict(failure="", runtime={}, run_id="", status="", start_time_ms=None, end_time_ms=None,
                          metrics={}, params={})
    assert dataclasses.replace(back, **read_back_only) == record
    assert back.failure == "diverged at epoch 2" and back.status == "FAILED" and back.run_id == run_id
    assert back.runtime == {"device": "cpu", "precision": "fp32", "channels_last": "false", "compile": "true",
                            "torch_threads": "2"}
    assert back.metrics == {"val_loss": pytest.approx(0.7), "test_acc": pytest.approx(0.9)}  # last values
    assert back.params == {"seed": "3", "reg.l2.lambda": "0.001"}
    assert back.start_time_ms <= back.end_time_ms


def test_tune_trial_tags_round_trip(client, experiment):
    parent_id = _write_parent(client, experiment)
    record = dataclasses.replace(_cell(parent_id, "l2", 0, {"l2": True, "dropout": False}), phase="tune",
                                 cell_id="tune/trial003", run_name="tune/trial003", trial_number=None)
    run_id = _write_cell(client, experiment, record)
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in CellRecord.tune_tags("pruned", "epoch 1").items()])
    back = CellRecord.from_mlflow(run_id, client.get_run(run_id).data.tags)
    assert (back.phase, back.cell_id, back.trial_number) == ("tune", "tune/trial003", None)
    assert (back.tune_state, back.pruned) == ("pruned", "epoch 1")


def test_read_study_returns_the_records_written(client, experiment, store, request):
    parent_id = _write_parent(client, experiment)
    cells = {
        _write_cell(client, experiment, _cell(parent_id, arm, seed, on)): (arm, seed)
        for arm, on in [("l2+dropout", {"l2": True, "dropout": True}), ("dropout", {"l2": False, "dropout": True})]
        for seed in (0, 3)
    }
    records = read_study(request.node.name, store[0])
    assert records.parent.run_id == parent_id and records.parent.design_record == DESIGN_RECORD
    assert records.parent.tuned == FROZEN
    assert {c.run_id: (c.arm, c.seed) for c in records.cells} == cells
    assert all(c.parent_run_id == parent_id and c.status == "FINISHED" for c in records.cells)
    # curves only (test_acc is a final metric: one point, already on the record)
    assert {run_id: sorted(h) for run_id, h in records.histories.items()} == {r: ["val_loss"] for r in cells}
    assert records.histories[next(iter(cells))]["val_loss"] == [(1, pytest.approx(0.6)), (2, pytest.approx(0.7))]


def test_histories_read_in_bulk_match_mlflows_own_per_run_reads(client, experiment, store, request, monkeypatch):
    """The report reads a SQL store's curves in one query per 100 runs (tracking/store.metric_points): for
    more than 100 runs, with a NaN, a step logged twice and points logged out of step order, it must return
    what MLflow's get_metric_history returns run by run (the path a tracking server takes)."""
    import math

    from ablate.tracking import store as store_module

    parent_id = _write_parent(client, experiment)
    runs = []
    for seed in range(103):
        run_id = _write_cell(client, experiment, _cell(parent_id, "dropout", seed, {"l2": False, "dropout": True}))
        client.log_batch(run_id, metrics=[Metric("train_loss", v, t, step) for t, (step, v) in
                                          enumerate([(3, 0.3), (1, float("nan")), (2, 0.2), (2, 0.25 + seed)])])
        runs.append(run_id)
    bulk = read_study(request.node.name, store[0]).histories
    monkeypatch.setattr(store_module, "metric_points", lambda client, run_ids: None)  # the per-run path
    per_run = read_study(request.node.name, store[0]).histories
    assert set(bulk) == set(per_run) == set(runs)

    def same(a, b):
        return len(a) == len(b) and all(s1 == s2 and (v1 == v2 or math.isnan(v1) and math.isnan(v2))
                                        for (s1, v1), (s2, v2) in zip(a, b, strict=True))

    assert all(bulk[r].keys() == per_run[r].keys() and all(same(bulk[r][k], per_run[r][k]) for k in bulk[r])
               for r in runs)
    curve = bulk[runs[5]]["train_loss"]
    assert [s for s, _ in curve] == [3, 1, 2, 2] and math.isnan(curve[1][1]) and curve[3][1] == 5.25


def test_malformed_or_missing_tags_degrade_to_empty():
    back = ParentRecord.from_mlflow("r", {Tag.ARMS: "[not json", Tag.SEEDS: '["x", 2]', Tag.DESIGN_RECORD + "a": "{"})
    assert (back.arms, back.seeds, back.design_record, back.tuned) == ((), (2,), {}, None)
    cell = CellRecord.from_mlflow("r", {Tag.SEED: "not a number"})
    assert (cell.seed, cell.cell_id, cell.phase, cell.factors) == (None, "r", "ablate", {})


def test_public_tag_names_are_the_documented_ones():
    """DESIGN.md (Data flow, step 6) and README name these; renaming one silently breaks users' filters."""
    parent = PARENT_RECORD.to_mlflow()
    assert {k: parent[k] for k in ("ablate.role", "ablate.study", "ablate.study_hash", "ablate.design")} == {
        "ablate.role": "parent", "ablate.study": "recs", "ablate.study_hash": "f00dfeed", "ablate.design": "loco"}
    assert "ablate.design.analyses" in parent and "ablate.design.contributions" in parent
    assert ParentRecord.tune_tags(FROZEN, TUNE_SUMMARY)["ablate.tuned"]
    assert ParentRecord.tuned_params({"train.lr": 0.01}) == {"tuned.train.lr": 0.01}
    assert ParentRecord.setup_params({"model.width": 8, "reg.l2.lambda": 1.0, "seed": 0}, 4, 12) == {
        "model.width": 8, "n_arms": 4, "n_cells": 12}
    cell = _cell("p1", "dropout", 3, {"l2": False, "dropout": True}).to_mlflow()
    assert {k: cell[k] for k in ("ablate.role", "ablate.study", "ablate.study_hash", "ablate.arm", "ablate.seed",
                                 "ablate.phase", "ablate.factors.dropout", "ablate.factors.l2",
                                 "ablate.levels.dropout", "optuna.trial_number", "git.commit",
                                 "mlflow.parentRunId")} == {
        "ablate.role": "cell", "ablate.study": "recs", "ablate.study_hash": "f00dfeed", "ablate.arm": "dropout",
        "ablate.seed": "3", "ablate.phase": "ablate", "ablate.factors.dropout": "on", "ablate.factors.l2": "off",
        "ablate.levels.dropout": "0.25", "optuna.trial_number": "3", "git.commit": "0123abcd",
        "mlflow.parentRunId": "p1"}
    assert set(CellRecord.runtime_tags("cpu", "fp32", False, False, 1)) == {
        "ablate.device", "ablate.precision", "ablate.channels_last", "ablate.compile", "ablate.torch_threads"}
    assert set(CellRecord.failure_tags("x")) == {"ablate.failure"}
    assert (PARENT, CELL) == ("parent", "cell")
