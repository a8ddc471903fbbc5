"""The training step and every hook call around it; fit() in train.py sets a cell up and runs the epochs.

One step: augment -> forward + loss (+ penalties) -> backward -> after_backward -> optimizer step ->
after_step. Around an epoch's evaluation: on_eval_start -> metrics -> on_epoch_end, then on_eval_end before
training resumes (never after the last epoch, so the evaluated weights are the ones tested and recorded).

Speed: which regularizers override which hook is found once per cell, so a hook nobody overrides is never
called; the step never copies to the host (the epoch's loss sum is read once, at its end).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate import interrupts
from ablate.regularizers import Context, Regularizer

HOOKS = ("penalty", "augment", "after_backward", "after_step", "on_train_start", "on_eval_start",
         "on_eval_end", "on_epoch_end", "on_train_end")


def overriders(regs: list[Regularizer], hook: str) -> list[Regularizer]:
    """The regularizers whose class overrides `hook`, in hook order (a stable sort: ties keep the study's)."""
    base = getattr(Regularizer, hook)
    return sorted((r for r in regs if getattr(type(r), hook) is not base), key=lambda r: r.order)


def merged(regs: list[Regularizer], kind: str) -> dict:
    """One dict of every regularizer's model/optimizer/loss settings (validation rejects a key set twice)."""
    out: dict = {}
    for r in regs:
        out.update(getattr(r, f"{kind}_kwargs")())
    return out


class Loop:
    """Trains one cell's network step by step, calling each hook's overriders with the one Context."""

    def __init__(self, net: nn.Module, ctx: Context, regs: list[Regularizer], amp: Callable | None = None):
        self.net, self.ctx, self.amp = net, ctx, amp or contextlib.nullcontext
        self.loss_kw = merged(regs, "loss")
        self.hooks = {hook: overriders(regs, hook) for hook in HOOKS}
        self.penalizers, self.augmenters = self.hooks["penalty"], self.hooks["augment"]
        self.after_backward, self.after_step = self.hooks["after_backward"], self.hooks["after_step"]
        ctx.batch_loss = self.batch_loss

    def batch_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The training loss of (x, y) at the current weights: cross-entropy (hard or soft targets) + penalties."""
        with self.amp():
            loss = F.cross_entropy(self.net(x), y, **self.loss_kw)
        loss = loss.float()
        for r in self.penalizers:
            term = r.penalty(self.ctx)
            if term is not None:
                loss = loss + term
        return loss

    def step(self, x: Tensor, y: Tensor) -> Tensor:
        """One optimizer step on a prepared batch; returns the batch's loss, detached, on the device."""
        ctx = self.ctx
        for r in self.augmenters:
            x, y = r.augment(ctx, x, y)
        ctx.x, ctx.y = x, y
        loss = self.batch_loss(x, y)
        ctx.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for r in self.after_backward:
            r.after_backward(ctx)
        ctx.optimizer.step()
        ctx.step += 1
        for r in self.after_step:
            r.after_step(ctx)
        return loss.detach()

    def train_epoch(self, x_all: Tensor, y_all: Tensor, prepare: Callable[[Tensor], Tensor], bs: int) -> float:
        """One pass in a fresh order drawn from the cell's generator; the mean batch loss (one host sync)."""
        self.net.train()
        gen = self.ctx.gen
        n = len(y_all)
        perm = torch.randperm(n, generator=gen, device=gen.device)
        total = torch.zeros((), device=x_all.device)
        for start in range(0, n, bs):
            interrupts.check()
            idx = perm[start:start + bs]
            total += self.step(prepare(x_all[idx]), y_all[idx]) * len(idx)
        self.ctx.x = self.ctx.y = None  # the last batch is no longer needed
        return float(total) / n

    def call(self, hook: str) -> None:
        for r in self.hooks[hook]:
            getattr(r, hook)(self.ctx)

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        """True = stop. Every on_epoch_end hook runs, even after one says stop."""
        self.ctx.epoch, self.ctx.metrics = epoch, metrics
        return any([r.on_epoch_end(self.ctx) for r in self.hooks["on_epoch_end"]])
