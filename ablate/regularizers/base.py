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

    def model_kwargs(self) -> dict:
        """Called once per cell, before the model is built: the architectural knobs passed to the model builder
        (e.g. ``{"dropout": 0.5}``); each key must be in ``applies_to``. Also called at validation, to find two
        regularizers setting one knob."""
        return {}

    def optimizer_kwargs(self) -> dict:
        """Called once per cell, when the optimizer is built: its settings (e.g. ``{"weight_decay": 1e-4}``),
        applied to the penalized parameter group only (see penalized_parameters)."""
        return {}

    def loss_kwargs(self) -> dict:
        """Called once per cell, when the training loop is set up: keywords for the training loss's
        ``F.cross_entropy`` (e.g. ``{"label_smoothing": 0.1}``); validation and test losses never see them."""
        return {}

    def penalty(self, ctx: Context) -> Tensor | None:
        """Called every training step, after the forward pass, each time the batch's loss is computed (twice
        a step with SAM): a term added to the loss (L1, L2, elastic net), or None to add nothing."""
        return None

    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Called every training step, before the forward pass, on the whole (normalized, on-device) batch:
        the batch to train on. Batched, drawing only from ``ctx.gen``; may return soft targets (N, C) as y.
        Evaluation batches never pass here."""
        return x, y

    def after_backward(self, ctx: Context) -> None:
        """Called every training step after ``loss.backward()`` and before ``optimizer.step()``, with the
        gradients in ``.grad`` (clipping, SAM's second pass), in ``order``."""
        return None

    def after_step(self, ctx: Context) -> None:
        """Called every training step right after ``optimizer.step()``: weight edits (max-norm) and
        bookkeeping of the new weights (EMA); ``ctx.step`` counts the steps taken."""
        return None

    def on_train_start(self, ctx: Context) -> None:
        """Called once per cell, after the model and optimizer are built and before the first step (EMA keeps
        its first copy of the weights here)."""
        return None

    def on_eval_start(self, ctx: Context) -> None:
        """Called before each evaluation (every epoch's validation metrics, and the final test): put the weights
        to evaluate in place (EMA's averaged weights)."""
        return None

    def on_eval_end(self, ctx: Context) -> None:
        """Called after an evaluation, before training resumes (put the training weights back); never after the
        last one, so the evaluated weights are the ones tested and recorded."""
        return None

    def on_epoch_end(self, ctx: Context) -> bool:
        """Called after each epoch's evaluation, with its metrics in ``ctx.metrics`` (``ctx.epoch``: the epoch
        just finished): True stops training now (early stopping); learning-rate schedules step here."""
        return False

    def on_train_end(self, ctx: Context) -> None:
        """Called once per cell after the last epoch (or an early stop), before the final test evaluation
        (early stopping restores its best weights here)."""
        return None


REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer")


def penalized_parameters(model: nn.Module) -> list[Tensor]:
    """Weights that penalties, weight decay, max-norm and the norm metrics act on.

    Rule (applied everywhere): parameters with 2+ dimensions (weight matrices and kernels of Linear, Conv and
    Embedding layers) minus those the model declares exempt. Biases and BatchNorm/LayerNorm scales and shifts
    (1-D) are always exempt: shrinking them does not reduce capacity and would fight normalization. A model
    declares more with timm's convention, a ``no_weight_decay()`` method returning the names of its own
    parameters to skip (the transformer: its positional table and CLS token), on any module of the network, so
    a model keeps its declaration when wrapped, and timm's vision transformers are read as they come.
    """
    return [p for _, p in penalized_named(model)]


def penalized_named(model: nn.Module) -> list[tuple[str, Tensor]]:
    exempt = declared_exempt(model)
    return [(n, p) for n, p in model.named_parameters() if p.ndim >= 2 and n not in exempt]


def declared_exempt(model: nn.Module) -> set[str]:
    """The full names of the parameters the network's modules exempt through ``no_weight_decay()``."""
    out: set[str] = set()
    for prefix, module in model.named_modules():
        declare = getattr(module, "no_weight_decay", None)
        if callable(declare):
            out.update(f"{prefix}.{name}" if prefix else name for name in declare())
    return out
