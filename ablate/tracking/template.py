"""A new SQLite store as a copy of the empty one MLflow made last time, instead of MLflow's ~60 migrations.

MLflow makes a store by running every schema migration in order: ~2-3 s of a 2-core machine, most of
`ablate run`'s start-up on a small study and of every test that makes a store. The first store made with an
MLflow version is kept, empty, in the user's cache (`$ABLATE_CACHE_DIR`, else `$XDG_CACHE_HOME/ablate`,
else `~/.cache/ablate`) as `mlflow-<version>-empty.db`; later stores are copies of it with the Default
experiment's location and times set as MLflow sets them. A template that is not a whole, empty store is
ignored and MLflow makes the store as before. `ABLATE_STORE_TEMPLATE=0` turns this off.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from pathlib import Path


def template_path() -> Path | None:
    """This MLflow version's template, or None when templates are off (or a workspace-aware store, which
    MLflow makes differently, is asked for)."""
    if os.environ.get("ABLATE_STORE_TEMPLATE", "1") == "0" or os.environ.get("MLFLOW_ENABLE_WORKSPACES"):
        return None
    import mlflow

    root = os.environ.get("ABLATE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ablate")
    return Path(root) / f"mlflow-{mlflow.__version__}-empty.db"


def copy_into(template: Path, tmp: Path) -> bool:
    """Make the store at `tmp` from `template` (store.create has checked it is whole and empty); False, and
    nothing at `tmp`, when it cannot be copied."""
    from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local

    default_location = append_to_uri_path(resolve_uri_if_local("./mlruns"), "0")  # as MLflow's store sets it
    now = int(time.time() * 1000)
    try:
        shutil.copyfile(template, tmp)
        with contextlib.closing(sqlite3.connect(tmp)) as conn, conn:
            conn.execute("UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
                         "WHERE experiment_id = 0", (str(default_location), now, now))
        return True
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False


def keep(template: Path, made: Path) -> None:
    """Keep the store MLflow just made (closed, checkpointed, still empty) as `template`; best effort: a
    cache folder that cannot be written only means the next store is made by MLflow again."""
    part = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, part)
        os.replace(part, template)  # whole or absent, even with two processes making one at once
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(part)
