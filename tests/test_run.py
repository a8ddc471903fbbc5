"""End to end with real stores: Optuna journal + MLflow SQLite in a tmp dir, every cell exactly once, resume."""

from __future__ import annotations

import json
import os

import optuna
from mlflow.tracking import MlflowClient

from ablate import worker
from ablate.cli import main
from ablate.orchestrate import run_study
from ablate.records import Tag
from ablate.scheduler.storage import open_storage
from ablate.studyrun import StudyRun
from ablate.tracking import Tracker, resolve_uri
from ablate.validate import validate_study


def _children(client, exp_name):
    exp = client.get_experiment_by_name(exp_name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "parent"]
    cells = [r for r in runs if r.data.tags.get(Tag.ROLE) == "cell"]
    return parents, cells


def test_cli_run_records_every_cell_once_and_reruns_nothing(tiny_raw, write_study, workdir, capsys):
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    parents, cells = _children(client, "tiny")
    assert len(parents) == 1 and len(cells) == 8
    assert {r.info.status for r in cells} == {"FINISHED"}
    assert {r.info.run_name for r in cells} == {f"{a}/seed{s}" for a in ("baseline", "dropout", "l2", "dropout+l2")
                                                for s in (0, 1)}
    run = cells[0]
    tags = run.data.tags
    assert tags[Tag.PARENT_RUN_ID] == parents[0].info.run_id
    for key in (Tag.STUDY, Tag.HASH, Tag.ARM, Tag.SEED, Tag.PHASE, Tag.FACTOR + "dropout", Tag.FACTOR + "l2",
                Tag.TRIAL_NUMBER, Tag.GIT_COMMIT):
        assert key in tags
    assert run.data.params["reg.grad_clip.max_norm"] == "1.0" and run.data.params["model.width"] == "2"
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert [m.step for m in history] == [1, 2]
    for key in ("test_acc", "ece", "best_epoch", "stopped_epoch", "l2_norm", "overfit_ratio", "sparsity"):
        assert key in run.data.metrics
    assert "weights.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert json.loads(parents[0].data.tags[Tag.ARMS])[0] == "baseline"
    out = capsys.readouterr().out
    assert "8/8 cells finished" in out

    # run again: nothing is retrained, nothing duplicated
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    assert "0 run now" in capsys.readouterr().out
    parents, cells = _children(client, "tiny")
    assert len(parents) == 1 and len(cells) == 8
    trials = optuna.load_study(study_name="tiny", storage=open_storage("optuna.journal")).trials
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)


def test_interrupted_between_cells_resumes_only_the_missing(tiny_raw, workdir):
    study = validate_study(tiny_raw)
    tracker = Tracker("sqlite:///mlflow.db")
    run = StudyRun.join(study, "optuna.journal", tracker.uri, tracker.start_parent(study), create=True)
    run.schedule.enqueue(study)
    cells = {c.cell_id: c for c in study.cells()}
    for _ in range(3):  # a first session that stops after three cells
        claim = run.schedule.claim()
        worker.run_one(run, cells[claim.cell_id], claim)
    summary = run_study(study, quiet=True, report=False)
    assert summary.ran_now == 5 and summary.finished == 8 and not summary.failed
    _, runs = _children(tracker.client, "tiny")
    assert len(runs) == 8 and len({r.data.tags[Tag.CELL_ID] for r in runs}) == 8


def test_two_workers_run_every_cell_exactly_once(tiny_raw, workdir):
    """Two streams of cells: this process's own (it has torch and the stores ready first) and one worker
    process's. The caller's torch thread count is left as it was."""
    import torch

    threads = torch.get_num_threads()
    tiny_raw["train"]["epochs"] = 1
    summary = run_study(validate_study(tiny_raw), workers=2, quiet=True, report=False)
    assert summary.finished == 8 and summary.ran_now == 8
    _, runs = _children(MlflowClient(resolve_uri("sqlite:///mlflow.db")), "tiny")
    assert sorted(r.data.tags[Tag.CELL_ID] for r in runs) == sorted(c.cell_id for c in validate_study(tiny_raw).cells())
    pids = {r.data.tags[Tag.WORKER].rsplit(":", 1)[-1] for r in runs}
    assert str(os.getpid()) in pids and len(pids) <= 2, pids
    assert torch.get_num_threads() == threads


def _start_parent_at_once(raw: dict, uris: list[str], barrier, results) -> None:
    """In a fresh process: start the study's parent run on each store at the moment the other process does."""
    study = validate_study(raw)
    for uri in uris:
        tracker = Tracker(uri)
        tracker.client.get_experiment_by_name(study.name)  # the store opened before the race, not in it
        barrier.wait(timeout=120)
        try:
            results.put(tracker.start_parent(study))
        except Exception as e:
            results.put(f"{type(e).__name__}: {e}")


def test_two_processes_starting_one_study_at_once_share_its_parent_run(tiny_raw, tmp_path):
    """Two `ablate run` of one study in the same instant both find its parent run half set up (a kill cut
    its setup short) and log the same params to it, and the same tags to its experiment: MLflow's SQL store
    checks what exists, then inserts, and the slower insert failed on the unique key. Fresh interpreters, as
    two terminals are."""
    import multiprocessing as mp

    from ablate.tracking.writer import parent_record

    tiny_raw["description"] = "two at once"
    study = validate_study(tiny_raw)
    uris = [f"sqlite:///{tmp_path / f'mlflow{k}.db'}" for k in range(4)]
    for uri in uris:  # the store, its experiment without ablate's tags, a parent run created and no more
        tracker = Tracker(uri)
        tracker.client.create_run(tracker.experiment_id("tiny"), tags=parent_record(study).to_mlflow())
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_start_parent_at_once, args=(tiny_raw, uris, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=180) for _ in range(2 * len(uris))]
    for p in procs:
        p.join(timeout=60)
    assert all(len(g) == 32 and g.isalnum() for g in got), got
    for uri in uris:
        client = MlflowClient(uri)
        parents, _ = _children(client, "tiny")
        assert len(parents) == 1 and got.count(parents[0].info.run_id) == 2, (parents, got)
        assert parents[0].data.params["n_cells"] == "8" and parents[0].data.tags[Tag.READY] == "1"
        assert client.get_experiment_by_name("tiny").tags[Tag.NOTE] == "two at once"


def test_the_failure_policy_table_decides_each_kind_of_failure():
    from ablate.errors import CellFailed, StudyChanged

    diverged = worker.policy(CellFailed("diverged at epoch 3"))
    assert (diverged.status, diverged.retry, diverged.cell, diverged.tune) == ("FAILED", False, "go on", "go on")
    assert diverged.reason(CellFailed("diverged at epoch 3")) == "diverged at epoch 3"
    ctrl_c = worker.policy(KeyboardInterrupt())
    assert (ctrl_c.status, ctrl_c.retry, ctrl_c.interrupted, ctrl_c.cell) == ("KILLED", True, True, "stop")
    users = worker.policy(StudyChanged("the data is missing"))  # any AblateError: the user's to fix
    assert (users.status, users.retry, users.cell, users.tune) == ("FAILED", True, "stop", "stop")
    bug = worker.policy(RuntimeError("CUDA out of memory"))
    assert (bug.status, bug.retry, bug.interrupted, bug.cell, bug.tune) == ("FAILED", True, False, "go on", "stop")
    assert worker.policy(SystemExit(1)) is None  # not recorded: the dead worker's cell is retried
    assert (worker.LOST_RACE.status, worker.LOST_RACE.tell) == ("KILLED", False)
