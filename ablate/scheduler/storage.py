"""Where a study's Optuna studies live: storage URLs, opening them, and what is done to whole studies there.

One Optuna study per ablation study (its name), and one more for a tune phase (`<name>:tune`). The default
storage is a journal file in the working directory (Optuna's advice for parallel workers on one machine);
`postgresql://...` (or any RDB URL) serves many machines.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from typing import TYPE_CHECKING

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from ablate.errors import AblateError
from ablate.records import TrialAttr
from ablate.scheduler import journal
from ablate.scheduler.liveness import heartbeat_seconds
from ablate.uri import redact_uri

if TYPE_CHECKING:
    from ablate.study import Study

DEFAULT_STORAGE = "optuna.journal"
TUNE_SUFFIX = ":tune"


def resolve_storage(url: str | None = None) -> str:
    return url or os.environ.get("ABLATE_STORAGE") or DEFAULT_STORAGE


def tune_name(name: str) -> str:
    """The tune phase's own Optuna study: its trials sample freely, unlike the ablation's enqueued cells."""
    return name + TUNE_SUFFIX


def open_storage(url: str):
    """A journal file (the default; safe for local parallel workers) or any Optuna RDB URL."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line per trial in ablate's output
    if "://" not in url or url.startswith("journal://") or url.startswith("file://"):
        return journal.open_journal(url.split("://", 1)[-1])
    beat = heartbeat_seconds()  # a RUNNING trial silent for 3 beats is failed and its cell retried
    url = _pg_driver(url)
    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(url, heartbeat_interval=beat, grace_period=3 * beat,
                                     engine_kwargs={"pool_pre_ping": True})
            if url.startswith("sqlite"):
                _serialize_sqlite(storage)
            return storage
        except Exception as e:  # unreachable server, missing driver, bad URL: the user's to fix
            # machines starting at once on a fresh database race to create Optuna's tables: one wins, the
            # others see its half-made schema; a moment later the schema is whole
            if type(e).__name__ in ("IntegrityError", "ProgrammingError") and attempt < 5:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise AblateError(f"cannot open the Optuna storage {redact_uri(url)}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None
    raise AssertionError("unreachable")


def _serialize_sqlite(storage: RDBStorage) -> None:
    """Every transaction on a SQLite storage takes the write lock when it begins (BEGIN IMMEDIATE).

    Optuna moves a trial WAITING -> RUNNING (a claim) or RUNNING -> COMPLETE (a settle) by reading its state,
    checking it, then writing it. PostgreSQL locks the row it read (SELECT ... FOR UPDATE); SQLite ignores
    FOR UPDATE, and pysqlite opens no transaction for a SELECT, so two workers could both read WAITING and
    both claim one cell (9 of 20 rounds of six threads racing, tests/scheduler/test_exactly_once.py). With
    the driver's own BEGIN turned off and BEGIN IMMEDIATE issued at SQLAlchemy's begin, the read and the
    write are one serialized transaction (SQLAlchemy's documented pysqlite recipe). Each process that opens
    the storage through here gets it; the pool is emptied so no connection made before is reused."""
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()


def _pg_driver(url: str) -> str:
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; use psycopg2 when only that one is installed."""
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def optuna_name(study: Study, storage) -> str:
    """This variant's Optuna study: the study's name for its first variant (whichever ran first under the
    name; so stores made before variants keep working), `<name>@<hash12>` for every other variant."""
    try:
        first = optuna.load_study(study_name=study.name, storage=storage)
    except KeyError:
        return study.name
    recorded = first.user_attrs.get(TrialAttr.STUDY_HASH)
    return study.name if recorded in (None, study.study_hash) else variant_name(study.name, study.study_hash)


def variant_name(name: str, study_hash: str) -> str:
    return f"{name}@{study_hash[:12]}"


def open_study(study: Study, storage, create: bool = True) -> optuna.Study:
    """The variant's Optuna study; create=False raises KeyError while no `ablate run` has created it."""
    direction = study.metric.resolved_direction
    name = optuna_name(study, storage)
    if create:
        return optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    return optuna.load_study(study_name=name, storage=storage)


def find_study(study: Study, storage) -> optuna.Study | None:
    try:
        return open_study(study, storage, create=False)
    except KeyError:
        return None


def record_hash(ostudy: optuna.Study, study: Study) -> None:
    """Which study the Optuna study schedules: the change guard's evidence when MLflow has no parent run."""
    ostudy.set_user_attr(TrialAttr.STUDY_HASH, study.study_hash)


def recorded(study: Study, storage) -> tuple[str | None, int]:
    """(the hash the Optuna study recorded, its COMPLETE trials); (None, 0) when there is no such study."""
    ostudy = find_study(study, storage)
    if ostudy is None:
        return None, 0
    done = len(ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return ostudy.user_attrs.get(TrialAttr.STUDY_HASH), done


def study_names(storage) -> set[str]:
    return {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}


def set_aside(storage, name: str, aside: str) -> None:
    """`--fresh`: copy the study (and its tune study) to `aside`, then delete the original."""
    for old, new in ((name, aside), (tune_name(name), tune_name(aside))):
        try:
            optuna.copy_study(from_study_name=old, from_storage=storage, to_storage=storage, to_study_name=new)
        except KeyError:
            continue  # no such study
        optuna.delete_study(study_name=old, storage=storage)
