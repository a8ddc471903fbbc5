"""The one extension point: a regularizer is a registered class with typed Params and no-op hooks.

The training loop calls every hook of every active regularizer; a regularizer overrides only the hooks it
needs. Adding one = one file in this package + one import in ``__init__``; the contract tests pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from ablate.params import StrictModel
from ablate.registry import Registry


class Params(StrictModel):
    """Base for every regularizer's parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(populate_by_name=True)  # StrictModel: extra="forbid", frozen


class NoParams(Params):
    pass


@dataclass
class TrainState:
    """What hooks may read (and, for schedules/early stopping, act on) at epoch boundaries."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epochs: int  # planned epochs
    epoch: int = 0  # 1-based epoch just finished
    metrics: dict[str, float] = field(default_factory=dict)  # this epoch's metrics
    steps_per_epoch: int = 1
    stop_reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # per-regularizer scratch space


class Regularizer:
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    applies_to: ClassVar[frozenset[str]] = frozenset({"cnn", "transformer"})  # model families
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image", "text"})  # dataset kinds
    summary: ClassVar[str] = ""  # one line for `ablate list`
    example: ClassVar[dict] = {}  # valid settings for docs and the contract tests, e.g. {"p": 0.5}

    def __init__(self, params: BaseModel):
        self.params = params

    # architectural knobs passed to the model builder (e.g. {"dropout": 0.5})
    def model_kwargs(self) -> dict:
        return {}

    # optimizer settings (e.g. {"weight_decay": 1e-4}); applied to the penalized parameter group only
    def optimizer_kwargs(self) -> dict:
        return {}

    # loss settings (e.g. {"label_smoothing": 0.1})
    def loss_kwargs(self) -> dict:
        return {}

    # an extra loss term (L1, L2, elastic net); None = nothing to add
    def penalty(self, model: nn.Module) -> Tensor | None:
        return None

    # batched, on-device data augmentation, seeded by the cell's generator
    def augment(self, x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        return x, y

    # after loss.backward(), before optimizer.step() (gradient clipping)
    def after_backward(self, model: nn.Module) -> None:
        return None

    def on_train_start(self, state: TrainState) -> None:
        return None

    # True = stop training now (early stopping); LR schedules step here
    def on_epoch_end(self, state: TrainState) -> bool:
        return False

    def on_train_end(self, state: TrainState) -> None:
        return None


REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer")


def penalized_parameters(model: nn.Module) -> list[Tensor]:
    """Weights that penalties, weight decay and the norm metrics act on.

    Rule (applied everywhere): weight matrices and kernels of Linear/Conv/Embedding layers, i.e. parameters
    with 2+ dimensions. Biases, BatchNorm/LayerNorm scales and shifts, positional tables and the CLS token
    are excluded: shrinking them does not reduce capacity and would fight normalization.
    """
    return [p for _, p in penalized_named(model)]


def penalized_named(model: nn.Module) -> list[tuple[str, Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.ndim >= 2 and not _is_exempt(n)]


def _is_exempt(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf in {"pos_embedding", "cls_token"}
