"""A real Slurm: `ablate launch slurm` submits its job array of two `ablate worker`s to a one-node cluster
(tests/faults/slurm_start.sh; CI: .ci/slurm.sh), over shared stores (PostgreSQL + an `mlflow server`), with
`ablate run --workers 0` coordinating. One array task gets USR1 mid-cell, as Slurm sends it before a time
limit or on preemption: the script's trap stops its worker with SIGTERM (the cell goes back to the queue,
interrupted, not failed) and requeues the task. Every cell ends FINISHED exactly once.

Needs $SLURM_CONF and $ABLATE_TEST_SLURM (the cluster's folder) from slurm_start.sh, and sbatch; skips with
the reason otherwise, as it does without PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from faultkit import CELLS, STUDY, finish, snapshot, start, write_study

from ablate.records import Tag, TrialAttr


def slurm_reason() -> str | None:
    if not os.environ.get("ABLATE_TEST_SLURM") or not os.environ.get("SLURM_CONF"):
        return ("no Slurm cluster: $ABLATE_TEST_SLURM / $SLURM_CONF are not set (start one: "
                'eval "$(tests/faults/slurm_start.sh)"; .ci/run does)')
    if shutil.which("sbatch") is None:
        return "sbatch is not installed (Debian: apt-get install slurm-wlm munge)"
    try:
        up = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"sinfo did not answer: {e}"
    if up.returncode != 0 or "idle" not in up.stdout and "mix" not in up.stdout:
        return f"the Slurm node is not up (sinfo: {up.stdout.strip() or up.stderr.strip()})"
    return None


pytestmark = pytest.mark.skipif(slurm_reason() is not None, reason=str(slurm_reason()))


def _task_of(pid: int) -> str:
    """The array task (JOB_TASK) a worker process runs in: the job's variables are in its environment."""
    env = dict(line.split("=", 1) for line in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
               if "=" in line)
    return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"


def _squeue(job: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job, "-o", "%i %T %r"], capture_output=True, text=True,
                          timeout=20).stdout


def test_two_array_tasks_one_preempted_mid_cell_every_cell_once(tmp_path, databases, mlflow_server):
    t0 = time.monotonic()
    study = write_study(tmp_path, STUDY)  # 4 cells
    stores = ["--storage", databases[0], "--tracking-uri", mlflow_server]
    # sbatch passes the launching environment on to the tasks: every worker holds 8 s at the end of its first
    # epoch (testpoints.py; the pid of the first to get there is written to the flag), so a cell is surely
    # running when USR1 lands, and each cell takes seconds, not a fraction of one
    env = {"ABLATE_HEARTBEAT_SECONDS": "2"}
    launcher, flag = start(["launch", "slurm", study.name, "--workers", "2", *stores], tmp_path, pause="epoch",
                           hold=8, **env)
    rc, out, err = finish(launcher, timeout=120)
    assert rc == 0, out + err
    assert "submitted job array" in out and "ablate run" in out, out
    job = out.split("submitted job array ")[1].split()[0]
    script = tmp_path / "study.slurm.sh"
    assert "--array=0-1" in script.read_text()
    coordinator = None
    try:
        coordinator, _ = start(["run", study.name, "--workers", "0", "--quiet", "--no-report", *stores], tmp_path,
                               **env)
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert coordinator.poll() is None, finish(coordinator)
            assert time.monotonic() < deadline, f"no worker reached a cell's first epoch in 120 s: {_squeue(job)}"
            time.sleep(0.1)
        pid = int(flag.read_text())  # a worker holding its cell at the end of the first epoch
        task = _task_of(pid)
        # as Slurm does at --signal=B:USR1@120: to the batch shell only; at once, while the worker still holds
        # (the stores are read afterwards: the stopped trial must be this pid's, interrupted, its run KILLED)
        subprocess.run(["scancel", "--signal=USR1", "--batch", task], check=True, timeout=20)

        rc, out, err = finish(coordinator, timeout=150)
        assert rc == 0, out + err
        assert "4/4 cells finished, 0 failed" in out, out

        snap = snapshot(tmp_path, tracking_uri=mlflow_server, storage=databases[0])
        assert dict(snap.complete()) == {c: 1 for c in CELLS}, "every cell exactly one COMPLETE trial"
        assert {c: len(ids) for c, ids in snap.finished().items()} == {c: 1 for c in CELLS}, "one FINISHED run"
        assert not snap.by_status("FAILED") and not snap.by_status("RUNNING")
        stopped = [t for t in snap.trials if t.state.name == "FAIL"]
        assert len(stopped) == 1, [(t.number, t.user_attrs) for t in stopped]
        (stopped,) = stopped
        victim = stopped.user_attrs[TrialAttr.CELL]
        assert stopped.user_attrs.get(TrialAttr.INTERRUPTED) is True, stopped.user_attrs
        assert stopped.user_attrs[TrialAttr.WORKER].endswith(f":{pid}")
        killed = snap.by_status("KILLED")
        assert len(killed) == 1 and killed[0].data.tags[Tag.CELL_ID] == victim
        assert "interrupted" in killed[0].data.tags[Tag.FAILURE]
        log = (tmp_path / f"faults.slurm-{task}.out").read_text()
        assert "USR1 from Slurm" in log, log
        print(f"\nSlurm test: 2 array tasks + coordinator, 4 cells, task {task} sent USR1 mid-cell ({victim}), "
              f"0 lost, 0 duplicated; {time.monotonic() - t0:.1f} s")
    finally:
        if coordinator is not None and coordinator.poll() is None:
            os.killpg(coordinator.pid, signal.SIGKILL)
            coordinator.communicate()
        subprocess.run(["scancel", job], capture_output=True, timeout=20)
        deadline = time.monotonic() + 30
        while _squeue(job).strip() and time.monotonic() < deadline:
            time.sleep(0.5)
