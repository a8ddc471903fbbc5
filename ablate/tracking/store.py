"""A SQLite MLflow store is made whole or not at all, recognized when it is not, and checkpointed on exit.

MLflow creates a store by running ~60 migrations in place; a kill (or a full disk) in the middle leaves a
file every later run fails on ("table jobs already exists"; `mlflow db upgrade` fails too). So a new store
is created under a temporary name beside its place and renamed into place once MLflow is done. A store
file found half-made (tables missing, no schema revision) is moved aside and rebuilt when it holds no
runs; a damaged or foreign file, or a half-made one with runs, is refused with what to do. The files
that make the store are mlflow.db (plus mlflow.db-wal and mlflow.db-shm while a process has it open) and
the mlartifacts/ folder beside it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

from ablate.errors import AblateError
from ablate.testpoints import pause_point

SQLITE_MAGIC = b"SQLite format 3\x00"
CORE_TABLES = frozenset({"experiments", "runs", "metrics", "params", "tags", "latest_metrics", "alembic_version"})
SIDE_FILES = ("-wal", "-shm", "-journal")


class StoreError(AblateError):
    """A store that cannot be used as it is: the message names the path and what to do."""


def fault(path: Path, what: str, todo: str) -> StoreError:
    return StoreError(f"the MLflow store {path} {what}. {todo}")


def state(path: Path) -> tuple[str, int]:
    """('absent' | 'whole' | 'half', runs held): read-only, a few milliseconds; raises StoreError for a
    file ablate must not touch (a directory, not SQLite, another program's database, damaged)."""
    try:
        if not path.exists():
            return "absent", 0
        if path.is_dir():
            raise fault(path, "is a directory", "Point --tracking-uri at a file (sqlite:////path/mlflow.db)")
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise fault(path, f"cannot be read ({e.strerror or e})", "Make it readable, or use another store") from None
    if not head:
        return "half", 0  # an empty file: creation never began
    if head != SQLITE_MAGIC:
        raise fault(path, "is not a SQLite database (it does not start with SQLite's header)",
                    "Point --tracking-uri at the study's store, or move this file away")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchall() \
                if "alembic_version" in tables else []
            runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0
    except sqlite3.DatabaseError as e:
        raise damaged(path, e) from None
    if tables and "experiments" not in tables and any(not t.startswith("alembic") for t in tables):
        raise fault(path, f"is another program's database (tables {', '.join(sorted(tables)[:5])}), not an "
                          "MLflow store", "Point --tracking-uri at the study's store, or move this file away")
    return ("whole" if CORE_TABLES <= tables and revision else "half"), runs


def damaged(path: Path, e: BaseException) -> StoreError:
    return fault(path, f"is damaged ({str(e).splitlines()[0]})",
                 f"Restore it from a backup; or move it aside (mv {path} {path}.broken) and run again: a new "
                 "store is made (the finished cells recorded in the old one are then not seen)")


def prepare(path: Path) -> None:
    """Before MLflow opens the store (under the store directory's lock): make it if absent, rebuild it if
    half-made and empty; anything else is left to MLflow (and `reopen` if MLflow fails on it)."""
    kind, runs = state(path)
    if kind == "absent":
        create(path)
    elif kind == "half":
        rebuild(path, runs, "is half-made (its creation was cut short: tables or the schema revision are "
                            "missing)")


def rebuild(path: Path, runs: int, why: str) -> None:
    if runs:
        raise fault(path, f"{why}, and it holds {runs} run(s), so ablate will not replace it",
                    f"Back it up (cp {path} {path}.bak), then try `mlflow db upgrade sqlite:///{path}`; if that "
                    f"fails, move it aside (mv {path} {path}.broken) and run again to start a new store")
    aside = set_aside(path)
    print(f"ablate: the MLflow store {path} {why}; it holds no runs, so it was moved aside to {aside.name} "
          "and a new one is made", file=sys.stderr)
    create(path)


def set_aside(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


def create(path: Path) -> None:
    """The store is made under a temporary name (a copy of this MLflow version's empty store, template.py,
    or else by MLflow's migrations) and renamed into place only when whole."""
    from ablate.tracking import template

    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    source = template.template_path()
    usable = source is not None and source.is_file() and _empty_store(source)
    try:
        if not (usable and template.copy_into(source, tmp)):
            from mlflow.tracking import MlflowClient

            client = MlflowClient(f"sqlite:///{tmp}")
            engine = engine_of(client)
            if engine is not None:
                engine.dispose()  # the last connection closes: nothing is left in a write-ahead log
            checkpoint(tmp)
            if source is not None and not source.is_file():
                template.keep(source, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        pause_point("store.made")
        os.replace(tmp, path)
    except BaseException as e:
        _remove(tmp)
        if isinstance(e, Exception) and (message := creation_fault(path, e)):
            raise StoreError(message) from None
        raise


def _empty_store(path: Path) -> bool:
    """A whole store with no run and only MLflow's Default experiment: what a template must be."""
    try:
        if state(path) != ("whole", 0):
            return False
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute("SELECT COUNT(*) FROM experiments").fetchone()[0] == 1
    except (StoreError, sqlite3.Error):
        return False


def creation_fault(path: Path, e: BaseException) -> str | None:
    from ablate.faults import describe

    why = describe(e)
    if why is None:
        return None
    return (f"cannot create the MLflow store {path} ({why}); nothing was created. Free space or make "
            f"{path.parent} writable, or choose another place (--tracking-uri sqlite:////path/mlflow.db)")


def _remove_stale_temps(path: Path) -> None:
    """Temporary stores of processes that died while creating one (a pid that is gone)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:-4]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove(tmp: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(OSError):
            os.unlink(f"{tmp}{suffix}")


def reopen(path: Path, e: BaseException) -> None:
    """MLflow failed to open an existing store: a damaged one is refused; a half-made or outdated one is
    rebuilt when it holds no runs (else the user is told what to do); any other failure is not the store's."""
    text = str(e)
    if isinstance(e, sqlite3.DatabaseError) or "malformed" in text or "not a database" in text:
        raise damaged(path, e) from None
    kind, runs = state(path)
    if kind == "half" or "out-of-date database schema" in text or "already exists" in text:
        first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
        rebuild(path, runs, f"cannot be opened by MLflow ({first[:300]})")
        return
    raise e


def engine_of(client):
    """The SQLAlchemy engine behind a SQL tracking store, or None. MLflow has no public handle on it."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return getattr(store, "engine", None)


HISTORY_RUNS = 100  # run ids per history query (the most MLflow's own server asks its store for at once)


def metric_points(client, run_ids: list[str]) -> list[tuple[str, str, int, float]] | None:
    """(run id, key, step, value) of every metric point these runs logged, in logging order per run and key,
    or None where the store is not MLflow's SQL store (a tracking server: ask it run by run).

    One SQLAlchemy Core query per HISTORY_RUNS runs, through MLflow's own table model (its column names,
    whatever its version), with no ORM object per point: the quickstart's 10,000 points read in ~30 ms,
    against ~0.4 s through get_metric_history_bulk and ~2 s through one get_metric_history a run and key.
    MLflow stores a NaN as 0 with is_nan set; it comes back as NaN, as MLflow's own reads return it."""
    engine = engine_of(client)
    if engine is None:
        return None
    from mlflow.store.tracking.dbmodels.models import SqlMetric
    from sqlalchemy import select

    m = SqlMetric
    points: list[tuple[str, str, int, float]] = []
    with engine.connect() as conn:
        for i in range(0, len(run_ids), HISTORY_RUNS):
            query = (select(m.run_uuid, m.key, m.step, m.value, m.is_nan)
                     .where(m.run_uuid.in_(run_ids[i:i + HISTORY_RUNS]))
                     .order_by(m.run_uuid, m.key, m.timestamp, m.step, m.value))
            points.extend((r, k, int(step), float("nan") if nan else float(v))
                          for r, k, step, v, nan in conn.execute(query))
    return points


def checkpoint(path: Path | str) -> None:
    """Fold the write-ahead log into the database file and empty it, so mlflow.db alone is the whole
    store (a copy of it misses nothing). Best effort: a store busy in another process is left to it."""
    if not os.path.exists(f"{path}-wal"):
        return
    with contextlib.suppress(sqlite3.Error, OSError), contextlib.closing(sqlite3.connect(str(path), timeout=2)) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
