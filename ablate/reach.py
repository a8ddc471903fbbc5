"""Stores checked before they are used: a tracking server or database must answer within a stated time, and a
local store's place must be writable, before any store is created or any data is loaded.

Why: `--tracking-uri http://127.0.0.1:9` printed nothing for 265 s (MLflow's HTTP retries), then a ~100-line
traceback, and left `optuna.journal` behind; an unwritable SQLite path waited ~100 s in MLflow's engine
retries. Here one short attempt per store, bounded by CONNECT_SECONDS; after NOTICE_SECONDS it says what it waits
for; a failure is one message naming the store with its password masked (uri.py) and how to change the wait.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ablate.bounded import limit
from ablate.errors import AblateError
from ablate.uri import redact_uri

CONNECT_SECONDS = ("ABLATE_CONNECT_TIMEOUT_S", 10)  # (environment variable, default): bounded.limit
NOTICE_SECONDS = 2.0
DB_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433}


def check_stores(tracking_uri: str, storage: str) -> None:
    """The MLflow tracking URI and the Optuna storage URL (both resolved), each reachable and writable."""
    check_store(tracking_uri, "the MLflow tracking store", "--tracking-uri")
    check_store(storage, "the Optuna storage", "--storage")


def check_store(uri: str, what: str, option: str) -> None:
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        _waiting(uri, what, lambda t: _http(uri, t))
    elif scheme in DB_PORTS:
        _waiting(uri, what, lambda t: _tcp(uri, DB_PORTS[scheme], t))
    elif scheme == "sqlite":
        path = uri.split(":///", 1)[-1]
        if path and ":memory:" not in path:
            _writable(Path(path), what, option)
    elif scheme in ("", "file", "journal"):
        _writable(Path(uri.split("://", 1)[-1]), what, option)


def _waiting(uri: str, what: str, attempt) -> None:
    """`attempt(timeout)` within CONNECT_SECONDS, saying after NOTICE_SECONDS what it waits for."""
    seconds, shown = limit(CONNECT_SECONDS), redact_uri(uri)
    notice = threading.Timer(NOTICE_SECONDS, lambda: print(
        f"waiting for {what} at {shown} (up to {seconds} s) ...", file=sys.stderr, flush=True))
    notice.daemon = True
    notice.start()
    try:
        attempt(seconds)
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise AblateError(f"{what} at {shown} is not reachable ({reason}; waited up to {seconds} s): start "
                          f"it or correct the URI; {CONNECT_SECONDS[0]}=<seconds> sets the wait") from None
    finally:
        notice.cancel()


def _http(uri: str, seconds: float) -> None:
    """Any HTTP answer (even 404: an older server without /health) means a server is there."""
    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    netloc = (f"[{netloc}]" if ":" in netloc else netloc) + (f":{parts.port}" if parts.port else "")
    url = parts._replace(netloc=netloc).geturl().rstrip("/") + "/health"  # credentials are not the address
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=seconds):  # noqa: S310
            return
    except urllib.error.HTTPError:
        return


def _tcp(uri: str, default_port: int, seconds: float) -> None:
    parts = urlsplit(uri)
    host = parts.hostname or "localhost"
    if host.startswith("/") or not host:  # a Unix socket (host=/run/postgresql): the driver says more
        return
    with socket.create_connection((host, parts.port or default_port), timeout=seconds):
        return


def _writable(path: Path, what: str, option: str) -> None:
    """The store's file, or (not yet made) the nearest existing folder above it, writable by this process."""
    path = path.expanduser()
    target = path if path.exists() else next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if target != path and not target.is_dir():
        raise AblateError(f"{what} {redact_uri(str(path))} cannot be made: {str(target)!r} is a file, not a "
                          f"folder; give {option} a writable place")
    if not os.access(target, os.W_OK):
        kind = "file" if target == path else "folder"
        raise AblateError(f"{what} {redact_uri(str(path))} cannot be written: the {kind} {str(target)!r} is not "
                          f"writable by this user; give {option} a writable place")
