"""Stores made whole or not at all, and every store fault one clear message (exit 2, nothing finished lost):
a kill while the MLflow store is created, half-made, damaged, foreign or misplaced store files, a torn or
damaged journal, a stale journal lock, a reports folder that is a file, and the checkpoint at exit."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from faultkit import STUDY, finish, refused, run_ablate, snapshot, start, wait_paused, write_study

SMALL = {**STUDY, "name": "stores", "factors": {"dropout": {"p": 0.3}}, "train": {**STUDY["train"], "epochs": 1}}


@pytest.fixture
def project(tmp_path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    write_study(d, SMALL)
    return d


@pytest.fixture(scope="session")
def finished_template(tmp_path_factory) -> Path:
    """The small study run to the end once per pytest run; each test that damages it gets a copy."""
    d = tmp_path_factory.mktemp("finished") / "project"
    d.mkdir()
    write_study(d, SMALL)
    out = run_ablate(d, "run", "study.yaml", "--quiet", "--no-report")
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    return d


@pytest.fixture
def finished(finished_template, tmp_path) -> Path:
    """A finished project of this test's own: the template copied (a project moves with its stores)."""
    return Path(shutil.copytree(finished_template, tmp_path / "finished"))


def test_a_kill_while_mlflow_creates_its_store_leaves_none(project):
    """Before: a SIGKILL 0.5 s after mlflow.db appeared left it half-migrated, and every later run died
    with `table ... already exists`. Now the store is made under a temporary name: no mlflow.db, or a
    whole one. (MLflow's own migrations: the copy of an empty store, template.py, is turned off here.)"""
    proc, _ = start(["run", "study.yaml", "--quiet", "--no-report"], project, ABLATE_STORE_TEMPLATE="0")
    deadline = time.monotonic() + 120
    while not (list(project.glob(".mlflow.db.*.tmp")) or (project / "mlflow.db").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, "no store was ever started"
        time.sleep(0.01)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    from ablate.tracking.store import state

    assert state(project / "mlflow.db")[0] in ("absent", "whole")
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    assert not list(project.glob(".mlflow.db.*.tmp")), "the dead process's temporary store is cleared"


def test_a_kill_just_before_the_store_is_renamed_into_place(project):
    proc, flag = start(["run", "study.yaml", "--quiet", "--no-report"], project, pause="store.made")
    wait_paused(proc, flag)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    assert not (project / "mlflow.db").exists() and list(project.glob(".mlflow.db.*.tmp"))
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    assert not list(project.glob(".mlflow.db.*.tmp"))


def _sqlite(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for s in statements:
            conn.execute(s)


def _content(db: Path) -> tuple[list, dict]:
    with sqlite3.connect(db) as c:
        schema = sorted(c.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
        rows = {t: sorted(c.execute(f'SELECT * FROM "{t}"')) for kind, t, _sql in schema if kind == "table"}
    return schema, rows


def test_a_store_copied_from_the_template_is_the_store_mlflow_makes(tmp_path, monkeypatch):
    """A new store is a copy of the empty one MLflow made before (template.py: MLflow's ~60 migrations are
    most of a small study's start-up): same schema, same rows, the Default experiment where MLflow puts it."""
    from ablate.tracking import template
    from ablate.tracking.store import create

    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    kept = template.template_path()
    assert kept is not None and not kept.exists()
    create(tmp_path / "made.db")  # by MLflow, which leaves its store as the template
    assert kept.is_file()
    before = time.time() * 1000
    create(tmp_path / "copied.db")
    schema_made, made = _content(tmp_path / "made.db")
    schema_copied, copied = _content(tmp_path / "copied.db")
    assert schema_copied == schema_made
    times = lambda rows: [r[:4] + r[6:] for r in rows]  # noqa: E731  (creation and update times differ)
    assert times(copied.pop("experiments")) == times(made.pop("experiments"))
    assert copied == made
    with sqlite3.connect(tmp_path / "copied.db") as c:
        location, created = c.execute("SELECT artifact_location, creation_time FROM experiments").fetchone()
    assert location == str(tmp_path / "mlruns" / "0") and created >= before - 1
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'copied.db'}")  # MLflow opens it as its own
    assert [e.name for e in client.search_experiments()] == ["Default"]


@pytest.mark.parametrize("bad", [b"not a database", b""])
def test_a_template_that_is_not_a_whole_empty_store_is_ignored(tmp_path, monkeypatch, bad):
    from ablate.tracking import template
    from ablate.tracking.store import create, state

    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path / "cache"))
    kept = template.template_path()
    kept.parent.mkdir(parents=True)
    kept.write_bytes(bad)
    create(tmp_path / "mlflow.db")
    assert state(tmp_path / "mlflow.db") == ("whole", 0)
    assert kept.read_bytes() == bad  # not the cache's to repair: MLflow made the store, as without one


