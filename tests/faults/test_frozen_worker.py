"""A worker frozen past the heartbeat limit (SIGSTOP), then resumed (SIGCONT), on PostgreSQL: its cell
was failed as stale and run by another worker meanwhile; the resumed worker drops that cell quietly and
ends normally, and every cell has one COMPLETE trial and one FINISHED run."""

from __future__ import annotations

import os
import signal
import time

import pytest
from faultkit import STUDY, finish, snapshot, start, wait_paused, write_study
from test_many_machines import databases, pg_url  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.parametrize("point", ["cell.claimed", "cell.run_created", "epoch", "cell.fitted"])
def test_resumed_frozen_worker_drops_its_stale_cell_quietly(tmp_path, databases, point):  # noqa: F811
    """Frozen at each step of a cell: after its claim, after its MLflow run exists, mid-training, after
    training (before telling Optuna)."""
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
