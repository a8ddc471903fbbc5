"""The store: where it is (resolve_uri), how a client is made, and the few reads both sides share.

Creating a client is where a new store is made, so it is guarded here once: a lock on the store's
directory against two processes creating one SQLite store at once, the store made whole or refused
(store.py), the SQLite pragmas on MLflow's own engine (never on every SQLAlchemy engine of the process),
artifact locations carried along when the project moved (relocate), and a checkpoint at exit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablate import faults
from ablate.records import PARENT, CellRecord, Tag
from ablate.tracking import store

DEFAULT_URI = "sqlite:///mlflow.db"
SQLITE = "sqlite:///"
ARTIFACT_DIR = "mlartifacts"


def resolve_uri(uri: str | None = None) -> str:
    """The tracking URI, with a relative SQLite path made absolute.

    MLflow caches one database engine per URI string, so a relative `sqlite:///mlflow.db` would keep
    pointing at the first directory a process used; workers started elsewhere would miss the store.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/") and ":memory:" not in uri:
        uri = SQLITE + str((Path.cwd() / uri[len(SQLITE):]).resolve())
    return uri


def _sqlite_pragmas(conn, _record) -> None:
    """WAL with synchronous=NORMAL: a commit then costs ~0.05 ms instead of an fsync (2-6 ms here; a cell
    makes ~7 of them), readers never block the writing workers, and a process crash still loses nothing (a
    power cut can lose the last commits, never corrupt the file). WAL needs a local disk: set
    ABLATE_SQLITE_WAL=0 for a store on a network file system."""
    import sqlite3

    if not isinstance(conn, sqlite3.Connection):
        return
    cur = conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")  # persistent in the file; a no-op once set
    except sqlite3.OperationalError:  # another process holds it in rollback mode: stay correct, slower
        pass
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _tune_sqlite(client: MlflowClient) -> None:
    if os.environ.get("ABLATE_SQLITE_WAL", "1") == "0":
        return
    from sqlalchemy import event

    engine = store.engine_of(client)
    if engine is None or engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_pragmas):
        return
    event.listen(engine, "connect", _sqlite_pragmas)
    engine.dispose()  # connections made while MLflow created the store reconnect with the pragmas


_OPENED: dict[str, MlflowClient] = {}  # the SQLite stores this process opened: checkpointed at its exit
_INODES: dict[str, tuple[int, int] | None] = {}  # and which file each was (a store moved aside is another)


def make_client(uri: str) -> MlflowClient:
    """The client. A new SQLite store is made whole (store.py) under a lock on the store's directory, so two
    processes never create one at once; a store that cannot be used raises StoreError saying why and what
    to do; the experiments' artifact locations are brought along when the project moved (relocate)."""
    if not uri.startswith(SQLITE) or ":memory:" in uri:
        return MlflowClient(uri)
    path = Path(uri[len(SQLITE):])
    if uri in _OPENED and _inode(path) == _INODES.get(uri):
        # opened here already: never look at the file again. Python closing a file it opened on the store
        # drops every POSIX lock this process's SQLite connections hold on it (SQLite's known hazard), and a
        # worker's checkpoint then truncates the log under a reader: "database disk image is malformed"
        return MlflowClient(uri)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)  # its traceback; ours says why
    with _directory_lock(path.parent):
        store.prepare(path)
        try:
            client = MlflowClient(uri)
        except Exception as e:
            store.reopen(path, e)  # rebuilt (an empty half-made store) or raises
            client = MlflowClient(uri)
        _tune_sqlite(client)
        relocate(client, path)
    _OPENED[uri], _INODES[uri] = client, _inode(path)
    faults.opened("MLflow", str(path))
    return client


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def _directory_lock(directory: Path):
    """flock on the store's directory (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY) if fcntl is not None else None
    except OSError as e:
        raise store.StoreError(f"cannot use {directory} for the MLflow store ({e.strerror or e}); choose "
                               "another place (--tracking-uri sqlite:////path/mlflow.db)") from None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def close_stores() -> None:
    """Before a process exits: close MLflow's connections and fold each SQLite store's write-ahead log into
    its file, so mlflow.db alone holds everything (copied or moved, no run is lost)."""
    for uri, client in list(_OPENED.items()):
        engine = store.engine_of(client)
        if engine is not None:
            with contextlib.suppress(Exception):
                engine.dispose()
        store.checkpoint(uri[len(SQLITE):])
    _OPENED.clear()
    _INODES.clear()


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: mlartifacts/ beside a SQLite store's file (so the store
    and its artifacts move together), beside the working directory for other local stores; None (the
    server's choice) for a tracking server."""
    if uri.startswith(SQLITE) and ":memory:" not in uri:
        return (Path(uri[len(SQLITE):]).parent.resolve() / ARTIFACT_DIR).as_uri()
    if "://" not in uri:
        return (Path.cwd() / ARTIFACT_DIR).resolve().as_uri()
    return None


def _local_path(file_uri: str) -> Path:
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(file_uri).path))


