"""What every launcher needs first: stores that machines other than this one can reach, and the engine's
command. Both are checked before a file is written, so a refused launch leaves nothing behind."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ablate.errors import AblateError
from ablate.uri import redact_uri

SHARED_STORAGE = ("postgresql", "postgres", "mysql", "grpc")  # Optuna storages a whole cluster can reach
LOCAL_TRACKING = ("sqlite", "file", "")  # MLflow stores that live on one machine's disk
WAIT_SECONDS = 600  # a worker that starts before `ablate run` created the study waits this long for it


class LaunchError(AblateError):
    """A launch refused before anything was written or submitted (exit code 2)."""


@dataclass(frozen=True)
class Stores:
    storage: str  # the Optuna storage URL, as given (with its password: the script must carry it)
    tracking_uri: str

    def shown(self) -> tuple[str, str]:
        """The two URLs as printed: passwords masked."""
        return redact_uri(self.storage), redact_uri(self.tracking_uri)


@dataclass(frozen=True)
class Workers:
    """What each of the N workers gets, on either engine."""
    count: int
    gpus: int = 0
    cpus: int | None = None  # also the worker's torch threads

    def __post_init__(self):
        if self.count < 1:
            raise LaunchError(f"--workers must be at least 1 (given: {self.count})")
        if self.gpus < 0 or (self.cpus is not None and self.cpus < 1):
            raise LaunchError(f"--gpus-per-worker must be >= 0 and --cpus-per-worker >= 1 (given: {self.gpus}, "
                              f"{self.cpus})")

    def worker_flags(self) -> list[str]:
        return ["--wait-seconds", str(WAIT_SECONDS)] + (["--threads", str(self.cpus)] if self.cpus else [])


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def shared_stores(storage: str | None, tracking_uri: str | None) -> Stores:
    """The flags, else $ABLATE_STORAGE and $MLFLOW_TRACKING_URI (as every command reads them); refused unless
    both are servers: a worker on another machine cannot see this machine's journal file or mlflow.db."""
    storage = storage or os.environ.get("ABLATE_STORAGE") or ""
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    problems = []
    if _scheme(storage) not in SHARED_STORAGE:
        given = redact_uri(storage) if storage else "none: the default is the journal file optuna.journal"
        problems.append(f"the Optuna storage must be a database server every worker can reach (given: {given}); "
                        "a journal or SQLite file lives on this machine's disk, and workers on other machines "
                        "would each see their own (or none). Pass --storage postgresql://USER:PASS@DBHOST/ablate_optuna "
                        "(or set $ABLATE_STORAGE)")
    if _scheme(tracking_uri) in LOCAL_TRACKING:
        given = redact_uri(tracking_uri) if tracking_uri else "none: the default is sqlite:///mlflow.db"
        problems.append(f"the MLflow tracking store must be a server every worker can reach (given: {given}); a "
                        "SQLite file or mlruns folder is local to this machine. Pass --tracking-uri "
                        "http://MLFLOW_HOST:5000 (or set $MLFLOW_TRACKING_URI); README 'Many machines' starts one")
    if problems:
        raise LaunchError("launch refused, nothing written or submitted:\n  " + "\n  ".join(problems))
    return Stores(storage, tracking_uri)


def engine_command(name: str, without: str) -> str:
    """The engine's command on PATH, or a refusal (nothing written) that says how to go without it."""
    found = shutil.which(name)
    if found is None:
        raise LaunchError(f"`{name}` is not on PATH, so nothing can be submitted from here and nothing was "
                          f"written; run this where `{name}` is, or {without}")
    return found


def beside(study_path: str, suffix: str) -> Path:
    """Where the generated file goes: beside the study, named after it (studies/x.yaml -> studies/x.slurm.sh)."""
    path = Path(study_path)
    return path.with_name(path.name.rsplit(".", 1)[0] + suffix)


def write_private(path: Path, text: str) -> None:
    """Written readable by its owner only: it carries the store URLs, passwords included."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
