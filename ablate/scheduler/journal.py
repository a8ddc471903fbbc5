"""The default Optuna storage, a journal file, opened so that no fault of the file stops a study for ever.

Optuna appends one JSON line per storage write, under a lock file. Three faults used to stop every later
run: a last line torn by a kill or a full disk (JSONDecodeError on every read after the next append), a
lock file left by a process killed while holding it (a ~30 s stall on every open), and damage earlier in
the file (a traceback with no advice). Here a torn last line (no newline), which by construction was never
committed (Optuna skips it), is dropped with a notice; a lock whose holder is dead is removed at once; and
damage in any complete line, the last one included, is one message naming the line and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
import uuid

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from ablate import faults
from ablate.errors import AblateError
from ablate.scheduler import liveness

GRACE_SECONDS = 30  # a lock whose holder cannot be checked (another machine, an empty file): Optuna's wait
TAIL_BYTES = 1 << 16


class OwnedLock(JournalFileOpenLock):
    """Optuna's O_EXCL lock file, holding its owner (host, pid, process start), so a lock whose owner died
    on this machine is broken at once; other locks (another machine's, Optuna's own empty ones) are broken
    after GRACE_SECONDS unchanged, as Optuna does."""

    def __init__(self, filepath: str) -> None:
        super().__init__(filepath, grace_period=GRACE_SECONDS)
        pid = os.getpid()
        self._owner = f"{liveness._host()}\n{pid}\n{liveness.proc_start(pid)}\n".encode()

    def acquire(self) -> bool:
        sleep, mtime, since = 0.001, None, time.monotonic()
        while True:
            try:
                fd = os.open(self._lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    now = os.stat(self._lock_file).st_mtime
                except OSError:
                    continue  # released meanwhile
                if now != mtime:
                    mtime, since = now, time.monotonic()
                if self._holder_dead() or time.monotonic() - since > GRACE_SECONDS:
                    with contextlib.suppress(RuntimeError):
                        self.release()
                    continue
                time.sleep(sleep)
                sleep = min(sleep * 2, 0.1)
                continue
            try:
                os.write(fd, self._owner)
            finally:
                os.close(fd)
            return True

    def _holder_dead(self) -> bool:
        try:
            with open(self._lock_file, "rb") as f:
                host, pid, start = (f.read(512).decode(errors="replace").split("\n") + ["", "", ""])[:3]
        except OSError:
            return False
        if host != liveness._host() or not pid.isdigit():
            return False  # another machine's, or not written yet: only the grace period can tell
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return (bool(start) and start != liveness.proc_start(int(pid))) or liveness.is_zombie(int(pid))


def open_journal(path: str) -> JournalStorage:
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        _create_whole(path)
        lock = OwnedLock(path)
        with _held(lock):
            _drop_torn_tail(path)
        storage = JournalStorage(JournalFileBackend(path, lock_obj=lock))
    except OSError as e:
        why = faults.describe(e) or str(e)
        raise AblateError(f"cannot use the Optuna journal {path} ({why}); choose a writable place "
                          "(--storage PATH or $ABLATE_STORAGE)") from None
    except ValueError as e:  # json.JSONDecodeError included: damage before the last line
        raise AblateError(_damaged(path, e)) from None
    faults.opened("Optuna", path)
    return storage


@contextlib.contextmanager
def _held(lock: OwnedLock):
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _create_whole(path: str) -> None:
    """A new journal appears whole: made empty under a temporary name, then linked into place (a link
    fails if another process made it first, so nobody's journal is ever replaced)."""
    if os.path.lexists(path):
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file", path)
        return
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    open(tmp, "xb").close()
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _drop_torn_tail(path: str) -> None:
    """A last line without its newline was cut short while being written (a kill, a full disk): Optuna never
    read it as a record, so it is dropped before anything is appended after it. A last line that ends with its
    newline was committed (Optuna replays it): if it is not a record, the journal is damaged and refused like
    damage in any other line; dropping it would forget a finished cell and train it again."""
    size = os.path.getsize(path)
    if size == 0:
        return
    with open(path, "rb+") as f:
        start = max(0, size - TAIL_BYTES)
        f.seek(start)
        tail = f.read()
        if tail.endswith(b"\n"):
            cut = tail[:-1].rfind(b"\n")
            if (cut >= 0 or start == 0) and not _is_json(tail[cut + 1:]):
                raise ValueError("the last line, which ends with its newline, is not a valid record")
            return
        cut = tail.rfind(b"\n")
        if cut < 0 and start > 0:
            return  # a last line longer than the tail read: leave it to Optuna
        keep = start + cut + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    print(f"ablate: dropped a half-written last record of {path} ({size - keep} bytes): it was never "
          "committed", file=sys.stderr)


def _is_json(line: bytes) -> bool:
    """An Optuna journal record: a JSON object with its op code (a flipped byte that keeps JSON valid but
    breaks the record's shape would otherwise reach Optuna's replay as a KeyError)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and isinstance(record.get("op_code"), int) and "worker_id" in record


def _damaged(path: str, e: Exception) -> str:
    line = _first_bad_line(path)
    where = f"line {line} is not a valid record" if line else f"it cannot be read ({e})"
    return (f"the Optuna journal {path} is damaged: {where}. Restore it from a backup; or move it aside "
            f"(mv {path} {path}.broken) and run again: the cells MLflow holds as finished are adopted, "
            "not trained again")


def _first_bad_line(path: str) -> int | None:
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n") or not _is_json(line):
                return number
    return None
