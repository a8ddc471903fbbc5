"""The store: where it is (resolve_uri), how a client is made, and the few reads both sides share.

Creating a client is where MLflow creates and migrates a new store, so it is guarded here once: a lock
on the store's directory against two processes creating one SQLite store at once, and the SQLite
pragmas on MLflow's own engine (never on every SQLAlchemy engine of the process).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablate.records import CellRecord

DEFAULT_URI = "sqlite:///mlflow.db"
SQLITE = "sqlite:///"


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


def _store_engine(client: MlflowClient):
    """The SQLAlchemy engine behind a SQL tracking store, or None. MLflow has no public handle on it, and the
    pragmas must reach MLflow's own engine (and only it), so this is the one place that reaches inside."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return getattr(store, "engine", None)


def _tune_sqlite(client: MlflowClient) -> None:
    if os.environ.get("ABLATE_SQLITE_WAL", "1") == "0":
        return
    from sqlalchemy import event

    engine = _store_engine(client)
    if engine is None or engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_pragmas):
        return
    event.listen(engine, "connect", _sqlite_pragmas)
    engine.dispose()  # connections made while MLflow created the store reconnect with the pragmas


def make_client(uri: str) -> MlflowClient:
    """The client (which creates and migrates a new store). Two processes creating one SQLite store at the
    same moment both fail in MLflow's migrations; a lock on the store's directory lets one create it while
    the other waits (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is None or not uri.startswith(SQLITE):
        return MlflowClient(uri)
    directory = Path(uri[len(SQLITE):]).parent
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        client = MlflowClient(uri)
        _tune_sqlite(client)
        return client
    finally:
        os.close(fd)  # releases the lock


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


def artifact_json(client: MlflowClient, run_id: str, path: str):
    """A JSON artifact of a run, or None when it is absent or unreadable."""
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


def cell_of(run) -> CellRecord:
    """An MLflow run -> its CellRecord (the run object goes no further than this package)."""
    info = run.info
    return CellRecord.from_mlflow(info.run_id, dict(run.data.tags), dict(run.data.params), dict(run.data.metrics),
                                  status=info.status, run_name=info.run_name or "", start_time_ms=info.start_time,
                                  end_time_ms=info.end_time)
