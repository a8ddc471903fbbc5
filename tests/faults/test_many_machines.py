"""Many machines on real engines: one Optuna study in PostgreSQL, one `mlflow server` (PostgreSQL backend
store), a coordinator (`ablate run --workers 0`) and three `ablate worker`s, each posing as its own machine
(ABLATE_HOST_ID, so no pid can be checked across them). One worker is SIGKILLed mid-cell; Optuna's heartbeat
goes stale, a live worker fails that trial and runs the cell again, and every cell ends with exactly one
COMPLETE trial and one FINISHED run.

PostgreSQL: $ABLATE_TEST_PG_URL (CI: .ci/postgres.sh), else a server started here by pg_start.sh when
PostgreSQL is installed; otherwise the test skips and says why (the fixtures: conftest.py, shared with the
Slurm test).
"""

from __future__ import annotations

import os
import signal
import time

from faultkit import STUDY, finish, snapshot, start, wait_paused, write_study

from ablate.records import Tag, TrialAttr


def test_three_workers_on_postgres_one_killed_mid_cell(tmp_path, databases, mlflow_server):
    t0 = time.monotonic()
    study = write_study(tmp_path, {**STUDY, "seeds": 2})  # 8 cells
    stores = ["--storage", databases[0], "--tracking-uri", mlflow_server]
    env = {"ABLATE_HEARTBEAT_SECONDS": "2"}  # dead after 6 s of silence: more slack for a busy CI machine
    coordinator, _ = start(["run", study.name, "--workers", "0", "--quiet", "--no-report", *stores], tmp_path,
                           **env)
    doomed, flag = start(["worker", study.name, *stores], tmp_path, pause="epoch", ABLATE_HOST_ID="machine-1",
                         **env)
    workers = [start(["worker", study.name, *stores], tmp_path, ABLATE_HOST_ID=f"machine-{k}", **env)[0]
               for k in (2, 3)]
    wait_paused(doomed, flag)
    os.kill(doomed.pid, signal.SIGKILL)
    assert finish(doomed)[0] == -signal.SIGKILL
    rc, out, err = finish(coordinator)
    assert rc == 0, err
    assert "8/8 cells finished, 0 failed" in out, out
    assert "View run" not in out, "--quiet leaves MLflow's per-run links out"
    for w in workers:
        rc, out, err = finish(w)
        assert rc == 0 and "worker ran" in out, err

    snap = snapshot(tmp_path, tracking_uri=mlflow_server, storage=databases[0])
    cells = {f"{arm}/seed{s}" for arm in ("baseline", "l2", "dropout", "dropout+l2") for s in (0, 1)}
    assert dict(snap.complete()) == {c: 1 for c in cells}, "every cell exactly one COMPLETE trial"
    assert {c: len(ids) for c, ids in snap.finished().items()} == {c: 1 for c in cells}, "one FINISHED run"
    # two processes recovering the dead worker's cell at the same moment may both enqueue its retry: the
    # second trial is dropped unrun (FAIL, tagged duplicate, no MLflow run), by design
    dropped = [t for t in snap.trials if t.user_attrs.get(TrialAttr.DUPLICATE)]
    assert all(t.state.name == "FAIL" and not t.user_attrs.get(TrialAttr.RUN_ID) for t in dropped)
    dropped_numbers = {t.number for t in dropped}
    stale = [t for t in snap.trials if t.state.name == "FAIL" and t.number not in dropped_numbers]
    assert len(stale) == 1 and stale[0].user_attrs[TrialAttr.WORKER].startswith("machine-1:")
    retried = [t for t in snap.trials
               if t.user_attrs.get(TrialAttr.RETRY_OF) == stale[0].number and t.number not in dropped_numbers]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert not retried[0].user_attrs[TrialAttr.WORKER].startswith("machine-1:")
    killed = snap.by_status("KILLED")
    assert len(killed) == 1 and "no heartbeat" in killed[0].data.tags[Tag.FAILURE]
    assert not snap.by_status("RUNNING") and snap.parent_status == "FINISHED"
    ran_by = {t.user_attrs[TrialAttr.WORKER].split(":")[0] for t in snap.trials if t.state.name == "COMPLETE"}
    assert ran_by <= {"machine-2", "machine-3"} and ran_by, ran_by
    print(f"\nPostgreSQL many-machines test: 3 workers + coordinator, 8 cells, 1 worker killed, "
          f"0 lost, 0 duplicated; {time.monotonic() - t0:.1f} s")
