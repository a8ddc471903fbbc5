"""`make bench`: prints the seven figures of issue 5, one line each, every ratio measured side by side.

Usage: python benchmarks/run_all.py [a b c ...]   (default: all); BENCH_QUICK=1 for tiny sizes (checks the
scripts, the figures are then meaningless); BENCH_THREADS=N sets torch's threads in this process (figures
a, b, c, f). Never run by the tests. On a loaded machine torch's threads wait on each other (2 threads on 2
busy cores ran augmentation 16x slower than 1 thread here), so run it on a quiet machine.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures_runs  # noqa: E402
import figures_train  # noqa: E402
import torch  # noqa: E402
from common import QUICK, load_avg  # noqa: E402

FIGURES = {"a": figures_train.fig_a, "b": figures_train.fig_b, "c": figures_train.fig_c, "d": figures_runs.fig_d,
           "e": figures_runs.fig_e, "f": figures_train.fig_f, "g": figures_runs.fig_g}


def main(argv: list[str]) -> int:
    wanted = argv or list(FIGURES)
    unknown = [w for w in wanted if w not in FIGURES]
    if unknown:
        print(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}", file=sys.stderr)
        return 2
    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads{', BENCH_QUICK' if QUICK else ''}; {load_avg()}", flush=True)
    t0 = time.perf_counter()
    for name in wanted:
        print(f"{FIGURES[name]()} ({load_avg().replace('load average', 'load')})", flush=True)
    print(f"# {time.perf_counter() - t0:.0f} s; {load_avg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
