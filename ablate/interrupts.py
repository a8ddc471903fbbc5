"""Ctrl-C and SIGTERM that are never lost.

Python raises KeyboardInterrupt from a signal handler at whatever bytecode the main thread runs next. When
that is a weakref callback or a `__del__` (the garbage collector and importlib's module locks run them on
the main thread), Python prints "Exception ignored in ..." and drops the exception, and the command trains
on. This was seen as a Ctrl-C that `ablate run --workers 2` ignored: its background thread was importing
the report's modules. The handler here also records the signal, and the training loop and the cell loop
call `check()`, so a dropped KeyboardInterrupt is raised again at the next batch.
"""

from __future__ import annotations

import signal
import threading

_pending: list[int] = []
_MAIN = threading.main_thread().ident


def _raise(signum, frame):
    _pending.append(signum)
    raise KeyboardInterrupt


def install() -> dict:
    """SIGTERM (a batch system's stop) and SIGINT, where Python's default handler has it (not where it is
    ignored, as under nohup, or a notebook's own), raise KeyboardInterrupt and are recorded. Returns the
    previous handlers for restore(); does nothing off the main thread, where signals cannot be set."""
    if threading.get_ident() != _MAIN:
        return {}
    _pending.clear()
    sigs = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        sigs.append(signal.SIGINT)
    return {s: signal.signal(s, _raise) for s in sigs}


def restore(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    _pending.clear()


def check() -> None:
    """Raise KeyboardInterrupt again if a signal came and its first one was dropped (main thread only: a
    thread's KeyboardInterrupt would stop the thread, not the command)."""
    if _pending and threading.get_ident() == _MAIN:
        raise KeyboardInterrupt
