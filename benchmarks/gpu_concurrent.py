"""Several cells on one device at once: aggregate img/s with 1, 2, 4, 8 concurrent worker processes, each
training its own cell as `ablate run --workers N` would (one process per cell, one device), with the
device memory each one holds checked against what the device has; then the projected wall time of
studies/cifar_ablation.yaml at the best concurrency.

A small CNN leaves a big GPU mostly idle (kernel launches, not arithmetic, bound its step), so processes
side by side fill the gaps: the figure says how many pay before they only contend.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CIFAR_TRAIN = 45000  # cifar_ablation's train split (50,000 x (1 - val_fraction 0.1))


def _cell_main(raw: dict, threads: int, ready, out) -> None:
    """One worker process: wait for the others (imports and CUDA start-up done), train the cell, report its
    timed epochs and memory."""
    import sys

    sys.path.insert(0, str(ROOT))
    from ablate.train import fit
    from ablate.validate import validate_study

    torch.set_num_threads(threads)
    cell = validate_study(raw, source="<gpu_check>").cells()[0]
    stamps: list[float] = []
    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")  # the CUDA context, before the common start
    ready.wait(timeout=300)  # every process starts its training together
    stamps.append(time.time())
    fit(cell, on_epoch=lambda e, n: stamps.append(time.time()))
    mem = torch.cuda.max_memory_reserved() if torch.cuda.is_available() else 0
    out.put((stamps, mem))


def concurrent(raw: dict, k: int, n_train: int) -> dict:
    """k processes, one cell each, started together; img/s over the epochs after each one's first."""
    ctx = mp.get_context("spawn")  # CUDA cannot be forked into children
    out = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // k)
    ready = ctx.Barrier(k)
    procs = [ctx.Process(target=_cell_main, args=(raw, threads, ready, out)) for _ in range(k)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    first = min(s[1] for s, _ in results)  # the end of the earliest first epoch
    last = max(s[-1] for s, _ in results)
    images = sum(n_train * (len(s) - 2) for s, _ in results)
    return {"k": k, "img_s": images / (last - first), "mem_gb": max(m for _, m in results) / 2**30}


def fits(k: int, per_process_gb: float) -> bool:
    """Whether k processes of the measured size fit the device's free memory (with 10% headroom)."""
    if not torch.cuda.is_available():
        return True
    free, _ = torch.cuda.mem_get_info()
    return k * per_process_gb * 2**30 * 1.1 + k * 0.5 * 2**30 < free  # + ~0.5 GB CUDA context each


def projected_minutes(img_s: float) -> tuple[float, int, int]:
    """cifar_ablation's wall time at img_s (every cell running all its epochs: early stopping only shortens)."""
    from ablate.validate import load_study

    study = load_study(ROOT / "studies" / "cifar_ablation.yaml")
    n_cells = len(study.cells())
    return n_cells * study.train.epochs * CIFAR_TRAIN / img_s / 60, n_cells, study.train.epochs


def report(raw: dict, n_train: int, ks: tuple[int, ...], line) -> None:
    """Measure each k that fits, print one line per k and the projection at the best."""
    rows = []
    for k in ks:
        if rows and not fits(k, rows[0]["mem_gb"]):
            line(f"concurrent cells {k}: skipped (k x {rows[0]['mem_gb']:.2f} GB would not fit the device)")
            continue
        r = concurrent(raw, k, n_train)
        rows.append(r)
        base = rows[0]["img_s"]
        line(f"concurrent cells {k}: {r['img_s']:,.0f} img/s in all ({r['img_s'] / base:.2f}x one cell), "
             f"peak device memory per process {r['mem_gb']:.2f} GB")
    best = max(rows, key=lambda r: r["img_s"])
    minutes, n_cells, epochs = projected_minutes(best["img_s"])
    one, _, _ = projected_minutes(rows[0]["img_s"])
    line(f"projected cifar_ablation ({n_cells} cells x {epochs} epochs x {CIFAR_TRAIN:,} images, no early stop): "
         f"{minutes:.0f} min with {best['k']} concurrent cells ({one:.0f} min one at a time)"
         f" (goal <= 30 min on an H100-class GPU: >= 72,000 img/s)")
