"""`make bench`: prints the figures of issues 5 and 15, one line each, every ratio measured side by side.

Usage: python benchmarks/run_all.py [a b c ...]   (default: all); BENCH_QUICK=1 for tiny sizes (checks the
scripts, the figures are then meaningless); BENCH_THREADS=N sets torch's threads in each figure's process
(figures a, b, c, f). Never run by the tests. On a loaded machine torch's threads wait on each other (2
threads on 2 busy cores ran augmentation 16x slower than 1 thread here), so run it on a quiet machine.

Each figure runs in its own process under a time budget (BUDGET_S, scaled by BENCH_BUDGET_SCALE): its line is
printed the moment it completes, and a figure that overruns is stopped with a line saying so, so one stall
(figure f's bf16 steps on a CPU without native bf16 once took over 11 minutes) never hangs the whole bench.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUICK, load_avg  # noqa: E402

FIGURES = {"a": ("figures_train", "fig_a"), "b": ("figures_train", "fig_b"), "c": ("figures_train", "fig_c"),
           "d": ("figures_runs", "fig_d"), "e": ("figures_runs", "fig_e"), "f": ("figures_train", "fig_f"),
           "g": ("figures_runs", "fig_g"), "h": ("figures_report", "fig_h")}
# seconds each figure may take on a quiet 2-core machine (sum 720 s: the whole bench within 12 minutes; e
# printed its line at 60 s on a slow afternoon, so it has 90, taken from a and c, which finish in ~70 s)
BUDGET_S = {"a": 110, "b": 45, "c": 100, "d": 120, "e": 90, "f": 45, "g": 90, "h": 120}


def _one(name: str) -> int:
    """Compute one figure in this process and print its line (the child side of main)."""
    import importlib

    import torch

    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    module, fn = FIGURES[name]
    line = getattr(importlib.import_module(module), fn)()
    print(f"{line} ({load_avg().replace('load average', 'load')})", flush=True)
    return 0


def _run(name: str, budget: float) -> tuple[bool, float]:
    """The figure in a child process (its own session, so its `ablate run`s stop with it on a timeout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--one", name], start_new_session=True)
    try:
        ok = proc.wait(timeout=budget) == 0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"{name}. did not finish within its budget of {budget:.0f} s: stopped (no figure; "
              f"BENCH_BUDGET_SCALE=2 gives every figure twice as long) ({load_avg()})", flush=True)
        return False, time.perf_counter() - t0
    if not ok:
        print(f"{name}. failed (exit code {proc.returncode}; its error is above)", flush=True)
    return ok, time.perf_counter() - t0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        return _one(argv[1])
    wanted = argv or list(FIGURES)
    unknown = [w for w in wanted if w not in FIGURES]
    if unknown:
        print(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}", file=sys.stderr)
        return 2
    import torch

    threads = int(os.environ.get("BENCH_THREADS") or torch.get_num_threads())
    scale = float(os.environ.get("BENCH_BUDGET_SCALE") or 1.0)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{threads} threads{', BENCH_QUICK' if QUICK else ''}; {load_avg()}", flush=True)
    t0 = time.perf_counter()
    failed = [name for name in wanted if not _run(name, BUDGET_S[name] * scale)[0]]
    print(f"# {time.perf_counter() - t0:.0f} s (budget {sum(BUDGET_S[n] for n in wanted) * scale:.0f} s)"
          f"{'; not finished: ' + ' '.join(failed) if failed else ''}; {load_avg()}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
