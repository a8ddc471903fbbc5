"""Input read within a budget: what a file may make ablate allocate is checked before it is allocated.

Why: a 1 kB .npz whose header declares 4e9 labels, a zip bomb, a gzip bomb, a FIFO, /dev/zero or a table of a
million rows each exhausted memory (or blocked for ever) before any rule could speak. Every reader of a user's
file goes through here: regular files only (never opened otherwise: a FIFO blocks the reader), declared and
decompressed sizes against a byte budget, tables against row and level limits. Each limit has a default and an
environment variable to raise it, and the message names the file, the limit and that variable.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from ablate.errors import AblateError

GIB = 1 << 30
DATA_BYTES = ("ABLATE_MAX_DATA_BYTES", 2 * GIB)  # what one data file may decode to (arrays, text)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class OverBudget(AblateError):
    """A file would need more than a limit allows; the message says how to raise the limit."""


def limit(spec: tuple[str, int]) -> int:
    """The limit `spec` = (environment variable, default): the variable's whole number when set, else the
    default. A variable that is not a positive whole number is an error naming it."""
    env, default = spec
    raw = os.environ.get(env, "").strip().replace("_", "")
    if not raw:
        return default
    try:
        value = int(float(raw)) if "e" in raw.lower() else int(raw)
    except (ValueError, OverflowError):
        value = 0
    if value < 1:
        raise AblateError(f"${env} must be a positive whole number (a limit), but got {os.environ[env]!r}")
    return value


def over(where: str, what: str, amount: int | str, spec: tuple[str, int], unit: str = "") -> OverBudget:
    """The error for `where` needing `amount` of `what`, over the limit `spec` names."""
    env, _ = spec
    cap = limit(spec)
    shown = _bytes(cap) if unit == "bytes" else f"{cap:,}"
    need = _bytes(amount) if unit == "bytes" and isinstance(amount, int) else (
        f"{amount:,}" if isinstance(amount, int) else amount)
    return OverBudget(f"{where}: {what} is {need}, over the limit of {shown}; if that is really meant, raise it "
                      f"with the environment variable {env} (e.g. {env}={cap * 4})")


def check_within(where: str, what: str, amount: int, spec: tuple[str, int], unit: str = "") -> None:
    if amount > limit(spec):
        raise over(where, what, amount, spec, unit)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def regular_file(path: Path, where: str, magic: tuple[bytes, ...] = (), kind: str = "") -> os.stat_result:
    """Refuse anything but a readable regular file (never opened: a FIFO would block the reader for ever)
    that starts with one of `magic` (when given); its stat."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AblateError(f"{where}: file {str(path)!r} does not exist") from None
    except OSError as e:
        raise AblateError(f"{where}: cannot look at {str(path)!r} ({e.strerror or e})") from None
    for test, what in _KINDS:
        if test(st.st_mode):
            raise AblateError(f"{where}: {str(path)!r} is {what}, not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise AblateError(f"{where}: cannot read {str(path)!r} ({e.strerror or e})") from None
    if magic and not head:
        raise AblateError(f"{where}: {str(path)!r} is empty (it should be {kind})")
    if magic and not head.startswith(magic):
        raise AblateError(f"{where}: {str(path)!r} is not {kind} (it starts with {head.hex(' ')})")
    return st


class CappedReader(io.RawIOBase):
    """A binary stream that raises OverBudget once more than `spec`'s limit has been read from `raw` (a
    gzip stream: its decompressed size is known only by reading it)."""

    def __init__(self, raw, where: str, spec: tuple[str, int] = DATA_BYTES):
        self.raw, self.where, self.spec, self.cap, self.done = raw, where, spec, limit(spec), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self.cap + 1 - self.done)
        data = self.raw.read(max(want, 1))
        self.done += len(data)
        if self.done > self.cap:
            raise over(self.where, "its decompressed size", f"more than {_bytes(self.cap)}", self.spec)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()
