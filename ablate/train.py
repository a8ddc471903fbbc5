"""fit(cell, logger): one cell, trained by a plain PyTorch loop. No mlflow or optuna here.

Determinism: the cell's seed fixes the init, the batch order, augmentation and dropout masks, and it is the
same seed in every arm, so arms pair by seed. Speed: the data is already a tensor on the device; a batch is
an index slice; nothing in the step loop copies to the host (loss sums stay on the device until epoch end).
What a worker keeps between cells (the dataset, its device copy, compiled modules) is its cache.WorkerCache,
passed in explicitly.
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.artifacts import Keeper, log_dataset
from ablate.cache import WorkerCache
from ablate.data import Data
from ablate.errors import CellFailed
from ablate.loop import Loop, merged
from ablate.metrics import expected_calibration_error, weight_histogram, weight_stats
from ablate.models import MODELS
from ablate.records import CellRecord
from ablate.regularizers import Context, Regularizer, cell_regularizers, penalized_parameters
from ablate.study import Cell

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class Logger(Protocol):
    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def log_final(self, metrics: dict[str, float], artifacts: dict[str, object]) -> None: ...


class NullLogger:
    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def log_final(self, metrics: dict[str, float], artifacts: dict[str, object]) -> None:
        pass


@dataclass
class FitResult:
    final: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str | None = None


def resolve_device(choice: str = "auto") -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


class Batches:
    """Normalizes on the device, once per batch; keeps uint8 storage so the dataset stays small."""

    def __init__(self, data: Data, device: torch.device, channels_last: bool, cache: WorkerCache):
        self.image = data.spec.kind == "image"
        self.device, self.channels_last = device, channels_last
        self.x, self.y = cache.on_device(data, device)
        if self.image:
            self.scale = (1.0 / (255.0 * data.std)).to(device).view(1, -1, 1, 1)
            self.shift = (data.mean / data.std).to(device).view(1, -1, 1, 1)

    def prepare(self, x: Tensor) -> Tensor:
        if not self.image:
            return x
        x = x.float().mul_(self.scale).sub_(self.shift)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def build_model(cell: Cell, data: Data, regs: list[Regularizer]) -> nn.Module:
    return MODELS.get(cell.study.model.name).build(cell.study.model, data.spec, **merged(regs, "model"))


def build_optimizer(cell: Cell, model: nn.Module, regs: list[Regularizer]) -> torch.optim.Optimizer:
    """Two groups: regularizer optimizer settings (weight decay) touch only the penalized weights. Without
    such settings, one group: each group is its own set of foreach kernels, which a launch-bound GPU step
    feels (same arithmetic per parameter either way)."""
    t = cell.study.train
    extra = merged(regs, "optimizer")
    decayed = {id(p) for p in penalized_parameters(model)}
    groups = [{"params": [p for p in model.parameters() if id(p) in decayed], **extra},
              {"params": [p for p in model.parameters() if id(p) not in decayed]}]
    if not extra:
        groups = [{"params": list(model.parameters())}]
    kw = {"momentum": t.momentum} if t.optimizer == "sgd" else {}
    return OPTIMIZERS[t.optimizer](groups, lr=t.lr, **kw)


def fit(cell: Cell, logger: Logger | None = None, on_epoch: Callable[[int, int], None] | None = None,
        device: torch.device | None = None,
        on_metrics: Callable[[int, dict[str, float]], None] | None = None,
        cache: WorkerCache | None = None) -> FitResult:
    """Train one cell; raise CellFailed('diverged at epoch k') on a non-finite loss.

    `on_metrics(epoch, metrics)` sees each epoch's metrics after they are logged; a tune trial reports the
    validation metric there and may raise to stop the cell (pruning). `cache`: the worker's, shared by its
    cells (without one, this cell loads and compiles for itself).
    """
    study, logger, cache = cell.study, logger or NullLogger(), cache or WorkerCache()
    device = device or resolve_device(study.train.device)
    torch.manual_seed(cell.seed)
    data = cache.dataset(study.data)
    log_dataset(logger, study.data, data)
    regs = cell_regularizers(cell)
    builder = MODELS.get(study.model.name)
    cl = study.train.channels_last
    channels_last = (builder.channels_last if cl is None else cl) and data.spec.kind == "image"
    model = build_model(cell, data, regs).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    built_with = repr((study.model, sorted(merged(regs, "model").items())))
    model, net = (cache.compiled_module(model, device, channels_last, built_with) if study.train.compile
                  else (model, model))
    _record_runtime(logger, device, study.train.precision, channels_last, study.train.compile)
    optimizer = build_optimizer(cell, model, regs)
    batches = Batches(data, device, channels_last, cache)
    gen = torch.Generator(device=device).manual_seed(cell.seed)
    n_train, bs = len(batches.y["train"]), study.data.batch_size
    ctx = Context(model=model, optimizer=optimizer, spec=data.spec, gen=gen, epochs=study.train.epochs,
                  steps_per_epoch=math.ceil(n_train / bs))
    amp = _autocast(device, study.train.precision)
    loop = Loop(net, ctx, regs, amp)
    # train metrics are measured in eval mode on a fixed train subset as large as val, so gap_acc and
    # overfit_ratio compare like with like (a running loss under dropout/augmentation would flatter val)
    probe = torch.randperm(n_train, generator=torch.Generator().manual_seed(cell.seed))[: len(batches.y["val"])]
    probe = probe.to(device)
    loop.call("on_train_start")
    history: list[dict[str, float]] = []
    keeper = Keeper(study.train.checkpoint)
    for epoch in range(1, study.train.epochs + 1):
        t0 = time.perf_counter()
        if epoch > 1:
            loop.call("on_eval_end")  # the training weights back (not after the last epoch: see loop.py)
        ctx.epoch = epoch
        fit_loss = loop.train_epoch(batches.x["train"], batches.y["train"], batches.prepare, bs)
        if not math.isfinite(fit_loss):
            raise CellFailed(f"diverged at epoch {epoch}", epoch)
        loop.call("on_eval_start")
        m = _epoch_metrics(net, batches, probe, study.train.eval_batch_size, amp)
        m.update(weight_stats(model), fit_loss=fit_loss, lr=optimizer.param_groups[0]["lr"])
        if not all(math.isfinite(m[k]) for k in ("train_loss", "val_loss")):
            raise CellFailed(f"diverged at epoch {epoch}", epoch)
        stop = loop.epoch_end(epoch, m)
        if device.type == "cuda":
            torch.cuda.synchronize()
        m["epoch_seconds"] = time.perf_counter() - t0
        history.append(m)
        keeper.observe(epoch, m, model)
        logger.log_epoch(epoch, m)
        if on_epoch:
            on_epoch(epoch, study.train.epochs)
        if on_metrics:
            on_metrics(epoch, m)
        if stop:
            break
    keeper.before_restore(model)
    loop.call("on_train_end")
    final = _final_metrics(net, batches, history, ctx, study.train.eval_batch_size, amp)
    saved = keeper.outputs(cell, model, data.spec, ctx.extras.get("restored_epoch"))
    logger.log_final(final, {"weights.json": weight_histogram(model), **saved})
    return FitResult(final, history, ctx.stop_reason)


def _record_runtime(logger, device: torch.device, precision: str, channels_last: bool, compiled: bool) -> None:
    """Tag how the cell really ran (resolved here, where it is decided), for the report's run facts."""
    set_tags = getattr(logger, "set_tags", None)  # optional: a Logger need not take tags
    if set_tags is None:
        return
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    set_tags(CellRecord.runtime_tags(f"{device.type} ({name})", precision, channels_last, compiled,
                                     torch.get_num_threads()))


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


