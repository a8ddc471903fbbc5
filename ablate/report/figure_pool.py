"""The figure processes: figures drawn in forked processes while the statistics go on in the report's own,
and the one way a figure becomes PNG text (figure_png), here or there. page.figure_block is its caller.

A leaf of the report (it imports only figures/style, to warm matplotlib up before the fork)."""

from __future__ import annotations

import base64
import contextlib
import gc
import io
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from ablate.procs import die_with_parent


def figure_png(fig: Figure, dpi: int = 100) -> str:
    """Figure -> base64 PNG text (zlib level 3: a third faster to encode than the default 6, ~5% larger)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, pil_kwargs={"compress_level": 3})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class _Inherited:
    """Stands for an argument the pool's processes already hold: they were forked after it was shared."""

    key: int


_SHARED: dict[int, Any] = {}  # what parallel_figures shares with its processes (they inherit it at fork)


def render(fn: Callable[..., Figure], *args) -> str:
    """Draw one figure here (in a figure process, or inline) as base64 PNG text."""
    args = tuple(_SHARED[a.key] if isinstance(a, _Inherited) else a for a in args)  # KeyError: drawn inline
    return figure_png(fn(*args))


_pools: list[ProcessPoolExecutor] = []  # the pool parallel_figures opened, while it is open


def draw(fn: Callable[..., Figure], *args) -> str | Future:
    """The figure's PNG text: a Future of it while parallel_figures' pool is open (a shared argument is
    sent as a token), else drawn here now."""
    if not _pools:
        return render(fn, *args)
    sent = tuple(_Inherited(id(a)) if _SHARED.get(id(a)) is a else a for a in args)
    return _pools[-1].submit(render, fn, *sent)


@contextlib.contextmanager
def parallel_figures(*shared: Any):
    """Draw the figures in forked processes while the statistics go on here: drawing (layout, rasterizing,
    PNG encoding) is most of a report's time, and each figure is independent of the others. One process
    per core beyond this one's; none on one core or where fork is missing (figures are then drawn inline).

    `shared` (the Results) is not sent with every figure: the processes are forked at the first figure,
    after it is registered here, so they inherit it (a 32-cell study's Results pickles to ~1.2 MB, which
    each of a dozen figures would otherwise pay to send and unpickle). A tiny figure is drawn before the
    fork for the same reason (_warm_up)."""
    processes = figure_processes()
    if processes < 1:
        yield
        return
    _warm_up()
    keys = [id(obj) for obj in shared]
    _SHARED.update(zip(keys, shared, strict=True))
    # every object alive now is left out of garbage collection until the pool closes (Python's advice for a
    # process about to fork): a collection in a process would walk, and so copy, all its inherited objects
    # (torch and MLflow's too, in `ablate run`), and the ones here walk them on every full collection
    gc.freeze()
    try:
        # a figure process exits with its report process (a SIGKILL mid-report): procs.die_with_parent
        with ProcessPoolExecutor(max_workers=processes, mp_context=mp.get_context("fork"),
                                 initializer=die_with_parent, initargs=(os.getpid(), 1)) as pool:
            _pools.append(pool)
            try:
                yield
            finally:
                _pools.remove(pool)
    finally:
        gc.unfreeze()
        for key in keys:
            _SHARED.pop(key, None)


def figure_processes() -> int:
    """How many figure processes a report forks: one per core up to 4, none on one core or where fork is
    missing; $ABLATE_FIGURE_PROCESSES sets it (0: every figure drawn inline, as the fast test layers do)."""
    if "fork" not in mp.get_all_start_methods():
        return 0
    raw = os.environ.get("ABLATE_FIGURE_PROCESSES", "").strip()
    cores = os.cpu_count() or 1
    return int(raw) if raw.isdigit() else min(cores, 4) if cores >= 2 else 0


def _warm_up() -> None:
    """Draw a tiny figure here before the fork: the processes inherit a warm matplotlib (the Agg backend
    and PIL's PNG plugin imported, the font loaded, the style's first lookups done), ~50 ms once here
    instead of ~0.2 s in each process's first figure."""
    from ablate.report.figures.style import style

    with style():
        fig = Figure(figsize=(1, 1))
        ax = fig.subplots()
        ax.set_title("warm-up")
        ax.plot([0, 1], [0, 1])
        ax.fill_between([0, 1], [0, 1])
        fig.savefig(io.BytesIO(), format="png", dpi=10)
