"""Diverging cells, changed study files and dead workers on an RDB storage, with real stores in tmp_path."""

from __future__ import annotations

import os
import signal
import time

import optuna
import yaml
from faultkit import STUDY, finish, snapshot, start, wait_paused
from mlflow.tracking import MlflowClient

from ablate.cli import main
from ablate.orchestrate import run_study
from ablate.records import Tag, TrialAttr
from ablate.scheduler.storage import open_storage, open_study
from ablate.validate import load_study

DIVERGES = {  # SGD at lr 10 with an L2 penalty of 1: the weights flip and grow x9 per step, to inf in epoch 1
    **STUDY, "name": "diverge", "train": {"epochs": 1, "optimizer": "sgd", "lr": 10.0, "momentum": 0.0},
    "data": {"name": "digits", "val_fraction": 0.2, "batch_size": 64}, "factors": {"l2": {"lambda": 1.0}},
}


def _write(path, study):
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_diverging_cell_fails_with_its_epoch_and_the_others_go_on(workdir, capsys):
    path = _write(workdir / "diverge.yaml", DIVERGES)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 3
    captured = capsys.readouterr()
    out = captured.out
    assert "1/2 cells finished, 1 failed" in out and "failed l2/seed0: diverged at epoch 1" in out
    assert "1 cell(s) failed (l2/seed0)" in captured.err and "--retry-failed" in captured.err  # exit 3 says how
    snap = snapshot(workdir, "diverge")
    status = {r.data.tags[Tag.CELL_ID]: r.info.status for r in snap.runs}
    assert status == {"baseline/seed0": "FINISHED", "l2/seed0": "FAILED"}
    failed = snap.by_status("FAILED")[0]
    assert failed.data.tags[Tag.FAILURE] == "diverged at epoch 1"
    assert [m.step for m in MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_metric_history(failed.info.run_id,
                                                                                   "train_loss")] == []
    # a rerun does not retry a diverged cell (retrying cannot fix it) unless asked to
    assert main(["run", str(path), "--quiet", "--no-report"]) == 3
    assert "0 run now" in capsys.readouterr().out
    assert main(["run", str(path), "--quiet", "--no-report", "--retry-failed"]) == 3
    assert "1 run now" in capsys.readouterr().out
    assert len(snapshot(workdir, "diverge").by_status("FAILED")) == 2


def test_a_changed_study_runs_as_a_variant_and_fresh_restarts_only_that_variant(workdir, capsys):
    """An edited file is a variant (issue 26): its own parent run and Optuna study, named by what differs;
    the first study's results are never set aside or blocked, and --fresh restarts only the variant."""
    small = {**STUDY, "name": "changed", "factors": {"dropout": {"p": 0.3}}, "train": {"epochs": 1, "lr": 0.01}}
    path = _write(workdir / "changed.yaml", small)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    old_hash = load_study(path).study_hash
    _write(path, {**small, "train": {"epochs": 1, "lr": 0.02}, "description": "not defining"})
    new_hash = load_study(path).study_hash
    capsys.readouterr()
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "variant 'train.lr" in out and "2/2 cells finished" in out, out  # named by what differs
    assert "description" not in out  # not a defining field
    assert main(["worker", str(path), "--wait-seconds", "0"]) == 0  # a worker with the edited file joins it

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("changed")
    parents = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(Tag.ROLE) == "parent"]
    assert sorted(p.data.tags[Tag.HASH] for p in parents) == sorted([old_hash, new_hash])
    storage = open_storage("optuna.journal")
    assert len(optuna.load_study(study_name="changed", storage=storage).trials) == 2  # the first, intact
    assert len(optuna.load_study(study_name=f"changed@{new_hash[:12]}", storage=storage).trials) == 2

    assert main(["run", str(path), "--quiet", "--no-report", "--fresh"]) == 0  # this variant afresh
    assert "2/2 cells finished, 0 failed, 2 run now" in capsys.readouterr().out
    assert len(optuna.load_study(study_name="changed", storage=storage).trials) == 2  # still untouched


