"""The GPU check behind benchmarks/gpu_check.sh: a cut-down cifar_ablation on synthetic CIFAR-shaped data.

Prints, per precision, the framework's epoch seconds and img/s beside the bare loop's (ratio measured side by
side), an all-hooks cell (augment, dropout, batchnorm, l2, grad_clip), the host syncs inside the step loop
(CUDA only; expected: 1 per epoch, the epoch's loss sum), and train.compile's warm-up versus its reuse by
the next cell of the same shape, then 1, 2, 4 and 8 cells training at once on the device (gpu_concurrent.py)
and the projected wall time of studies/cifar_ablation.yaml. Sized to finish in under 8 minutes on an
H100-class GPU. Without CUDA (or with GPU_CHECK_SIZE=tiny) it is the smoke mode: tiny sizes, 1 and 2
concurrent cells, no torch.compile (GPU_CHECK_COMPILE=1 adds it), well under a minute; a test runs it.
Needs torch, numpy, pyyaml and pydantic; mlflow and optuna only for the closing `ablate run` line.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from common import cells, cifar_study, side_by_side, synthetic_cifar  # noqa: E402
from figures_train import _bare_epochs, _fit_epochs  # noqa: E402
from gpu_concurrent import report as concurrency  # noqa: E402

from ablate.loop import Loop  # noqa: E402

CUDA = torch.cuda.is_available()
TINY = os.environ.get("GPU_CHECK_SIZE") == "tiny" or not CUDA
N_TRAIN, WIDTH, BATCH, EPOCHS = (200, 4, 64, 2) if TINY else (45000, 64, 128, 4)
REPS = 1 if TINY else 2
CONCURRENT = (1, 2) if TINY else (1, 2, 4, 8)
ALL_HOOKS = {"augment": {"crop": 4, "flip": True, "rotation": 20, "zoom": 0.15}, "dropout": {"p": 0.5},
             "batchnorm": {}, "l2": {"lambda": 1e-4}}


def line(text: str) -> None:
    print(text, flush=True)


def study(npz: Path, precision: str, **kw) -> dict:
    return cifar_study(npz, width=WIDTH, batch=BATCH, epochs=EPOCHS, precision=precision, **kw)


def compare(npz: Path, precision: str) -> None:
    from ablate.data import DATASETS

    cell = cells(study(npz, precision))[0]
    data = DATASETS.get("npz").load(cell.study.data)
    n = len(data.y_train)
    fw, bare = side_by_side(lambda: statistics.median(_fit_epochs(cell)),
                            lambda: statistics.median(_bare_epochs(cell, data)), REPS)
    line(f"{precision}: framework epoch {fw:.3f} s ({n / fw:,.0f} img/s) vs bare loop {bare:.3f} s "
         f"({n / bare:,.0f} img/s): ratio {fw / bare:.3f}")


def all_hooks(npz: Path) -> None:
    """The heaviest cell of the cut-down study, with the host syncs of its step loops counted."""
    raw = study(npz, "bf16", factors=ALL_HOOKS)
    raw["always"] = {"grad_clip": {"max_norm": 1.0}}
    cell = [c for c in cells(raw) if len(c.active()) == len(ALL_HOOKS) + 1][0]
    inner, syncs = Loop.train_epoch, []

    def counted(*a, **k):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                return inner(*a, **k)
            finally:
                torch.cuda.set_sync_debug_mode("default")
                syncs.append(sum("synchroniz" in str(w.message) for w in caught))

    if CUDA:
        Loop.train_epoch = counted
    try:
        sec = statistics.median(_fit_epochs(cell))
    finally:
        Loop.train_epoch = inner
    from ablate.data import DATASETS

    n = len(DATASETS.get("npz").load(cell.study.data).y_train)
    sync = f"host syncs per epoch in the step loop: {syncs} (1 = the epoch's loss sum)" if CUDA else "(no CUDA)"
    line(f"all hooks ({cell.arm.name} + grad_clip), bf16: epoch {sec:.3f} s ({n / sec:,.0f} img/s); {sync}")


def compiled(npz: Path) -> None:
    from ablate.data import DATASETS

    cs = cells(study(npz, "bf16", compile=True, seeds=2))[:2]
    n = len(DATASETS.get("npz").load(cs[0].study.data).y_train)
    t0 = time.perf_counter()
    first = _fit_epochs(cs[0])
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = _fit_epochs(cs[1])
    reuse = time.perf_counter() - t0
    eager = statistics.median(_fit_epochs(cells(study(npz, "bf16"))[0]))
    sec = statistics.median(first + second)
    line(f"compile (bf16): first cell {warm:.1f} s (compiles), next cell of the same shape {reuse:.1f} s "
         f"(reuses it); compiled epoch {sec:.3f} s ({n / sec:,.0f} img/s) vs eager {eager:.3f} s")


def full_run(npz: Path, tmp: Path) -> None:
    try:
        import mlflow  # noqa: F401
        import optuna  # noqa: F401
    except ImportError:
        line("ablate run: skipped (mlflow/optuna not installed here; the lines above are the training path)")
        return
    from ablate.orchestrate import run_study
    from ablate.validate import validate_study

    factors = {"dropout": {"p": 0.5}} if TINY else {"augment": ALL_HOOKS["augment"], "dropout": {"p": 0.5}}
    raw = study(npz, "bf16" if CUDA else "fp32", factors=factors, name="gpu_check")
    os.chdir(tmp)
    t0 = time.perf_counter()
    s = run_study(validate_study(raw), report=False, quiet=True)
    line(f"ablate run ({s.total} arms x 1 seed, {EPOCHS} epochs, {raw['train']['precision']}): "
         f"{s.finished}/{s.total} cells in "
         f"{time.perf_counter() - t0:.1f} s, stores created included")


def main() -> None:
    if not CUDA:
        torch.set_num_threads(1)  # the smoke mode checks the script: one thread stays fast on a busy machine
    dev = torch.cuda.get_device_name() if CUDA else "cpu"
    line(f"# gpu_check on {dev}, torch {torch.__version__}; {N_TRAIN} CIFAR-shaped images (90% train), "
         f"cnn width {WIDTH}, batch {BATCH}, {EPOCHS} epochs; epoch = median of epochs 2.., warm-up dropped")
    with tempfile.TemporaryDirectory() as tmp:
        npz = synthetic_cifar(Path(tmp) / "cifar.npz", N_TRAIN, N_TRAIN // 10)
        compare(npz, "fp32")
        compare(npz, "bf16")
        all_hooks(npz)
        if os.environ.get("GPU_CHECK_COMPILE", "0" if TINY else "1") != "0":
            compiled(npz)
        full_run(npz, Path(tmp))
        # bf16 + channels_last on a GPU (where they are neutral to the results and faster), fp32 on a CPU
        raw = study(npz, "bf16" if CUDA else "fp32", channels_last=True, name="gpu_concurrent")
        concurrency(raw, int(N_TRAIN * 0.9), CONCURRENT, line)


if __name__ == "__main__":
    main()
