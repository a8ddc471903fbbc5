"""Figures a, b, c, f: the training loop against a bare loop, augmentation, logging cost, precision.

Each returns one printed line. Epochs are timed from outside the framework (between its on_epoch calls, so
logging and metrics are inside the interval) and the first epoch of every run is dropped (warm-up).
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import bare_loop
import torch
from common import QUICK, best_of, cells, cifar_study, side_by_side, synthetic_cifar

# the workload: a cut-down cifar_ablation (CIFAR-shaped data, the same CNN) that fits a 2-core machine
# (~3-4 s epochs on 2 cores: 6 runs per figure fit its budget, and each round's best of 2-3 epochs per side
# is steadier than one of fewer, longer ones on a machine whose epoch times vary by ~10%)
SIZE = dict(n_train=700, width=8, batch=64, epochs=2) if QUICK else dict(n_train=1500, width=32, batch=128, epochs=3)
SIZE_C = dict(n_train=700, epochs=2) if QUICK else dict(n_train=1200, epochs=4)  # c: many short epochs
REPS = 2 if QUICK else 3
STEP_BUDGET_S = 4.0  # figure f: at most this long per timed call (>= 1 step)


def _workload(tmp: Path, precision: str = "fp32", name: str = "bench", n_train: int | None = None,
              epochs: int | None = None):
    npz = synthetic_cifar(tmp / "cifar.npz", n_train or SIZE["n_train"], 500)
    study = cifar_study(npz, width=SIZE["width"], batch=SIZE["batch"], epochs=epochs or SIZE["epochs"],
                        precision=precision, name=name)
    from ablate.data import DATASETS

    cell = cells(study)[0]  # the baseline arm: no regularizer, like the bare loop
    return cell, DATASETS.get("npz").load(cell.study.data)


def _fit_epochs(cell, logger=None) -> list[float]:
    """Seconds of epochs 2.. as seen from outside fit (metrics, hooks and logging included)."""
    from ablate.train import fit

    stamps = [time.perf_counter()]
    fit(cell, logger, on_epoch=lambda e, n: stamps.append(time.perf_counter()))
    return [b - a for a, b in zip(stamps[1:], stamps[2:])]


def _bare_epochs(cell, data) -> list[float]:
    from ablate.train import resolve_device

    t = cell.study.train
    return bare_loop.train(data.x_train, data.y_train, data.x_val, data.y_val, data.mean, data.std,
                           width=cell.study.model.width, batch=cell.study.data.batch_size, epochs=t.epochs,
                           lr=t.lr, bf16=t.precision == "bf16", channels_last=t.channels_last is not False,
                           eval_batch=t.eval_batch_size, device=resolve_device(t.device))[1:]


def fig_a() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cell, data = _workload(Path(tmp))
        fw, bare, ratio = best_of(lambda: _fit_epochs(cell), lambda: _bare_epochs(cell, data), REPS)
    n = len(data.y_train)
    return (f"a. framework epoch / bare PyTorch loop epoch: {ratio:.3f} (goal <= 1.05) "
            f"[median over {REPS} alternating rounds of each side's best of {SIZE['epochs'] - 1} epochs; best "
            f"overall {fw:.2f} s vs {bare:.2f} s; {n} CIFAR-shaped images, cnn width {SIZE['width']}, "
            f"batch {SIZE['batch']}, fp32, channels_last, {n / fw:.0f} img/s]")


def fig_b() -> str:
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms as T

    from ablate.regularizers.augment import augment_batch

    n, bs = (512, 128) if QUICK else (5000, 128)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    mean, std = torch.tensor([0.49, 0.48, 0.45]), torch.tensor([0.25, 0.24, 0.26])
    tv = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                    T.RandomAffine(degrees=20, scale=(0.85, 1.15)), T.ToTensor(), T.Normalize(mean, std)])
    to_pil = T.ToPILImage()

    class Images(Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return tv(to_pil(x[i])), 0

    def per_sample() -> float:
        t0 = time.perf_counter()
        for _ in DataLoader(Images(), batch_size=bs, shuffle=True, num_workers=0):
            pass
        return time.perf_counter() - t0

    scale, shift = (1 / (255 * std)).view(1, -1, 1, 1), (mean / std).view(1, -1, 1, 1)

    def batched() -> float:
        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        for idx in torch.randperm(n, generator=gen).split(bs):
            xb = x[idx].float().mul_(scale).sub_(shift)
            augment_batch(xb, gen, crop=4, flip=True, rotation=20, zoom=0.15)
        return time.perf_counter() - t0

    slow, fast = side_by_side(per_sample, batched, REPS)
    return (f"b. batched tensor augmentation / torchvision per-sample DataLoader, throughput: {slow / fast:.1f}x "
            f"(goal >= 4x) [{n / fast:,.0f} vs {n / slow:,.0f} img/s; crop 4 + flip + rotation 20 + zoom 0.15, "
            f"normalized, batch {bs}, DataLoader num_workers=0]")


class _TimedLogger:
    """An MlflowLogger whose calls are also timed on their own: per epoch (log_epoch) and once per cell."""

    def __init__(self, inner):
        self.inner, self.seconds, self.cell_seconds = inner, [], 0.0

    def log_epoch(self, epoch, metrics):
        t0 = time.perf_counter()
        self.inner.log_epoch(epoch, metrics)
        self.seconds.append(time.perf_counter() - t0)

    def log_final(self, metrics, artifacts):
        t0 = time.perf_counter()
        self.inner.log_final(metrics, artifacts)
        self.cell_seconds += time.perf_counter() - t0

    def set_tags(self, tags):
        t0 = time.perf_counter()
        self.inner.set_tags(tags)
        self.cell_seconds += time.perf_counter() - t0


@contextlib.contextmanager
def _metric_timer(seconds: list[float]):
    """Time fit's per-epoch metric computation (evaluation + weight statistics), which runs with tracking on
    and off alike: its share of an epoch is printed so that a regression there is not blamed on MLflow."""
    import ablate.train as train

    real = train._epoch_metrics, train.weight_stats

    def timing(fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            seconds.append(time.perf_counter() - t0)
            return out
        return wrapper

    train._epoch_metrics, train.weight_stats = timing(real[0]), timing(real[1])
    try:
        yield
    finally:
        train._epoch_metrics, train.weight_stats = real


def fig_c() -> str:
    """Best-of-N epochs with tracking on and off, alternating in one process on the same cell. The split:
    logging = the logger's calls themselves; metrics = per-epoch evaluation and weight statistics (computed
    on both sides: history, early stopping and the record need them); other = what remains of on - off."""
    from ablate.tracking import Tracker

    with tempfile.TemporaryDirectory() as tmp:
        cell, _ = _workload(Path(tmp), name="bench_c", **SIZE_C)
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db")
        parent = tracker.start_parent(cell.study)
        log_s: list[float] = []
        cell_log_s: list[float] = []
        metric_s: list[float] = []

        def logged() -> list[float]:
            logger = _TimedLogger(tracker.logger(tracker.start_cell(parent, cell, 0)))
            with _metric_timer(metric_s):
                epochs = _fit_epochs(cell, logger)
            log_s.extend(logger.seconds)
            cell_log_s.append(logger.cell_seconds)
            return epochs

        on, off, ratio = best_of(logged, lambda: _fit_epochs(cell), REPS)
        per_cell_ms = _orchestration_ms(tmp)
    log, metrics = statistics.median(log_s), sum(metric_s) / len(log_s)  # log_s: one per epoch
    other = on - off - log
    pct = lambda s: f"{100 * s / off:.2f}%"  # noqa: E731
    return (f"c. epoch with MLflow logging / tracking off: {ratio:.3f} (goal <= 1.02) [median over {REPS} "
            f"alternating rounds of each side's best of {SIZE_C['epochs'] - 1} epochs; best overall {on:.2f} s vs "
            f"{off:.2f} s; split of on - off: "
            f"logging calls {1000 * log:.1f} ms = {pct(log)}, other {1000 * other:+.0f} ms = {pct(other)}; "
            f"metric computation (both sides) {1000 * metrics:.0f} ms = {pct(metrics)} of an epoch; once per "
            f"cell: log_final + tags {1000 * statistics.median(cell_log_s):.0f} ms]; orchestration per cell "
            f"{per_cell_ms:.0f} ms (goal < 50: Optuna claim/tell + MLflow run create/params/terminate, stores "
            f"created beforehand)")


def _orchestration_ms(tmp: str) -> float:
    """Per-cell cost of the real worker loop around fit (fit itself replaced by an instant result)."""
    import ablate.train
    from ablate import worker
    from ablate.studyrun import StudyRun
    from ablate.tracking import Tracker
    from ablate.validate import load_study

    study = load_study(Path(__file__).resolve().parent.parent / "studies" / "quickstart.yaml")
    tracker = Tracker(f"sqlite:///{tmp}/orchestration.db")
    parent = tracker.start_parent(study)
    run = StudyRun.join(study, f"{tmp}/orchestration.journal", tracker.uri, parent, create=True)
    run.schedule.enqueue(study)
    real_fit = ablate.train.fit
    ablate.train.fit = lambda cell, *a, **k: ablate.train.FitResult({study.metric.name: 0.5})
    try:
        t0 = time.perf_counter()
        ran = worker.run_cells(run)
        return 1000 * (time.perf_counter() - t0) / max(ran, 1)
    finally:
        ablate.train.fit = real_fit


def fig_f() -> str:
    """bf16 autocast + channels_last against fp32 NCHW, per training step. Each timed call runs steps until
    `steps` are done or STEP_BUDGET_S has passed (at least one): on a CPU without native bf16 a bf16 step is
    emulated, 10-100x slower, and a fixed step count once stalled the bench for over ten minutes. Emulated,
    a width-64 bf16 step takes ~20 s here: the CNN is then cut to width 16, batch 64, so the figure fits."""
    from ablate.data.base import DataSpec
    from ablate.models import MODELS

    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    width, bs, steps = (8, 64, 3) if QUICK else (64, 128, 8) if native else (16, 64, 8)
    spec = DataSpec(kind="image", num_classes=10, in_channels=3, image_size=(32, 32))
    params = MODELS.get("cnn").Params(width=width)
    x, y = torch.randn(bs, 3, 32, 32), torch.randint(0, 10, (bs,))

    def stepper(bf16: bool, channels_last: bool):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = MODELS.get("cnn").build(params, spec).to(memory_format=fmt)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xb = x.contiguous(memory_format=fmt)

        def run(n: int = steps) -> float:
            t0 = time.perf_counter()
            done = 0
            while done < n and (done == 0 or time.perf_counter() - t0 < STEP_BUDGET_S):
                with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                    loss = torch.nn.functional.cross_entropy(model(xb), y)
                opt.zero_grad(set_to_none=True)
                loss.float().backward()
                opt.step()
                done += 1
            return (time.perf_counter() - t0) / done
        run(1)  # warm-up: first-call allocations and kernel selection
        return run

    fast, slow = side_by_side(stepper(True, True), stepper(False, False), REPS + 1)
    return (f"f. bf16+channels_last / fp32 NCHW step time on the CNN: {fast / slow:.2f} ({slow / fast:.2f}x faster) "
            f"[{1000 * fast:.0f} ms vs {1000 * slow:.0f} ms per step; cnn width {width}, batch {bs}, 32x32x3; "
            f"bf16 native: {native}{'' if native else ' (emulated here: bf16 is for GPUs and AVX512-BF16/AMX CPUs)'}]")
