"""Store faults in words: a full disk, a read-only place, a damaged file, said once, naming the path.

Store writes fail deep inside MLflow, SQLAlchemy, Optuna or the file system, each wrapping the cause its
own way (an MlflowException around an OperationalError around sqlite3's). `describe` walks the chain of
causes and names what the user can fix; the CLI prints that, exit code 2, instead of a traceback.
"""

from __future__ import annotations

import errno

STORES: dict[str, str] = {}  # what this process opened, kind -> where: named when a fault names no path

_ERRNO = {
    errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded", errno.EROFS: "the file system "
    "is read-only", errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.ENOTDIR: "a part "
    "of the path is a file, not a folder", errno.EISDIR: "it is a folder, not a file", errno.EIO: "an I/O error",
}
_SQLITE = (  # sqlite3's messages (also inside SQLAlchemy's and MLflow's) -> what they mean
    ("database or disk is full", "the disk is full"),
    ("readonly database", "the store is read-only (the file or its folder cannot be written)"),
    ("disk i/o error", "an I/O error (a full disk or a failing device)"),
    ("database disk image is malformed", "the database file is damaged (database disk image is malformed)"),
    ("file is not a database", "the file is not a SQLite database"),
    ("unable to open database file", "the database file cannot be opened (a missing folder, or no permission)"),
)


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__ or getattr(e, "orig", None)


def opened(kind: str, where: str) -> None:
    STORES[kind] = where


def describe(e: BaseException) -> str | None:
    """What went wrong with a store, in words (with the path when the error names one); None when `e` is
    not a store fault (a bug must still show its traceback)."""
    for cause in _chain(e):
        if isinstance(cause, OSError) and cause.errno in _ERRNO:
            where = f": {cause.filename}" if cause.filename else ""
            return f"{_ERRNO[cause.errno]}{where}"
    for cause in _chain(e):
        text = str(cause).lower()
        for needle, meaning in _SQLITE:
            if needle in text:
                return meaning
    return None


def store_fault(e: BaseException) -> str | None:
    """The CLI's one line for a store fault met while running, or None (then it is a bug: a traceback)."""
    why = describe(e)
    if why is None:
        return None
    where = "; ".join(f"{kind} {path}" for kind, path in STORES.items())
    return (f"a store could not be read or written: {why}{f' (the stores: {where})' if where else ''}. Fix that (free space, make the place writable, "
            "or restore the file), then run the same command again: every cell that finished is kept")
