"""StudyRun: the one handle the run path passes; a cell runs in-process through it, into real stores."""

from __future__ import annotations

import dataclasses

import pytest

from ablate import sequential, worker
from ablate.orchestrate import open_run
from ablate.parentrun import ParentRun
from ablate.studyrun import RunOptions, StudyRun
from ablate.tracking import MlflowParentRun
from ablate.validate import validate_study


def test_cells_run_in_process_through_the_handle(tiny_raw, workdir):
    tiny_raw.update(seeds=1)
    tiny_raw["train"]["epochs"] = 1
    study = validate_study(tiny_raw)
    run = open_run(study, None, None, RunOptions(quiet=True))  # what run_study builds, before any cell
    assert run.schedule.url == "optuna.journal" and run.parent.uri.startswith("sqlite:")
    assert run.cache is not None and run.study is study
    events = []
    plan = run.schedule.enqueue(study)
    assert plan.enqueued == 4
    ran = worker.run_cells(run.with_emit(lambda kind, **data: events.append((kind, data))), wait=False)
    assert ran == 4
    finished, failed = run.schedule.outcomes(study)
    assert finished == {c.cell_id for c in study.cells()} and not failed
    records = run.parent.cell_records(status="FINISHED")
    assert sorted(r.cell_id for r in records) == sorted(finished)
    assert all(r.parent_run_id == run.parent.run_id for r in records)
    assert [d["cell"] for k, d in events if k == "done" and d["status"] == "FINISHED"] == \
        [c.cell_id for c in study.cells()]
    assert run.schedule.settle(run.parent) == 0  # nothing left RUNNING


def test_a_joining_process_rebuilds_the_same_handle(tiny_raw, workdir):
    study = validate_study(tiny_raw)
    with pytest.raises(KeyError):  # a worker process joins the study `ablate run` created, never makes one
        StudyRun.join(study, "optuna.journal", "sqlite:///mlflow.db", "no-parent")
    run = open_run(study, None, None, RunOptions())
    joined = StudyRun.join(study, run.schedule.url, run.parent.uri, run.parent.run_id)
    assert joined.parent.run_id == run.parent.run_id and joined.schedule.url == run.schedule.url
    assert joined.schedule.ostudy.study_name == run.schedule.ostudy.study_name
    assert joined.cache is None and joined.options == RunOptions()
    assert sequential.recorded(joined) is joined  # fixed seeds: nothing to extend


def test_the_handle_is_frozen_and_changes_by_replacement(tiny_raw, workdir):
    study = validate_study(tiny_raw)
    run = open_run(study, None, None, RunOptions())
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.study = study  # type: ignore[misc]
    fewer = dataclasses.replace(study, seeds=(0,))
    moved = run.with_study(fewer)
    assert moved.study is fewer and run.study is study and moved.parent is run.parent


def test_mlflow_parent_run_implements_every_method_of_the_protocol():
    wanted = {n for n in vars(ParentRun) if not n.startswith("_")}
    assert wanted <= {n for n in dir(MlflowParentRun) if not n.startswith("_")}
    assert {f.name for f in dataclasses.fields(MlflowParentRun)} == {"tracker", "run_id"}