@torch.inference_mode()
def _evaluate(net, batches: Batches, x: Tensor, y: Tensor, eval_bs: int, amp) -> tuple[Tensor, Tensor]:
    """Returns (summed loss, correct count, probs) without leaving the device."""
    net.eval()
    loss = torch.zeros((), device=y.device)
    probs = []
    for s in range(0, len(y), eval_bs):
        with amp():
            logits = net(batches.prepare(x[s:s + eval_bs])).float()
        loss += F.cross_entropy(logits, y[s:s + eval_bs], reduction="sum")
        probs.append(logits.softmax(dim=1))
    return loss, torch.cat(probs)


def _epoch_metrics(net, batches: Batches, probe: Tensor, eval_bs: int, amp) -> dict[str, float]:
    tl, tp = _evaluate(net, batches, batches.x["train"][probe], batches.y["train"][probe], eval_bs, amp)
    vl, vp = _evaluate(net, batches, batches.x["val"], batches.y["val"], eval_bs, amp)
    ty, vy = batches.y["train"][probe], batches.y["val"]
    host = torch.stack([tl / len(ty), (tp.argmax(1) == ty).float().mean(),
                        vl / len(vy), (vp.argmax(1) == vy).float().mean()]).tolist()
    train_loss, train_acc, val_loss, val_acc = host
    return {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
            "gap_acc": train_acc - val_acc, "overfit_ratio": val_loss / max(train_loss, 1e-12)}


def _final_metrics(net, batches, history, ctx: Context, eval_bs, amp) -> dict[str, float]:
    loss, probs = _evaluate(net, batches, batches.x["test"], batches.y["test"], eval_bs, amp)
    y = batches.y["test"]
    best = max(range(len(history)), key=lambda i: history[i]["val_acc"])
    return {
        "test_loss": float(loss) / len(y),
        "test_acc": float((probs.argmax(1) == y).float().mean()),
        "ece": expected_calibration_error(probs, y, bins=15),
        "best_val_acc": history[best]["val_acc"],
        "best_epoch": float(best + 1),
        "stopped_epoch": float(ctx.epoch),
    }
