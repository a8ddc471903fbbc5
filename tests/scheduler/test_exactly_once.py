"""Exactly-once as an in-process contract: the scheduler's enqueue / claim / heartbeat / settle protocol.

What tests/faults/ shows by SIGKILLing real `ablate run` processes (minutes), shown here in seconds on the
primitives themselves (cells.enqueue_cells, claim, Claim.heartbeat / stamp / complete / fail / superseded /
drop, fail_dead; liveness.gone and Optuna's stale-heartbeat check behind them), over every storage ablate
opens: the journal file (the default), SQLite, and PostgreSQL where $ABLATE_TEST_PG_URL names a server
(.ci/postgres.sh starts one), parametrized as Optuna's own storage tests are (optuna/testing/storages.py).

Workers are simulated as processes would be: each opens the storage on its own (its own JournalStorage or
database engine) and stamps its own identity, host:pid, on the cells it claims. A worker on this machine
(ABLATE_HOST_ID=machine-a here) has a pid in a simulated process table that liveness reads instead of /proc
(liveness.pid_exists, proc_start, is_zombie): its death is the pid leaving the table (reaped) or turning
zombie, and a reused pid is a new start time, so no process is started and the test stays in the fast layer
(the real SIGKILLs are in tests/faults/). A worker on another machine is judged by its heartbeat alone.
Time is simulated: the clock moves liveness.now (journal heartbeats, the grace after a claim) and ages the
heartbeat rows of an RDB storage (whose own clock judges them), so nothing waits out a heartbeat limit. A
cell's training is a stand-in function that counts its calls: these are scheduler contracts.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ablate.api import load_study
from ablate.records import TrialAttr as A
from ablate.scheduler import cells, liveness
from ablate.scheduler.storage import open_storage, open_study

HERE, ELSEWHERE = "machine-a", "machine-b"
STORAGE_MODES = ["journal", "sqlite", "postgresql"]
STUDY = {  # 4 arms x 2 seeds = 8 cells; nothing here trains them
    "name": "once",
    "model": {"name": "cnn", "width": 2},
    "data": {"name": "digits", "val_fraction": 0.2, "batch_size": 128},
    "train": {"epochs": 1, "optimizer": "adam", "lr": 0.01},
    "metric": {"name": "test_acc", "direction": "maximize"},
    "factors": {"dropout": {"p": 0.3}, "l2": {"lambda": 1.0e-3}},
    "design": "full_factorial",
    "seeds": 2,
}


@pytest.fixture(scope="module")
def base_study():
    return load_study(STUDY)


@pytest.fixture
def study(base_study):
    """The study under a name of its own, so tests sharing one PostgreSQL database never meet."""
    return dataclasses.replace(base_study, name=f"once-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def pg_database():
    """A fresh database on the server $ABLATE_TEST_PG_URL names, dropped afterwards."""
    url = os.environ.get("ABLATE_TEST_PG_URL")
    if not url:
        pytest.skip("ABLATE_TEST_PG_URL is not set (eval \"$(.ci/postgres.sh)\" starts a local PostgreSQL)")
    psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install 'ablate[postgres]')")
    name = f"ablate_once_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    yield f"{url.rsplit('/', 1)[0]}/{name}"
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


class StorageSupplier:
    """One storage mode as the URL ablate is given (optuna.testing.storages.StorageSupplier's role); every
    connection opened through it is closed at the end."""

    def __init__(self, mode: str, url: str):
        self.mode, self.url = mode, url
        self.opened: list = []

    def open(self, study) -> optuna.Study:
        """The study as one more process sees it: a storage of its own, the Optuna study created if new."""
        storage = open_storage(self.url)
        self.opened.append(storage)
        return open_study(study, storage)

    def age_heartbeats(self, seconds: float) -> None:
        """RDB storages judge heartbeats by the database's clock: move every recorded beat into the past."""
        if self.mode == "journal":
            return
        from optuna.storages._rdb.models import TrialHeartbeatModel
        from sqlalchemy.orm import Session

        with Session(self.opened[0].engine) as session, session.begin():
            for beat in session.query(TrialHeartbeatModel):
                beat.heartbeat -= timedelta(seconds=seconds)

    def close(self) -> None:
        for storage in self.opened:
            if isinstance(storage, optuna.storages.RDBStorage):
                storage.engine.dispose()


@pytest.fixture(scope="module")
def fast_dir():
    """SQLite fsyncs every commit (50 ms each on a busy disk): its files live in /dev/shm where there is one."""
    where = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    d = Path(tempfile.mkdtemp(prefix="ablate-once-", dir=where))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def sqlite_template(fast_dir):
    """An empty Optuna SQLite storage, made once (creating Optuna's tables costs about a second)."""
    path = fast_dir / "template.db"
    storage = open_storage(f"sqlite:///{path}")
    storage.engine.dispose()
    return path


@pytest.fixture(params=STORAGE_MODES)
def supplier(request, tmp_path, fast_dir, monkeypatch):
    monkeypatch.setenv("ABLATE_HOST_ID", HERE)  # this process, the judge of dead workers, is on machine-a
    monkeypatch.delenv("ABLATE_HEARTBEAT_SECONDS", raising=False)  # 30 s: no beat but the first in a test
    if request.param == "journal":
        url = str(tmp_path / "optuna.journal")
    elif request.param == "sqlite":
        db = fast_dir / f"{uuid.uuid4().hex[:8]}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        url = f"sqlite:///{db}"
    else:
        url = request.getfixturevalue("pg_database")
    s = StorageSupplier(request.param, url)
    yield s
    s.close()


class Clock:
    """Simulated time, `offset` seconds ahead of the real one for everything that judges a worker: liveness.now
    (journal heartbeats), the trial start times Optuna stamps in Python (the grace after a claim), and RDB
    heartbeats (the database's own clock judges those: the beats recorded so far are aged instead)."""

    def __init__(self, supplier: StorageSupplier, monkeypatch):
        self.supplier, self.offset = supplier, 0.0
        clock = self

        class Shifted(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + timedelta(seconds=clock.offset)

        monkeypatch.setattr(liveness, "now", lambda: time.time() + self.offset)
        monkeypatch.setattr("optuna.storages.journal._storage.datetime", Shifted)
        monkeypatch.setattr("optuna.storages._rdb.storage.datetime", Shifted)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.supplier.age_heartbeats(seconds)


@pytest.fixture
def clock(supplier, monkeypatch):
    return Clock(supplier, monkeypatch)


PAST_EVERY_LIMIT = 3600.0  # past the claim grace, 3 RDB beats and the journal's stale limit (defaults)


class Died(BaseException):
    """A worker stopping mid-cell without recording anything (SIGKILL): not an Exception, as in worker.py."""


class Ledger:
    """Every call of the stand-in training: (cell id, worker)."""

    def __init__(self):
        self.lock, self.calls = threading.Lock(), []

    def train(self, cell_id: str, worker: Worker) -> float:
        with self.lock:
            self.calls.append((cell_id, worker.identity))
        time.sleep(0.001)  # long enough for the other workers to interleave their claims
        return float(len(cell_id))

    def runs(self) -> Counter:
        return Counter(cid for cid, _ in self.calls)


class Processes:
    """This machine's process table as liveness sees it, for the simulated workers' pids (others are real)."""

    def __init__(self, monkeypatch):
        self.table: dict[int, tuple[str, str]] = {}  # pid -> (state, start time)
        self.known: set[int] = set()  # every simulated pid, dead ones too
        self._pids = iter(range(4_000_000, 4_100_000))  # above any real pid_max
        real = (liveness.pid_exists, liveness.proc_start, liveness.is_zombie)
        monkeypatch.setattr(liveness, "pid_exists", lambda pid: pid in self.table if pid in self.known
                            else real[0](pid))
        monkeypatch.setattr(liveness, "proc_start", lambda pid: self.table[pid][1] if pid in self.table
                            else "" if pid in self.known else real[1](pid))
        monkeypatch.setattr(liveness, "is_zombie", lambda pid: self.table.get(pid, ("",))[0] == "Z"
                            if pid in self.known else real[2](pid))

    def start(self) -> int:
        pid = next(self._pids)
        self.known.add(pid)
        self.table[pid] = ("R", str(pid * 7))
        return pid

    def kill(self, pid: int, reap: bool) -> None:
        if reap:
            self.table.pop(pid, None)
        elif pid in self.table:
            self.table[pid] = ("Z", self.table[pid][1])


class Worker:
    """A simulated worker process: its own storage connection and identity (host:pid, process start)."""

    _fake_pids = iter(range(40_000, 50_000))

    def __init__(self, supplier: StorageSupplier, study, host: str = HERE, processes: Processes | None = None):
        self.study, self.host, self.processes = study, host, processes
        self.ostudy = supplier.open(study)
        # on this machine the worker's pid is in the simulated process table, which liveness checks
        self.pid = processes.start() if host == HERE else next(self._fake_pids)
        self.start = liveness.proc_start(self.pid) if host == HERE else ""

    @property
    def identity(self) -> str:
        return f"{self.host}:{self.pid}"

    def claim(self) -> cells.Claim | None:
        return cells.claim(self.ostudy, {c.cell_id for c in self.study.cells()})

    def stamp(self, claim: cells.Claim) -> None:
        """Claim.stamp, with this simulated process's identity where the real one writes its own (stamped
        with the real one first, then renamed, a judge could read the simulated pid with the real start)."""
        claim.stamp(self.study, worker=self.identity, start=self.start)

    def run(self, claim: cells.Claim, train) -> bool:
        """worker.run_one's protocol: heartbeat, stamp, train, tell. False: the claim was superseded."""
        if why := claim.superseded():
            claim.drop(why)
            return False
        with claim.heartbeat():
            self.stamp(claim)
            value = train(claim.cell_id, self)
        assert claim.complete(value), f"{self.identity} lost cell {claim.cell_id} while alive"
        return True

    def drain(self, train, recover: bool = True) -> None:
        """worker.run_cells without waiting: run cells while any waits; out of cells, recover dead workers'."""
        while True:
            claim = self.claim()
            if claim is not None:
                self.run(claim, train)
                continue
            if not recover or not judge(self).enqueued:
                return

    def die(self, reap: bool = True) -> None:
        """SIGKILL: the pid is gone (reaped) or a zombie nobody waited for yet (reap=False)."""
        if self.host == HERE:
            self.processes.kill(self.pid, reap)


@pytest.fixture
def workers(supplier, study, monkeypatch):
    """make(n, host) -> n new workers, this machine's in a simulated process table."""
    processes = Processes(monkeypatch)

    def make(n: int = 1, host: str = HERE) -> list[Worker]:
        return [Worker(supplier, study, host, processes) for _ in range(n)]

    return make


def judge(worker: Worker, **kw) -> cells.Plan:
    """What a worker out of cells runs (rerun=False): dead workers' cells failed and enqueued again."""
    return cells.enqueue_cells(worker.ostudy, worker.study, rerun=False, **kw)


def at_once(*calls):
    """Run the calls in threads released together; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(go, c) for c in calls]]


def interleave(crew: list[Worker], train) -> None:
    """Plain interleaved calls: the workers take turns, one claim each, until none gets a cell."""
    while [w for w in crew if (claim := w.claim()) is not None and (w.run(claim, train) or True)]:
        pass


def trials_of(ostudy: optuna.Study, cell_id: str | None = None) -> list[optuna.trial.FrozenTrial]:
    return [t for t in ostudy.get_trials(deepcopy=False) if cell_id is None or t.user_attrs.get(A.CELL) == cell_id]


def assert_settled_once(ostudy: optuna.Study, study) -> None:
    """Every cell has exactly one COMPLETE trial; nothing waits or runs; every other trial is a FAIL."""
    trials = trials_of(ostudy)
    complete = Counter(t.user_attrs[A.CELL] for t in trials if t.state == TrialState.COMPLETE)
    assert complete == {c.cell_id: 1 for c in study.cells()}
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    finished, failed = cells.outcomes(ostudy, study)
    assert finished == set(complete) and not failed


# -- claims ------------------------------------------------------------------------------------------------


def test_workers_claiming_at_once_get_disjoint_cells_and_each_cell_settles_once(request, supplier, study, workers):
    crew = workers(2, HERE) + workers(2, ELSEWHERE)
    plan = cells.enqueue_cells(crew[0].ostudy, study)
    assert (plan.total, plan.enqueued, plan.live) == (8, 8, 8)
    ledger = Ledger()
    at_once(*[lambda w=w: w.drain(ledger.train) for w in crew])
    assert ledger.runs() == {c.cell_id: 1 for c in study.cells()}
    assert len(trials_of(crew[0].ostudy)) == 8, "no worker created a trial of its own"
    assert_settled_once(crew[0].ostudy, study)
    by = {t.user_attrs[A.CELL]: t.user_attrs[A.WORKER] for t in trials_of(crew[0].ostudy)}
    assert by == dict(ledger.calls), "each COMPLETE trial is stamped by the worker that ran it"


def test_one_waiting_cell_raced_for_by_many_workers_goes_to_exactly_one(request, supplier, study, workers):
    crew = workers(3, HERE) + workers(3, ELSEWHERE)
    cells.enqueue_cells(crew[0].ostudy, study)
    for cell in study.cells()[:3]:
        claims = at_once(*[lambda w=w, c=cell.cell_id: cells.claim(w.ostudy, {c}) for w in crew])
        won = [c for c in claims if c is not None]
        assert len(won) == 1, f"{cell.cell_id}: {len(won)} workers claimed it"
        assert won[0].cell_id == cell.cell_id
        assert [t.state for t in trials_of(crew[0].ostudy, cell.cell_id)] == [TrialState.RUNNING]


# -- enqueue -----------------------------------------------------------------------------------------------


def test_enqueue_is_idempotent(supplier, study, workers):
    (w,) = workers()
    first = cells.enqueue_cells(w.ostudy, study)
    again = cells.enqueue_cells(w.ostudy, study)
    assert (first.enqueued, again.enqueued, again.live) == (8, 0, 8)
    w.run(w.claim(), Ledger().train)
    claimed = w.claim()  # RUNNING, alive: neither re-enqueued nor counted twice
    with claimed.heartbeat():
        w.stamp(claimed)
    for rerun in (True, False):
        plan = cells.enqueue_cells(w.ostudy, study, rerun=rerun)
        assert (plan.enqueued, plan.done, plan.live) == (0, 1, 7)
    assert len(trials_of(w.ostudy)) == 8
    assert Counter(t.user_attrs[A.CELL] for t in trials_of(w.ostudy)) == {c.cell_id: 1 for c in study.cells()}
    assert claimed.complete(1.0)


def test_an_enqueue_cut_short_is_completed_by_the_next(supplier, study, workers):
    """`ablate run` killed halfway through enqueueing (faults' "enqueue@2"): the next run adds the rest."""
    (w,) = workers()
    for cell in study.cells()[:2]:  # what enqueue_cells had written when it was killed
        w.ostudy.enqueue_trial({"arm": cell.arm.name, "seed": cell.seed}, user_attrs={A.CELL: cell.cell_id})
    plan = cells.enqueue_cells(w.ostudy, study)
    assert (plan.enqueued, plan.live) == (6, 8)
    assert Counter(t.user_attrs[A.CELL] for t in trials_of(w.ostudy)) == {c.cell_id: 1 for c in study.cells()}


def test_two_processes_enqueueing_at_once_still_run_each_cell_once(supplier, study, workers):
    """Two `ablate run`s started the same instant may both enqueue a cell: the second trial of a cell is
    dropped unrun at its claim (superseded), so the cell still trains once."""
    a, b = workers(2)
    plans = at_once(*[lambda w=w: cells.enqueue_cells(w.ostudy, study) for w in (a, b)])
    assert 8 <= sum(p.enqueued for p in plans) <= 16
    ledger = Ledger()
    interleave([a, b], ledger.train)  # each sees the other's claims of a cell's two trials
    assert ledger.runs() == {c.cell_id: 1 for c in study.cells()}
    assert_settled_once(a.ostudy, study)
    dropped = [t for t in trials_of(a.ostudy) if t.state == TrialState.FAIL]
    assert len(dropped) == sum(p.enqueued for p in plans) - 8
    assert all(t.user_attrs[A.DUPLICATE] and A.WORKER not in t.user_attrs for t in dropped), "dropped unrun"
    plan = cells.enqueue_cells(a.ostudy, study)  # a duplicate is not a failure to retry
    assert (plan.done, plan.failed, plan.enqueued) == (8, 0, 0)


# -- dead workers ------------------------------------------------------------------------------------------

DEATHS = {  # how a worker dies mid-cell -> (its host, stamped?, how it dies, what the judge says)
    "process ended": (HERE, True, "reap", "ended before the cell finished"),
    "zombie": (HERE, True, "zombie", "ended before the cell finished"),
    "pid reused": (HERE, True, "reuse", "the pid was reused"),
    "heartbeat stopped": (ELSEWHERE, True, "silence", "no heartbeat for"),
    "died right after its claim": (HERE, False, "reap", "right after claiming"),
}


@pytest.mark.parametrize("death", list(DEATHS))
def test_a_worker_dying_mid_cell_has_its_cell_retried_once_and_its_late_settle_refused(
        supplier, study, workers, clock, death):
    host, stamped, how, why = DEATHS[death]
    (doomed,) = workers(1, host)
    rescuers = workers(2)
    cells.enqueue_cells(doomed.ostudy, study)
    ledger = Ledger()
    claim = doomed.claim()
    cid = claim.cell_id
    if stamped:
        with claim.heartbeat():
            doomed.stamp(claim)
            if how == "reuse":
                claim.trial.set_user_attr(A.WORKER_START, "1")  # the pid now belongs to another process
            with pytest.raises(Died):
                ledger.train(cid, doomed)
                raise Died
    assert not judge(rescuers[0]).enqueued or how == "reuse", "a live worker's cell is left to it"
    if how in ("reap", "zombie"):
        doomed.die(reap=how == "reap")
    clock.advance(PAST_EVERY_LIMIT)

    # two workers out of cells recover it at the same moment; then both drain the queue
    plans = at_once(*[lambda w=w: judge(w) for w in rescuers])
    assert sum(len(p.recovered) for p in plans) <= 1  # fail_dead takes effect in one process only
    dead = trials_of(doomed.ostudy, cid)[0]
    assert dead.state == TrialState.FAIL
    if A.FAILURE in dead.user_attrs:  # failed by ablate's check (an RDB's own heartbeat check writes none)
        assert why in dead.user_attrs[A.FAILURE] and dead.user_attrs[A.INTERRUPTED], dead.user_attrs
    interleave(rescuers, ledger.train)
    assert ledger.runs() == {c.cell_id: 1 + (stamped and c.cell_id == cid) for c in study.cells()}, "retried once"
    assert_settled_once(rescuers[0].ostudy, study)
    retry = [t for t in trials_of(doomed.ostudy, cid) if t.state == TrialState.COMPLETE][0]
    assert retry.user_attrs[A.RETRY_OF] == dead.number
    assert retry.user_attrs[A.WORKER] != doomed.identity

    # the dead worker comes back (it was only frozen): nothing it says about the cell counts now
    assert claim.superseded() == f"duplicate: cell {cid} already finished in trial {retry.number}"
    with pytest.raises(cells.Stale):
        claim.set_run_id("late-run")
    assert claim.complete(0.5) is False
    claim.fail("late failure", retry=True)  # quietly nothing
    after = trials_of(doomed.ostudy, cid)
    assert [t.state for t in after] == [t.state for t in trials_of(rescuers[0].ostudy, cid)]
    assert after[0].state == TrialState.FAIL and after[0].user_attrs.get(A.FAILURE) == dead.user_attrs.get(A.FAILURE)
    assert A.RUN_ID not in after[0].user_attrs
    plan = cells.enqueue_cells(rescuers[0].ostudy, study)  # a new `ablate run` finds nothing left to run
    assert (plan.done, plan.enqueued, plan.recovered) == (8, 0, [])


def test_a_worker_elsewhere_is_not_judged_dead_before_its_first_beat(supplier, study, workers):
    """Found by the test above racing four workers: a worker named on its cell, its heartbeat thread's first
    beat not yet written, read by a judge as silent since 1970 and failed while it ran (the cell would train
    twice). The first beat is now written before the stamp, and a missing beat counts from the claim."""
    (w,) = workers(1, ELSEWHERE)
    (other,) = workers(1, HERE)
    cells.enqueue_cells(w.ostudy, study)
    claim = w.claim()
    w.stamp(claim)  # named, no beat: the window between a stamp and a heartbeat thread's first write
    plan = judge(other)
    assert (plan.enqueued, plan.recovered) == (0, []), "a just-claimed cell is left to its worker"
    with claim.heartbeat():  # a journal's beat is ablate's (an RDB's is Optuna's own heartbeat table)
        beats = A.BEAT in trials_of(other.ostudy, claim.cell_id)[0].user_attrs
        assert beats or supplier.mode != "journal", "the first beat is written before the block runs"
    assert claim.complete(1.0)


@pytest.mark.parametrize("where", [HERE, ELSEWHERE])
def test_a_live_worker_keeps_its_cell_however_long_it_runs(supplier, study, workers, clock, where):
    """Here its pid is alive; elsewhere its heartbeat keeps coming: neither is judged dead, at any age."""
    (w,) = workers(1, where)
    (other,) = workers(1, HERE)
    cells.enqueue_cells(w.ostudy, study)
    claim = w.claim()
    with claim.heartbeat():  # held for the whole cell, as worker.run_one holds it
        w.stamp(claim)
        for _ in range(3):
            clock.advance(PAST_EVERY_LIMIT)
            with claim.heartbeat():  # the heartbeat thread's next beat (it beats every 30 s)
                pass
            plan = judge(other)
            assert (plan.enqueued, plan.recovered) == (0, [])
            assert trials_of(other.ostudy, claim.cell_id)[0].state == TrialState.RUNNING
        claim.set_run_id("run")  # still its own
    assert claim.complete(1.0)


def test_a_silent_worker_elsewhere_is_judged_only_past_the_limit(supplier, study, workers, clock):
    (w,) = workers(1, ELSEWHERE)
    (other,) = workers(1, HERE)
    cells.enqueue_cells(w.ostudy, study)
    claim = w.claim()
    with claim.heartbeat():
        w.stamp(claim)
    limit = liveness.stale_seconds() if supplier.mode == "journal" else 3 * liveness.heartbeat_seconds()
    clock.advance(limit - 5)
    assert not judge(other).enqueued
    clock.advance(10)
    assert judge(other).enqueued == 1
    assert claim.complete(1.0) is False


def test_a_late_worker_and_its_judge_racing_have_exactly_one_winner(request, supplier, study, workers, clock):
    """The frozen worker wakes and tells its result while another process fails its trial as dead: one
    of the two takes effect, never both, and the cell is re-enqueued only if the judge won."""
    (other,) = workers(1, HERE)
    cells.enqueue_cells(other.ostudy, study)
    for late in workers(3, ELSEWHERE):
        claim = late.claim()
        with claim.heartbeat():
            late.stamp(claim)
        clock.advance(PAST_EVERY_LIMIT)
        won, plan = at_once(lambda c=claim: c.complete(2.0), lambda: judge(other))
        states = [t.state for t in trials_of(other.ostudy, claim.cell_id)]
        if won:
            assert states == [TrialState.COMPLETE] and plan.enqueued == 0, states
        else:
            assert states == [TrialState.FAIL, TrialState.WAITING], states


# -- failures, interruptions, finished cells ---------------------------------------------------------------


def test_a_failed_cell_is_not_retried_unless_retry_failed(supplier, study, workers):
    (w,) = workers()
    cells.enqueue_cells(w.ostudy, study, rerun=True)
    diverged, buggy = w.claim(), w.claim()
    for claim in (diverged, buggy):
        with claim.heartbeat():
            w.stamp(claim)
    diverged.fail("diverged: the loss became NaN at epoch 1", retry=False)
    buggy.fail("RuntimeError: a bug", retry=True)
    plan = judge(w)  # a worker out of cells retries only dead workers' cells
    assert (plan.enqueued, plan.failed) == (0, 2)
    plan = cells.enqueue_cells(w.ostudy, study)  # a new `ablate run`: the bug may be fixed, divergence is not
    assert (plan.enqueued, plan.failed) == (1, 1)
    assert [t.state for t in trials_of(w.ostudy, buggy.cell_id)] == [TrialState.FAIL, TrialState.WAITING]
    assert cells.enqueue_cells(w.ostudy, study).enqueued == 0
    plan = cells.enqueue_cells(w.ostudy, study, retry_failed=True)
    assert (plan.enqueued, plan.failed) == (1, 0)
    retried = trials_of(w.ostudy, diverged.cell_id)
    assert [t.state for t in retried] == [TrialState.FAIL, TrialState.WAITING]
    assert retried[1].user_attrs[A.RETRY_OF] == retried[0].number
    assert cells.enqueue_cells(w.ostudy, study, retry_failed=True).enqueued == 0, "once, however often asked"
    ledger = Ledger()
    w.drain(ledger.train)
    assert ledger.runs() == {c.cell_id: 1 for c in study.cells()}
    assert_settled_once(w.ostudy, study)


def test_interrupted_cells_return_to_the_queue(supplier, study, workers):
    """Ctrl-C, SIGTERM, preemption: the cell did not fail, it runs again - up to MAX_INTERRUPTS times from
    workers (a cell that kills every worker must not take the fleet down), always on a new `ablate run`."""
    (w,) = workers()
    cells.enqueue_cells(w.ostudy, study)
    cid = None
    for k in range(cells.MAX_INTERRUPTS):
        claim = w.claim() if cid is None else cells.claim(w.ostudy, {cid})
        cid = claim.cell_id
        with claim.heartbeat():
            w.stamp(claim)
        claim.fail("interrupted by Ctrl-C (SIGINT/SIGTERM)", retry=True, interrupted=True)
        plan = judge(w)
        assert plan.enqueued == (k + 1 < cells.MAX_INTERRUPTS), k
    assert judge(w).failed == 1, "a worker gives the cell up after MAX_INTERRUPTS"
    plan = cells.enqueue_cells(w.ostudy, study)
    assert (plan.enqueued, plan.failed) == (1, 0), "a new `ablate run` gives it another chance"
    ledger = Ledger()
    w.drain(ledger.train)
    assert ledger.runs() == {c.cell_id: 1 for c in study.cells()}
    assert_settled_once(w.ostudy, study)
    assert len(trials_of(w.ostudy, cid)) == cells.MAX_INTERRUPTS + 1


def test_a_finished_cell_is_never_reclaimed(supplier, study, workers, clock):
    a, b = workers(2)
    cells.enqueue_cells(a.ostudy, study)
    ledger = Ledger()
    a.drain(ledger.train)
    a.die()  # the worker that ran every cell is gone, and time passes
    clock.advance(PAST_EVERY_LIMIT)
    for kw in ({}, {"retry_failed": True}):
        plan = cells.enqueue_cells(b.ostudy, study, **kw)
        assert (plan.done, plan.enqueued, plan.recovered, plan.live) == (8, 0, [], 0)
    assert judge(b).enqueued == 0 and b.claim() is None
    done = trials_of(b.ostudy)
    assert not any(cells.fail_dead(b.ostudy, t, "a judge gone wrong") for t in done), "COMPLETE is final"
    # a stray second trial of a finished cell (an enqueue racing the finish) is dropped, never run
    b.ostudy.enqueue_trial({"arm": "baseline", "seed": 0}, user_attrs={A.CELL: "baseline/seed0"})
    stray = b.claim()
    assert stray.cell_id == "baseline/seed0" and not b.run(stray, ledger.train)
    assert ledger.runs() == {c.cell_id: 1 for c in study.cells()}
    assert_settled_once(b.ostudy, study)
    assert [t.state for t in trials_of(b.ostudy)[:8]] == [t.state for t in done]
