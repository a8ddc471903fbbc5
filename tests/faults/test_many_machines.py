"""Many machines on real engines: one Optuna study in PostgreSQL, one `mlflow server` (PostgreSQL backend
store), a coordinator (`ablate run --workers 0`) and three `ablate worker`s, each posing as its own machine
(ABLATE_HOST_ID, so no pid can be checked across them). One worker is SIGKILLed mid-cell; Optuna's heartbeat
goes stale, a live worker fails that trial and runs the cell again, and every cell ends with exactly one
COMPLETE trial and one FINISHED run.

PostgreSQL: $ABLATE_TEST_PG_URL (CI: .ci/postgres.sh), else a server started here by pg_start.sh when
PostgreSQL is installed; otherwise the test skips and says why.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from faultkit import STUDY, finish, snapshot, start, start_mlflow_server, wait_paused, write_study

from ablate.records import Tag, TrialAttr

PG_START = Path(__file__).with_name("pg_start.sh")


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install 'ablate[postgres]')")
    url = os.environ.get("ABLATE_TEST_PG_URL")
    if url:
        yield url
        return
    found = subprocess.run(["bash", "-c", "command -v initdb || ls /usr/lib/postgresql/*/bin/initdb"],
                           capture_output=True, text=True)
    if found.returncode != 0 or shutil.which("runuser") is None and os.getuid() == 0:
        pytest.skip("PostgreSQL is not installed (no initdb; Debian: apt-get install postgresql) and "
                    "ABLATE_TEST_PG_URL is not set; .ci/run installs and starts it")
    out = subprocess.run([str(PG_START)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {out.stderr.strip()[-500:]}")
    url, data_dir = out.stdout.split()
    yield url
    subprocess.run([str(PG_START), "stop", data_dir], capture_output=True, timeout=60)


@pytest.fixture
def databases(pg_url):
    """Two fresh databases (Optuna and MLflow both keep an alembic_version table), dropped afterwards."""
    import psycopg2

    names = [f"ablate_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("optuna", "mlflow")]
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"CREATE DATABASE {name}")
    base = pg_url.rsplit("/", 1)[0]
    # MLflow 3 picks the psycopg (3) driver for a bare postgresql:// URL; name the installed one
    yield [f"{base}/{names[0]}", f"{base.replace('postgresql://', 'postgresql+psycopg2://')}/{names[1]}"]
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


@pytest.fixture
def mlflow_server(databases, tmp_path):
    proc, url = start_mlflow_server(databases[1], tmp_path, tmp_path / "mlflow-server.log")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


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
