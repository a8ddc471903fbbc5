"""`ablate status`: where a study stands, read from real stores while it is half done."""

from __future__ import annotations

import socket

from ablate import worker
from ablate.cli import main
from ablate.status import format_status, study_status
from ablate.studyrun import StudyRun
from ablate.tracking import Tracker
from ablate.validate import validate_study


def _half_done(tiny_raw, write_study):
    """2 cells finished, 1 failed (for good), 1 running here (claimed, stamped), 4 waiting."""
    tiny_raw["train"]["epochs"] = 1
    path = write_study(tiny_raw)
    study = validate_study(tiny_raw, source=str(path))
    tracker = Tracker("sqlite:///mlflow.db")
    run = StudyRun.join(study, "optuna.journal", tracker.uri, tracker.start_parent(study), create=True)
    run.schedule.enqueue(study)
    by_id = {c.cell_id: c for c in study.cells()}
    for _ in range(2):
        claim = run.schedule.claim()
        worker.run_one(run, by_id[claim.cell_id], claim)
    failed = run.schedule.claim()
    failed.stamp(study)
    failed.fail("diverged at epoch 1", retry=False)
    running = run.schedule.claim()
    running.stamp(study)
    return path, study, run.parent.run_id, failed.cell_id, running.cell_id


def test_status_counts_every_cell_from_the_stores(tiny_raw, write_study, workdir, capsys):
    path, study, parent, failed, running = _half_done(tiny_raw, write_study)
    s = study_status(str(path))
    assert s.counts == {"done": 2, "failed": 1, "running": 1, "waiting": 4}
    assert s.parent_run_id == parent and s.study_hash == study.study_hash and s.updated is not None
    host = socket.gethostname()
    hosts = s.by_host()
    assert sum(hosts[h]["done"] for h in hosts) == 2 and any(h.startswith(host.split(".")[0]) for h in hosts)
    text = format_status(s)
    assert text.startswith("study 'tiny': 8 cells: 2 done, 1 running, 1 failed, 4 waiting")
    assert f"parent run {parent} (RUNNING" in text
    assert f"  {failed}: diverged at epoch 1" in text
    assert f"  {running} on " in text and "by worker host:" in text

    assert main(["status", "tiny"]) == 0  # a name alone: the cells come from the MLflow parent run
    assert capsys.readouterr().out.startswith("study 'tiny': 8 cells: 2 done, 1 running, 1 failed, 4 waiting")


def test_status_of_a_changed_file_says_so(tiny_raw, write_study, workdir):
    path, *_ = _half_done(tiny_raw, write_study)
    s = study_status(str(path), ("train.epochs=3",))  # a variant that has not run: its own cells, all waiting
    assert any("no variant of 'tiny' with this study's hash" in n and "starts it as a variant" in n for n in s.notes)
    assert {c.state for c in s.cells} == {"waiting"} and not s.parent_run_id


def test_status_of_an_unknown_study_exits_2(workdir, capsys):
    assert main(["status", "nothing_here"]) == 2
    assert "no study named 'nothing_here'" in capsys.readouterr().err


def test_status_before_any_cell_is_enqueued(tiny_raw, write_study, workdir):
    path = write_study(tiny_raw)
    Tracker("sqlite:///mlflow.db").start_parent(validate_study(tiny_raw))
    s = study_status(str(path))
    assert s.counts == {"waiting": 8}
    assert any("has no study 'tiny'" in n for n in s.notes)


def test_writer_status_and_report_take_the_same_parent_the_oldest(tiny_raw, workdir):
    """A kill between creating a parent and deleting it as the younger of two (writer.start_parent) leaves a
    second parent run, never set up and with no cells: the writer, `ablate status` and the report all take
    the oldest (tracking.client.parent_run), the one the cells hang under."""
    from ablate.records import Tag
    from ablate.tracking.reader import find_parent, read_study
    from ablate.tracking.writer import parent_record

    study = validate_study(tiny_raw)
    tracker = Tracker("sqlite:///mlflow.db")
    parent = tracker.start_parent(study)
    started = tracker.client.get_run(parent).info.start_time
    leftover = tracker.client.create_run(tracker.experiment_id("tiny"), start_time=started + 1000,
                                         tags=parent_record(study).to_mlflow()).info.run_id
    assert tracker.client.get_run(leftover).data.tags[Tag.STUDY] == "tiny"
    assert tracker.find_parent(study) == parent
    assert find_parent("tiny", tracker.uri)[0].run_id == parent
    assert read_study("tiny", tracker.uri).parent.run_id == parent
