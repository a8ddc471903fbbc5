"""Shared pieces of the benchmarks: synthetic CIFAR-shaped data, study files, side-by-side timing.

Timings on a shared machine are noisy, so every ratio is measured side by side: the two sides alternate
(A B B A A B ...) within one process and the ratio is of the medians, so a burst of load hits both sides.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")  # tiny sizes: checks the scripts, not the figures


def synthetic_cifar(path: Path, n_train: int, n_test: int, seed: int = 0, size: int = 32) -> Path:
    """A CIFAR-10-shaped .npz (uint8 NHWC, 10 classes) with a class signal, so training is not degenerate."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 256, (n, size, size, 3), dtype=np.int16)
        x[np.arange(n), : size // 2, :, y % 3] += (y * 8)[:, None, None]  # a weak per-class brightness cue
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    (xt, yt), (xs, ys) = split(n_train), split(n_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=xt, y_train=yt, x_test=xs, y_test=ys)
    return path


def cifar_study(npz: Path, *, width: int, batch: int, epochs: int, precision: str = "fp32",
                channels_last: bool | None = None, name: str = "bench", device: str = "auto",
                factors: dict | None = None, seeds: int = 1, compile: bool = False) -> dict:
    """A cut-down cifar_ablation on the npz dataset (the design's factors default to one cheap factor)."""
    train = {"epochs": epochs, "optimizer": "adam", "lr": 1e-3, "precision": precision, "device": device,
             "compile": compile}
    if channels_last is not None:
        train["channels_last"] = channels_last
    return {"name": name, "model": {"name": "cnn", "width": width},
            "data": {"name": "npz", "path": str(npz), "val_fraction": 0.1, "batch_size": batch},
            "train": train, "metric": {"name": "test_acc"}, "factors": factors or {"l2": {"lambda": 1e-4}},
            "design": "full_factorial", "seeds": seeds}


def write_yaml(path: Path, study: dict) -> Path:
    path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return path


def cells(study: dict):
    from ablate.validate import validate_study

    return validate_study(study, source="<bench>").cells()


def side_by_side(a: Callable[[], float], b: Callable[[], float], reps: int) -> tuple[float, float]:
    """Median of a() and of b() over reps alternating rounds (ABBA order); each call returns seconds."""
    ta, tb = [], []
    for i in range(reps):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        x, y = first(), second()
        (ta, tb)[i % 2].append(x)
        (tb, ta)[i % 2].append(y)
    return statistics.median(ta), statistics.median(tb)


def best_of(a: Callable[[], list[float]], b: Callable[[], list[float]], reps: int) -> tuple[float, float, float]:
    """The fastest sample of a() and of b() over reps alternating rounds (ABBA); each call returns a list of
    seconds (e.g. its epochs). On a shared machine load only ever adds time, so the minimum is each side's
    figure. The ratio is the median over rounds of a's fastest / b's fastest in that round: the two sides of
    one round ran seconds apart, while the two overall minima may come from different minutes of a VM whose
    speed drifts (a's overall-minimum ratio read 0.96, 1.30 and 1.04 in one afternoon; bare loop 3.15-3.85 s)."""
    ta: list[float] = []
    tb: list[float] = []
    ratios: list[float] = []
    for i in range(reps):
        round_a, round_b = [], []
        for fn, out in ((a, round_a), (b, round_b)) if i % 2 == 0 else ((b, round_b), (a, round_a)):
            out.extend(fn())
        ta.extend(round_a)
        tb.extend(round_b)
        ratios.append(min(round_a) / min(round_b))
    return min(ta), min(tb), statistics.median(ratios)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def load_avg() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"
