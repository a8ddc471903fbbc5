"""This machine's processes, as /proc tells them (a zombie, a stopped one, a start time), and a child that
dies with its parent. Standard library only: the report's figure processes and the scheduler's liveness
checks both use it, and neither may pull in what the other imports."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def pid_exists(pid: int) -> bool | None:
    """Whether a process with this pid exists on this machine; None where that cannot be told (another
    user's process, a bad pid), which callers take as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return None
    return True


def proc_start(pid: int) -> str:
    """The process's start time in clock ticks (Linux), so a reused pid is not mistaken for the worker."""
    return _proc_field(pid, 19)


def _proc_field(pid: int, index: int) -> str:
    """A field of /proc/<pid>/stat after the command name (0: state, 19: start time); '' elsewhere."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[index]
    except (OSError, IndexError):
        return ""


def is_zombie(pid: int) -> bool:
    """The process ended but nobody reaped it yet (a container without an init, a parent not yet waiting)."""
    return _proc_field(pid, 0) in ("Z", "X")


def is_stopped(pid: int) -> bool:
    """Stopped by a signal (SIGSTOP, SIGTSTP) or a debugger: alive, yet running nothing until resumed."""
    return _proc_field(pid, 0) in ("T", "t")


def die_with_parent(parent: int, code: int) -> None:
    """This process exits (os._exit(code)) within half a second of `parent`'s death, a SIGKILL included.

    A local worker of a killed `ablate run` stops (its cell is retried on resume) instead of running on
    unseen; a figure process of a killed report stops instead of waiting forever on a queue it holds open
    itself, keeping the parent's output pipes open (a caller reading them until they close, as
    `subprocess.run` does, would hang). `parent` may be a grandparent: a worker's direct parent is the fork
    server, which ends with it; the direct parent changing (this process reparented) counts as a death too.
    """
    direct = os.getppid()

    def alive() -> bool:  # a killed parent not yet reaped is a zombie: gone for this purpose
        if os.name == "nt":  # os.kill(pid, 0) there sends CTRL_C_EVENT; spawned workers: getppid suffices
            return os.getppid() == direct
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return not is_zombie(parent) and os.getppid() == direct  # no /proc (macOS): never a zombie there

    def watch() -> None:
        while alive():
            time.sleep(0.5)
        os._exit(code)

    threading.Thread(target=watch, name="ablate-parent-watch", daemon=True).start()
