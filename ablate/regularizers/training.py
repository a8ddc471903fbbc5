"""Training-procedure regularizers: early stopping, gradient clipping, learning-rate schedules."""

from __future__ import annotations

import copy
import math
from typing import Literal

from pydantic import AliasChoices, Field

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer


class EarlyStoppingParams(Params):
    patience_epochs: int = Field(
        5, ge=1, le=1000, validation_alias=AliasChoices("patience_epochs", "patience"),
        description="epochs without improvement before stopping",
    )
    min_delta: float = Field(0.001, ge=0.0, le=10.0, description="smallest val_loss decrease that counts")
    restore_best: bool = Field(True, description="load the best epoch's weights before testing")


@REGULARIZERS.register()
class EarlyStopping(Regularizer):
    """Watches val_loss; unlike the seed's version it restores the best weights before the test pass."""

    name = "early_stopping"
    example = {"patience": 5, "min_delta": 0.001}
    Params = EarlyStoppingParams
    changes = frozenset({"stop"})
    summary = "stop when val_loss has not improved by min_delta for patience epochs; restore best weights"

    def on_train_start(self, ctx: Context) -> None:
        self.best, self.best_epoch, self.best_weights = math.inf, 0, None

    def on_epoch_end(self, ctx: Context) -> bool:
        loss = ctx.metrics["val_loss"]
        if loss < self.best - self.params.min_delta:
            self.best, self.best_epoch = loss, ctx.epoch
            if self.params.restore_best:
                self.best_weights = copy.deepcopy(ctx.model.state_dict())
            return False
        if ctx.epoch - self.best_epoch >= self.params.patience_epochs:
            ctx.stop_reason = f"early stopping: no val_loss gain for {self.params.patience_epochs} epochs"
            return True
        return False

    def on_train_end(self, ctx: Context) -> None:
        if self.best_weights is not None:
            ctx.model.load_state_dict(self.best_weights)
            ctx.extras["restored_epoch"] = self.best_epoch


class GradClipParams(Params):
    max_norm: float = Field(1.0, gt=0.0, le=1e6, description="clip the global gradient L2 norm to this")


@REGULARIZERS.register()
class GradClip(Regularizer):
    name = "grad_clip"
    example = {"max_norm": 1.0}
    Params = GradClipParams
    changes = frozenset({"weights"})
    summary = "clip the global gradient norm after backward"

    def after_backward(self, ctx: Context) -> None:
        # foreach=True keeps this one fused kernel per dtype/device and never syncs the host
        from torch import nn

        nn.utils.clip_grad_norm_(ctx.model.parameters(), self.params.max_norm, foreach=True)


class LRScheduleParams(Params):
    kind: Literal["reduce_on_plateau", "cosine"] = Field("reduce_on_plateau", description="schedule type")
    patience_epochs: int = Field(
        2, ge=0, le=1000, validation_alias=AliasChoices("patience_epochs", "patience"),
        description="reduce_on_plateau: epochs without val_loss gain before cutting the lr",
    )
    factor: float = Field(0.5, gt=0.0, lt=1.0, description="reduce_on_plateau: lr multiplier")
    min_lr: float = Field(0.0, ge=0.0, description="floor for the lr")


@REGULARIZERS.register()
class LRSchedule(Regularizer):
    name = "lr_schedule"
    example = {"kind": "cosine"}
    Params = LRScheduleParams
    changes = frozenset({"schedule"})
    summary = "reduce_on_plateau (on val_loss) or cosine annealing over the planned epochs, stepped per epoch"

    def on_train_start(self, ctx: Context) -> None:
        import torch

        p, opt = self.params, ctx.optimizer
        if p.kind == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=ctx.epochs, eta_min=p.min_lr)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=p.factor, patience=p.patience_epochs, min_lr=p.min_lr
            )

    def on_epoch_end(self, ctx: Context) -> bool:
        import torch

        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(ctx.metrics["val_loss"])
        else:
            self.scheduler.step()
        return False