def relocate(client: MlflowClient, path: Path) -> int:
    """After the project folder moved (or was copied), point every experiment whose artifacts lived in
    `<old folder>/mlartifacts` at the mlartifacts/ beside this store, runs included, so reports find their
    weights and new runs write here, not into the old folder. An experiment whose old folder still exists
    while none is here is left alone (its artifacts were put elsewhere on purpose). MLflow keeps absolute
    locations and has no call to change them: this is two UPDATEs on its experiments and runs tables."""
    from sqlalchemy import text

    engine = store.engine_of(client)
    if engine is None:
        return 0
    here = path.parent.resolve() / ARTIFACT_DIR
    new = here.as_uri()
    moved = 0
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT experiment_id, artifact_location FROM experiments "
                                 "WHERE artifact_location LIKE 'file://%/" + ARTIFACT_DIR + "'")).fetchall()
        for exp_id, old in rows:
            old_dir = _local_path(old)
            if old == new or (old_dir.exists() and not here.exists()):
                continue
            conn.execute(text("UPDATE experiments SET artifact_location = :new WHERE experiment_id = :id"),
                         {"new": new, "id": exp_id})
            conn.execute(text("UPDATE runs SET artifact_uri = :new || substr(artifact_uri, :n) "
                              "WHERE experiment_id = :id AND substr(artifact_uri, 1, :m) = :prefix"),
                         {"new": new, "n": len(old) + 1, "id": exp_id, "m": len(old) + 1, "prefix": old + "/"})
            moved += 1
    return moved


def missing_artifacts(artifact_uris: list[str]) -> str:
    """Why local runs' artifacts cannot be read ("" when they can, or are not local): the report says
    "artifacts missing" instead of "none were logged" when the folder holding them is gone."""
    gone = [u for u in artifact_uris if u and u.startswith("file:") and not _local_path(u).exists()]
    if not gone:
        return ""
    root = _local_path(gone[0])
    while root.name and root.name != ARTIFACT_DIR and root.parent != root:
        root = root.parent
    where = root if root.name == ARTIFACT_DIR else _local_path(gone[0])
    return (f"artifacts missing ({where} not found: {len(gone)} run(s) have no artifacts folder; was "
            f"{ARTIFACT_DIR}/ moved or deleted?)")


@contextlib.contextmanager
def _no_progress_bars():
    """MLflow draws a progress bar on stderr for every artifact download; for one small file it is noise."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def artifact_json(client: MlflowClient, run_id: str, path: str, artifact_uri: str | None = None):
    """A JSON artifact of a run, or None when it is absent or unreadable. Given the run's artifact_uri and
    it is a local folder (a SQLite store's mlartifacts/), the file is read in place: a download copies it
    through a temporary folder first, ~25 ms a run, most of a 32-cell report's reading."""
    if artifact_uri and artifact_uri.startswith("file:"):
        try:
            return json.loads((_local_path(artifact_uri) / path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    with tempfile.TemporaryDirectory() as tmp, _no_progress_bars():
        try:
            local = client.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text())
        except (MlflowException, OSError, ValueError):
            return None


def search_all(client: MlflowClient, experiment_ids: list[str], filter_string: str) -> list:
    """search_runs over every page (a big study outgrows one page of 1000 runs)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def parent_run(client: MlflowClient, experiment_id: str, study_hash: str | None = None):
    """A study variant's parent run, or None: of the parents whose study hash starts with `study_hash` (every
    parent when None: the study's first variant), the oldest, ties broken by run id, for writers and readers
    alike. One experiment holds one parent per variant (a run with overrides, or an edited file).

    Two processes starting one variant at once each create a parent, then both take the oldest and the other
    deletes its own (writer.start_parent); a kill between that create and delete leaves the younger one
    behind, never set up and with no cells. The oldest is the one every process agreed on and the cells
    hang under, so a report or `ablate status` that took the newest would show that empty leftover.
    """
    runs = search_all(client, [experiment_id], f"tags.`{Tag.ROLE}` = '{PARENT}'")
    if study_hash:
        runs = [r for r in runs if r.data.tags.get(Tag.HASH, "").startswith(study_hash)]
    return min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id), default=None)


def variants(client: MlflowClient, experiment_id: str) -> list[tuple[str, str]]:
    """(study hash, variant label) of each variant's parent, the first variant (label "") first."""
    runs = search_all(client, [experiment_id], f"tags.`{Tag.ROLE}` = '{PARENT}'")
    out: dict[str, str] = {}
    for r in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        out.setdefault(r.data.tags.get(Tag.HASH, ""), r.data.tags.get(Tag.VARIANT, ""))
    return list(out.items())


def cell_of(run) -> CellRecord:
    """An MLflow run -> its CellRecord (the run object goes no further than this package)."""
    info = run.info
    return CellRecord.from_mlflow(info.run_id, dict(run.data.tags), dict(run.data.params), dict(run.data.metrics),
                                  status=info.status, run_name=info.run_name or "", start_time_ms=info.start_time,
                                  end_time_ms=info.end_time)


def close_running(client: MlflowClient, experiment_id: str, reason: str, parent_id: str | None = None) -> int:
    """End the runs an experiment (or one parent run of it) still holds as RUNNING (a killed process's) as
    KILLED, with the reason: a variant set aside by `--fresh` has no process left to finish them."""
    from mlflow.entities import RunTag

    from ablate.records import CellRecord

    only = f" and tags.`{Tag.PARENT_RUN_ID}` = '{parent_id}'" if parent_id else ""
    runs = search_all(client, [experiment_id], "attributes.status = 'RUNNING'" + only)
    for run in runs:
        client.log_batch(run.info.run_id, tags=[RunTag(k, str(v)) for k, v in CellRecord.failure_tags(reason).items()])
        client.set_terminated(run.info.run_id, status="KILLED")
    return len(runs)
