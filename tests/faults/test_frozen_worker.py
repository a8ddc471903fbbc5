"""A worker frozen past the heartbeat limit (SIGSTOP), then resumed (SIGCONT), on PostgreSQL: its cell
was failed as stale and run by another worker meanwhile; the resumed worker drops that cell quietly and
ends normally, and every cell has one COMPLETE trial and one FINISHED run. A local worker frozen under
`ablate run --workers 2` is named while the run waits for it."""

from __future__ import annotations

import os
import signal
import time

import pytest
from faultkit import STUDY, finish, snapshot, start, wait_paused, write_study


@pytest.mark.parametrize("point", ["cell.claimed", "cell.fitted"])
def test_resumed_frozen_worker_drops_its_stale_cell_quietly(tmp_path, databases, point):  # noqa: F811
    """Frozen after its claim (its stamp is refused: Stale) and after training (its tell is refused). The
    refusals themselves, at every step and on every storage, are tests/scheduler/test_exactly_once.py's;
    here the worker's handling of them in real processes (quiet, MLflow run closed, exit 0)."""
    study = write_study(tmp_path, {**STUDY, "train": {**STUDY["train"], "epochs": 2}})
    stores = ["--storage", databases[0]]
    env = {"ABLATE_HEARTBEAT_SECONDS": "1"}
    frozen, flag = start(["run", study.name, "--quiet", "--no-report", *stores], tmp_path, pause=point,
                         hold=8, ABLATE_HOST_ID="machine-a", **env)
    pid = wait_paused(frozen, flag)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(6)  # past 3 heartbeats: its trial is stale
        rescuer, _ = start(["worker", study.name, *stores], tmp_path, ABLATE_HOST_ID="machine-b", **env)
        rc, out, err = finish(rescuer)
        assert rc == 0 and "worker ran 4 cell(s)" in out, out + err
    finally:
        os.kill(pid, signal.SIGCONT)
    rc, out, err = finish(frozen)
    assert rc == 0, err
    assert "Traceback" not in err and "Cannot tell" not in err, err
    assert "4/4 cells finished, 0 failed" in out, out
    snap = snapshot(tmp_path, storage=databases[0])
    assert set(snap.complete().values()) == {1} and len(snap.complete()) == 4
    assert {c: len(ids) for c, ids in snap.finished().items()} == {c: 1 for c in snap.complete()}
    assert not snap.by_status("RUNNING")


def test_a_locally_frozen_worker_is_named_while_the_run_waits_for_it(tmp_path):
    """Before: `ablate run --workers 2` waited for a SIGSTOP'd worker in silence. Now it says which worker
    and cell it waits for, once a heartbeat interval (30 s; 1 s here), and ends normally once resumed."""
    study = write_study(tmp_path, {**STUDY, "train": {**STUDY["train"], "epochs": 2}})
    proc, flag = start(["run", study.name, "--workers", "2", "--no-report"], tmp_path, pause="epoch", hold=6,
                       ABLATE_HEARTBEAT_SECONDS="1", ABLATE_TEST_PAUSE_IN="worker")
    pid = wait_paused(proc, flag)  # the worker process, in its first cell's first epoch
    assert pid != proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(4)
    finally:
        os.kill(pid, signal.SIGCONT)
    rc, out, err = finish(proc)
    assert rc == 0 and "4/4 cells finished, 0 failed" in out, out + err
    assert f"(pid {pid}, cell " in err and "it is stopped (SIGSTOP or a debugger)" in err, err
    assert f"kill -CONT {pid}" in err and "Traceback" not in err, err
    snap = snapshot(tmp_path)
    assert {c: len(ids) for c, ids in snap.finished().items()} == {c: 1 for c in snap.complete()}
    assert len(snap.complete()) == 4 and not snap.by_status("RUNNING")