def test_a_half_made_store_without_runs_is_moved_aside_and_rebuilt(project):
    _sqlite(project / "mlflow.db", "CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT)",
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    assert "is half-made" in out.stderr and "moved aside to mlflow.db.broken-" in out.stderr, out.stderr
    assert len(list(project.glob("mlflow.db.broken-*"))) == 1


def test_a_half_made_store_with_runs_is_refused_with_what_to_do(project):
    _sqlite(project / "mlflow.db", "CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT)",
            "CREATE TABLE runs (run_uuid TEXT PRIMARY KEY)", "INSERT INTO runs VALUES ('r1')")
    before = (project / "mlflow.db").read_bytes()
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    refused(out, str(project / "mlflow.db"), "holds 1 run(s)", "mlflow db upgrade", "mv ")
    assert (project / "mlflow.db").read_bytes() == before and not (project / "optuna.journal").exists()


@pytest.mark.parametrize("kind", ["foreign", "random", "directory"])
def test_a_foreign_file_as_the_store_is_refused_untouched(project, kind):
    db = project / "mlflow.db"
    if kind == "foreign":
        _sqlite(db, "CREATE TABLE songs (title TEXT)")
    elif kind == "random":
        db.write_bytes(os.urandom(4096))
    else:
        db.mkdir()
    before = None if kind == "directory" else db.read_bytes()
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    words = {"foreign": "is another program's database", "random": "is not a SQLite database",
             "directory": "is a directory"}[kind]
    refused(out, f"the MLflow store {db} {words}")
    assert before is None or db.read_bytes() == before


def test_a_truncated_store_is_one_message_for_run_and_report(finished):
    """Before: ~100 lines of traceback ending `database disk image is malformed`."""
    db = finished / "mlflow.db"
    with open(db, "rb+") as f:
        f.truncate(db.stat().st_size * 6 // 10)
    for args in (("run", "study.yaml", "--quiet", "--no-report"), ("report", "study.yaml")):
        out = run_ablate(finished, *args)
        refused(out, str(db), "damaged", "malformed", "Restore it from a backup")


def test_a_torn_last_journal_line_is_dropped_with_a_notice(finished):
    """Before: JSONDecodeError on every later run. Only a line without its newline is torn (never committed);
    a bad last line that ends with its newline is damage (test_damage_inside_the_last_journal_line_...)."""
    journal = finished / "optuna.journal"
    for torn in ('{"op_code": 5, "worker_id": "x', '{"op_code": 5, "worker_id"'):
        with open(journal, "a") as f:
            f.write(torn)
        out = run_ablate(finished, "run", "study.yaml", "--quiet", "--no-report")
        assert out.returncode == 0 and "0 run now" in out.stdout, out.stderr
        assert f"dropped a half-written last record of optuna.journal ({len(torn.encode())} bytes): it was " \
               "never committed" in out.stderr, out.stderr
        assert journal.read_bytes().endswith(b"}\n")


def test_damage_inside_the_journal_names_the_line(finished):
    journal = finished / "optuna.journal"
    lines = journal.read_bytes().split(b"\n")
    lines[2] = lines[2][: len(lines[2]) // 2]
    journal.write_bytes(b"\n".join(lines))
    out = run_ablate(finished, "run", "study.yaml", "--quiet", "--no-report")
    refused(out, "the Optuna journal optuna.journal is damaged: line 3 is not a valid record",
             "mv optuna.journal optuna.journal.broken")


def test_damage_inside_the_last_journal_line_is_refused_and_the_cell_not_retrained(finished):
    """Before: 2 bytes flipped in the last, complete line were dropped as never committed; the finished cell
    trained again and MLflow held two FINISHED runs of it."""
    journal = finished / "optuna.journal"
    data = bytearray(journal.read_bytes())
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    for i in (start + 5, start + 20):
        data[i] ^= 0xFF
    journal.write_bytes(bytes(data))
    last = data.count(b"\n")
    out = run_ablate(finished, "run", "study.yaml", "--quiet", "--no-report")
    refused(out, f"the Optuna journal optuna.journal is damaged: line {last} is not a valid record",
            "mv optuna.journal optuna.journal.broken")
    assert journal.read_bytes() == bytes(data)


def test_a_stale_journal_lock_of_a_dead_process_is_broken_at_once(tmp_path):
    """Before: every write waited out Optuna's 30 s grace period."""
    import optuna

    from ablate.scheduler import liveness
    from ablate.scheduler.storage import open_storage

    dead = subprocess.Popen(["true"])
    dead.wait()
    path = tmp_path / "optuna.journal"
    (tmp_path / "optuna.journal.lock").write_text(f"{liveness._host()}\n{dead.pid}\n1\n")
    t0 = time.monotonic()
    optuna.create_study(study_name="s", storage=open_storage(str(path)))
    assert time.monotonic() - t0 < 5
    assert not (tmp_path / "optuna.journal.lock").exists()


def test_a_reports_folder_that_is_a_file_is_refused_before_any_cell_runs(project):
    (project / "reports").write_text("not a folder")
    out = run_ablate(project, "run", "study.yaml", "--quiet")
    refused(out, "reports is a file, not a folder", "--reports-dir")
    assert not (project / "mlflow.db").exists()


def test_the_store_is_checkpointed_at_exit_so_mlflow_db_alone_is_whole(finished, tmp_path):
    """Before: processes exited without a checkpoint; a copy of mlflow.db alone lost what mlflow.db-wal held."""
    wal = finished / "mlflow.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(finished / "mlflow.db", copy / "mlflow.db")
    snap = snapshot(copy, "stores", storage=str(finished / "optuna.journal"))
    assert len(snap.by_status("FINISHED")) == 2 and snap.parent_status == "FINISHED"
