"""The one extension point: a regularizer is a registered class with typed Params and no-op hooks.

The hook protocol: every hook receives one ``Context`` (the model, the optimizer, the data spec with the class
count, the cell's generator, the epoch and the step, the current batch and a way to recompute its loss). The
training loop (``ablate/loop.py``) finds once per cell which regularizers override which hook, so a hook that
no active regularizer overrides costs nothing per step. Adding a regularizer = one file in this package + one
import in ``__init__``; the contract tests pick it up and check what its ``changes`` declare.

Applicability is declared, not coded: ``applies_to`` None means every model (penalties, augmentation, EMA...);
an architectural regularizer names the knobs the model builder must accept (``dropout``), and ``data_kinds``
the data it needs (augmentation: images).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ablate.data.base import DataSpec
from ablate.models.base import KNOBS
from ablate.params import StrictModel
from ablate.registry import Registry

if TYPE_CHECKING:  # declarations import no torch (validation and `ablate list` need none); hooks use it
    import torch
    from torch import Tensor, nn

# what "on" may change; each regularizer declares its own in `changes`, and the contract tests check exactly that
CHANGES = {
    "loss": "the training loss of a batch (a penalty term, the loss's own settings)",
    "batch": "the training batch (inputs, or labels made soft targets)",
    "weights": "the weights after an optimizer step (optimizer settings, gradient or weight edits)",
    "evaluated_weights": "the weights that validation, test and the final record see",
    "model": "the network the builder makes (architectural knobs)",
    "schedule": "the optimizer's settings between epochs (learning-rate schedules)",
    "stop": "when training stops",
}


class Params(StrictModel):
    """Base for every regularizer's parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(populate_by_name=True)  # StrictModel: extra="forbid", frozen


class NoParams(Params):
    pass


@dataclass(eq=False)
class Context:
    """What every hook receives. The loop owns it; hooks read it and may act on the model and optimizer.

    ``x``/``y`` are the current training batch after augmentation (``y``: labels (N,) or soft targets (N, C));
    ``batch_loss(x, y)`` recomputes that batch's training loss (penalties included) at the current weights, for
    a hook that needs a second forward pass (SAM). ``metrics`` holds the epoch's metrics in ``on_epoch_end``.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer | None = None
    spec: DataSpec | None = None
    gen: torch.Generator | None = None  # the cell's generator: every random draw of a hook comes from it
    epochs: int = 1  # planned epochs
    steps_per_epoch: int = 1
    epoch: int = 0  # 1-based: the epoch being trained, or just finished in on_epoch_end
    step: int = 0  # optimizer steps taken so far in this cell
    x: Tensor | None = None
    y: Tensor | None = None
    batch_loss: Callable[[Tensor, Tensor], Tensor] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # facts a hook leaves for the record (restored_epoch)
    penalized: list[Tensor] = field(default_factory=list)  # penalized_parameters(model), found once

    def __post_init__(self) -> None:
        if not self.penalized:
            self.penalized = penalized_parameters(self.model)

    @property
    def num_classes(self) -> int:
        if self.spec is None:
            raise ValueError("this context has no data spec, so no class count")
        return self.spec.num_classes


class Regularizer:
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    applies_to: ClassVar[frozenset[str] | None] = None  # None: every model; else the model knobs it needs
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image", "text"})  # dataset kinds
    changes: ClassVar[frozenset[str]] = frozenset()  # keys of CHANGES: what "on" changes (contract-tested)
    order: ClassVar[int] = 0  # within one hook, lower runs first (sam recomputes gradients before grad_clip)
    summary: ClassVar[str] = ""  # one line for `ablate list`
    example: ClassVar[dict] = {}  # valid settings for docs and the contract tests, e.g. {"p": 0.5}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        KNOBS.update(cls.applies_to or ())  # a model builder function tells its knobs from its params by these

    def __init__(self, params: BaseModel):
        self.params = params

    # architectural knobs passed to the model builder (e.g. {"dropout": 0.5})
    def model_kwargs(self) -> dict:
        return {}

    # optimizer settings (e.g. {"weight_decay": 1e-4}); applied to the penalized parameter group only
    def optimizer_kwargs(self) -> dict:
        return {}

    # training-loss settings for F.cross_entropy (e.g. {"label_smoothing": 0.1})
    def loss_kwargs(self) -> dict:
        return {}

    # an extra loss term (L1, L2, elastic net); None = nothing to add
    def penalty(self, ctx: Context) -> Tensor | None:
        return None

    # batched, on-device, drawing from ctx.gen; may return soft targets (N, C) as y
    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return x, y

    # after loss.backward(), before optimizer.step(): gradients in .grad (clipping, SAM's second pass)
    def after_backward(self, ctx: Context) -> None:
        return None

    # after optimizer.step() (max-norm, EMA)
    def after_step(self, ctx: Context) -> None:
        return None

    def on_train_start(self, ctx: Context) -> None:
        return None

    # before each evaluation (every epoch's metrics, the test): put the weights to evaluate in place (EMA)
    def on_eval_start(self, ctx: Context) -> None:
        return None

    # before training resumes after an evaluation; never after the last one, so the evaluated weights are final
    def on_eval_end(self, ctx: Context) -> None:
        return None

    # True = stop training now (early stopping); LR schedules step here
    def on_epoch_end(self, ctx: Context) -> bool:
        return False

    def on_train_end(self, ctx: Context) -> None:
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