def test_dead_worker_on_another_machine_is_retried_by_heartbeat(tmp_path, monkeypatch):
    """A worker on "another machine" (its own host id: its pid cannot be checked) is killed mid-cell on an
    RDB storage; Optuna's heartbeat goes stale, and the live worker here fails the trial and runs the cell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABLATE_HEARTBEAT_SECONDS", "1")
    for var in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    path = _write(tmp_path / "study.yaml", STUDY)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    proc, flag = start(["run", path.name, "--quiet", "--no-report", "--storage", storage], tmp_path,
                       pause="epoch", ABLATE_HOST_ID="machine-b", ABLATE_HEARTBEAT_SECONDS="1")
    wait_paused(proc, flag)
    os.kill(proc.pid, signal.SIGKILL)
    finish(proc)
    t0 = time.monotonic()
    summary = run_study(load_study(path), storage=storage, report=False, quiet=True)
    assert summary.finished == 4 and summary.ran_now == 4 and not summary.failed
    assert time.monotonic() - t0 < 60
    snap = snapshot(tmp_path, storage=storage)
    assert set(snap.complete().values()) == {1} and len(snap.complete()) == 4
    stale = [t for t in snap.trials if t.state.name == "FAIL"]
    assert len(stale) == 1 and stale[0].user_attrs[TrialAttr.WORKER].startswith("machine-b:")
    retry = [t for t in snap.trials if t.user_attrs.get(TrialAttr.RETRY_OF) == stale[0].number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    killed = snap.by_status("KILLED")
    assert len(killed) == 1 and "no heartbeat" in killed[0].data.tags[Tag.FAILURE]
    assert not snap.by_status("RUNNING") and len(snap.by_status("FINISHED")) == 4


def test_lost_optuna_storage_adopts_finished_runs_from_mlflow(workdir, capsys):
    """MLflow is the record: with the journal deleted, finished cells are adopted, not trained again."""
    small = {**STUDY, "name": "lost_journal", "factors": {"dropout": {"p": 0.3}}, "train": {"epochs": 1}}
    path = _write(workdir / "lost.yaml", small)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    before = {r.data.tags[Tag.CELL_ID]: r.info.run_id for r in snapshot(workdir, "lost_journal").runs}
    assert len(before) == 2
    os.remove(workdir / "optuna.journal")
    capsys.readouterr()
    assert main(["run", str(path), "--no-report"]) == 0
    captured = capsys.readouterr()
    assert "adopted 2 finished cell(s) from MLflow" in captured.err
    assert "2/2 cells finished, 0 failed, 0 run now" in captured.out
    snap = snapshot(workdir, "lost_journal")
    assert {r.data.tags[Tag.CELL_ID]: r.info.run_id for r in snap.runs} == before  # no new run
    trials = open_study(load_study(path), open_storage("optuna.journal"), create=False).trials
    assert sorted((t.user_attrs[TrialAttr.CELL], t.state.name, t.user_attrs[TrialAttr.RUN_ID]) for t in trials) == \
        sorted((c, "COMPLETE", rid) for c, rid in before.items())
    for t in trials:  # the value is the cell's final metric as MLflow holds it
        assert t.value == {r.info.run_id: r for r in snap.runs}[t.user_attrs[TrialAttr.RUN_ID]].data.metrics["test_acc"]


def test_lost_mlflow_store_is_refused_then_fresh_starts_again(workdir, capsys):
    small = {**STUDY, "name": "lost_mlflow", "factors": {"dropout": {"p": 0.3}}, "train": {"epochs": 1}}
    path = _write(workdir / "lostm.yaml", small)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    # an empty store in its place (a new file: this process's MLflow keeps the old one open under its URI)
    lost = ["--tracking-uri", f"sqlite:///{workdir / 'elsewhere.db'}"]
    capsys.readouterr()
    assert main(["run", str(path), "--quiet", "--no-report", *lost]) == 2
    err = capsys.readouterr().err
    assert "holds 2 finished cell(s), but the MLflow store" in err and "--fresh" in err, err
    assert main(["run", str(path), "--quiet", "--no-report", "--fresh", *lost]) == 0
    assert "2/2 cells finished, 0 failed, 2 run now" in capsys.readouterr().out
    names = {s.study_name for s in optuna.get_all_study_summaries(open_storage("optuna.journal"))}
    assert "lost_mlflow" in names and any(n.startswith("lost_mlflow@") for n in names), names
