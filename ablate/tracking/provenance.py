"""Where and from what a run came: the git commit, the package versions, the machine and the worker.

Plain facts about this process (no MLflow here); the writer puts them on the parent and cell records so a
report can say what produced its numbers.
"""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata

VERSIONED = ("ablate", "torch", "torchvision", "mlflow", "optuna", "pandas", "numpy", "scipy", "pydantic")


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {}
    for pkg in VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores {platform.system()}"


def worker() -> str:
    """host:pid of this process, the worker that ran a cell."""
    return f"{platform.node()}:{os.getpid()}"
