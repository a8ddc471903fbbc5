"""SIGKILL (and Ctrl-C, SIGTERM) a real `ablate run` at exact moments, then run the same command again.

Two stores, two chains of runs, side by side (each chain is sequential; two halve the wall time): each run
is stopped at a named pause point (ablate/testpoints.py) - in the parent run's setup, halfway through
enqueueing, with an MLflow run no trial points to yet, mid-epoch (Ctrl-C), between fit and Optuna's write,
between Optuna's write and MLflow's, in a spawned worker, by SIGTERM between cells, while the report is
built - and after every stop the stores are checked: no cell has two COMPLETE trials or two FINISHED runs,
and no cell finished earlier was trained again. The last run of each chain finishes its study.

A soak, not the proof: the scheduler's exactly-once contract (dead workers' cells retried once, late settles
refused, idempotent enqueue, finished cells never reclaimed) is tested in process, over every storage, by
tests/scheduler/test_exactly_once.py. The stops kept here are those that need a real process: MLflow's side
of a kill, signals, orphaned workers, the report; plus one plain SIGKILL mid-cell.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from faultkit import CELLS, Ledger, finish, snapshot, start, wait_gone, wait_paused, write_study

from ablate.records import Tag, TrialAttr

# (pause point, signal, hold seconds at the point (None: hold until killed), local workers[, the process that
# pauses: "worker" for a local worker process; by default whichever reaches the point first, `ablate run`
# itself included, which with --workers 2 trains cells beside its one worker process])
SETUP_CHAIN = [
    ("parent.created", signal.SIGKILL, None, 1),  # MLflow: parent run created, its params/files not yet
    ("enqueue@2", signal.SIGKILL, None, 1),  # Optuna: two of four cells enqueued
    ("cell.run_created", signal.SIGKILL, None, 1),  # an MLflow run that no trial points to yet
    ("epoch", signal.SIGINT, None, 2),  # Ctrl-C (to the process group) after a worker's epoch 1: marked KILLED
]
CELLS_CHAIN = [
    ("cell.fitted", signal.SIGKILL, None, 1),  # trained and logged, Optuna not told: runs again
    ("cell.told", signal.SIGKILL, None, 1),  # COMPLETE trial, MLflow run still RUNNING: kept, not rerun
    ("epoch", signal.SIGKILL, None, 2, "worker"),  # a spawned worker mid-cell; only its parent is killed
    ("cell.claimed@2", signal.SIGTERM, None, 1),  # a batch system's SIGTERM, between cells: like Ctrl-C
    ("report", signal.SIGKILL, 0, 1),  # every cell done; killed while the report is built
]


def _chain(directory, steps) -> tuple[int, list]:
    """Run the steps on one store, then the plain command; returns (SIGKILLs, the interrupted runs)."""
    directory.mkdir()
    study = write_study(directory)
    ledger, kills = Ledger(), 0
    for point, sig, hold, workers, *where in steps:
        only = {"ABLATE_TEST_PAUSE_IN": where[0]} if where else {}
        proc, flag = start(["run", study.name, "--quiet", "--workers", str(workers)], directory, pause=point,
                           hold=hold, **only)
        paused = wait_paused(proc, flag)
        assert not where or paused != proc.pid, point
        if point == "report":
            time.sleep(0.5)  # the report is being built now
        os.killpg(proc.pid, sig) if sig == signal.SIGINT else os.kill(proc.pid, sig)
        rc, out, err = finish(proc)
        if sig == signal.SIGKILL:
            assert rc == -signal.SIGKILL, f"{point}: rc {rc}\n{err}"
            kills += 1
        else:
            assert rc == 130, f"{point}: {sig.name} must exit 130, got {rc}\n{err}"
            assert f"Resume with:\n  ablate run {study.name} --quiet --workers {workers}" in err, err
        if paused != proc.pid:
            wait_gone(paused)  # the orphaned worker stopped by itself
        ledger.check(snapshot(directory))

    rc, out, err = finish(start(["run", study.name, "--quiet"], directory)[0])
    assert rc == 0, err
    assert "4/4 cells finished, 0 failed" in out, out
    snap = snapshot(directory)
    ledger.check(snap)
    assert set(snap.complete()) == CELLS and set(snap.finished()) == CELLS
    assert not snap.by_status("RUNNING"), "a run was left RUNNING"
    assert snap.parent_status == "FINISHED"
    assert (directory / "reports" / "faults" / "index.html").is_file()
    interrupted = snap.by_status("KILLED") + snap.by_status("FAILED")
    for run in interrupted:
        assert run.data.tags.get(Tag.FAILURE, "").startswith("interrupted"), run.data.tags
    return kills, interrupted


def test_kill_anywhere_then_resume_loses_and_doubles_nothing(tmp_path):
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        chains = [pool.submit(_chain, tmp_path / name, steps)
                  for name, steps in (("setup", SETUP_CHAIN), ("cells", CELLS_CHAIN))]
        (kills_a, interrupted_a), (kills_b, interrupted_b) = (c.result() for c in chains)
    assert kills_a + kills_b >= 7
    assert any("Ctrl-C" in r.data.tags[Tag.FAILURE] for r in interrupted_a)
    assert len(interrupted_a) >= 2 and len(interrupted_b) >= 2, (len(interrupted_a), len(interrupted_b))
    print(f"\nkill/resume chains: {kills_a + kills_b} SIGKILLs + SIGINT + SIGTERM survived; 2 x 4 cells, "
          f"0 lost, 0 duplicated; {len(interrupted_a) + len(interrupted_b)} interrupted runs closed with a "
          f"reason; {time.monotonic() - t0:.1f} s")


def test_two_runs_started_at_once_share_the_study(tmp_path):
    """Two terminals, one command, the same moment: one parent run, every cell trained once."""
    study = write_study(tmp_path)
    procs = [start(["run", study.name, "--quiet", "--no-report"], tmp_path)[0] for _ in range(2)]
    results = [finish(p) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    snap = snapshot(tmp_path)  # asserts a single parent run
    Ledger().check(snap)
    assert set(snap.complete()) == CELLS and set(snap.finished()) == CELLS
    assert len(snap.runs) == 4 and snap.parent_status == "FINISHED"
    dropped = [t for t in snap.trials if t.user_attrs.get(TrialAttr.DUPLICATE)]
    assert all(t.user_attrs.get(TrialAttr.RUN_ID) is None for t in dropped)
