"""The regularizer contract: its declarations are well formed, and switching it on changes what it declares.

One optimizer step (plain SGD, so every gradient or weight edit shows) on a tiny batch of the model's `tiny`
study, with the regularizer on and off from the same seed; then the evaluation and 60 epoch ends, so a
schedule or an early stop has room to show. Each key of ``changes`` has one observable check below; a key
that "on" leaves as "off" left it is a broken contract, reported with the hooks that make that change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ablate.data import DATASETS
from ablate.loop import Loop
from ablate.models import MODELS
from ablate.regularizers import CHANGES, REGULARIZERS, Context, Regularizer, cell_regularizers
from ablate.regularizers.applicability import applies
from ablate.testing.base import CACHE, ContractError, resolve, usable_model
from ablate.train import Batches, build_model, build_optimizer
from ablate.validate import validate_study

BATCH = 8
EPOCH_ENDS = 60  # enough for any example's patience to run out

# the hooks through which "on" makes each change: the ones a failure message points at
HOOKS_FOR = {
    "loss": ("penalty", "loss_kwargs"),
    "batch": ("augment",),
    "weights": ("optimizer_kwargs", "after_backward", "after_step"),
    "evaluated_weights": ("on_eval_start",),
    "model": ("model_kwargs",),
    "schedule": ("on_train_start", "on_epoch_end"),
    "stop": ("on_epoch_end",),
}


def _snapshot(model: nn.Module) -> list[Tensor]:
    return [t.detach().clone() for t in model.state_dict().values() if t.is_floating_point()]


def _same(a: list[Tensor], b: list[Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))


@dataclass
class Run:
    """What one step with the regularizer on (or off) left behind."""

    x: Tensor
    y: Tensor
    loss: float
    init: list[Tensor]
    weights: list[Tensor]
    evaluated: list[Tensor]
    forward: Tensor | None
    network: str
    lrs: list[float]
    stopped_at: int | None


CHECKS = {
    "loss": lambda on, off: on.loss != off.loss,
    "batch": lambda on, off: not (_same([on.x], [off.x]) and _same([on.y], [off.y])),
    "weights": lambda on, off: not _same(on.weights, off.weights),
    "evaluated_weights": lambda on, off: not _same(on.evaluated, on.weights) and not _same(on.evaluated, on.init),
    # other layers, or the same layers computing otherwise (timm's drop_rate is an attribute; a zero-initialised
    # residual branch makes drop-path invisible in the output at init)
    "model": lambda on, off: on.network != off.network or not _same([on.forward], [off.forward]),
    "schedule": lambda on, off: on.lrs != off.lrs,
    "stop": lambda on, off: on.stopped_at is not None and off.stopped_at is None,
}
assert set(CHECKS) == set(CHANGES) == set(HOOKS_FOR), "every kind of change needs a check and its hooks"

_OFF: dict[tuple, Run] = {}


def models_for(reg: str) -> list[str]:
    """The registered (and installed) models a regularizer applies to, with their tiny data."""
    cls = REGULARIZERS.get(reg)
    out = []
    for m in MODELS.names():
        builder = MODELS.get(m)
        if usable_model(m) and builder.tiny and \
                applies(cls, builder, DATASETS.get(builder.tiny["data"]["name"]).kind):
            out.append(m)
    return out


def changed(reg: str, model: str, which=None) -> set[str]:
    """The kinds of change (keys of CHANGES, among `which`: default all) that switching `reg` on made on
    `model`, against the same step with every regularizer off."""
    which = set(CHANGES if which is None else which)
    builder = MODELS.get(model)
    key = (model, builder, DATASETS.get(builder.tiny["data"]["name"]))
    if key not in _OFF:  # the baseline cell of any one-factor study: shared by every regularizer's check
        _OFF[key] = _run(reg, model, on=False, forward=True)
    on = _run(reg, model, on=True, forward="model" in which)
    return {c for c in which if CHECKS[c](on, _OFF[key])}


def _run(reg: str, model: str, on: bool, forward: bool) -> Run:
    """One optimizer step with the regularizer on or off, then an evaluation and the epoch ends."""
    tiny = MODELS.get(model).tiny
    raw = {"name": "contract", "model": dict(tiny["model"]), "data": dict(tiny["data"]),
           "train": {"epochs": 3, "optimizer": "sgd", "lr": 0.1, "momentum": 0.0},
           "factors": {reg: dict(REGULARIZERS.get(reg).example)}, "seeds": 1}
    cell = validate_study(raw).cells()[1 if on else 0]
    data = CACHE.dataset(cell.study.data)
    regs = cell_regularizers(cell)
    torch.manual_seed(cell.seed)
    net = build_model(cell, data, regs)
    batches = Batches(data, torch.device("cpu"), False, CACHE)
    x, y = batches.prepare(batches.x["train"][:BATCH]), batches.y["train"][:BATCH]
    torch.manual_seed(1)  # the network itself, in training mode, from one random state, on a batch large enough
    # that some sample meets every mask; on a copy, so BatchNorm's running statistics stay the step's own
    out = copy.deepcopy(net).train()(torch.cat([x] * 16)).detach() if forward else None
    ctx = Context(net, build_optimizer(cell, net, regs), data.spec, torch.Generator().manual_seed(cell.seed),
                  epochs=EPOCH_ENDS, steps_per_epoch=1)
    loop = Loop(net, ctx, regs)
    init = _snapshot(net)
    loop.call("on_train_start")
    ctx.epoch = 1
    torch.manual_seed(2)
    loss = float(loop.step(x, y))
    step_x, step_y, weights = ctx.x, ctx.y, _snapshot(net)
    loop.call("on_eval_start")
    evaluated = _snapshot(net)
    lrs, stopped_at = [], None
    for epoch in range(1, EPOCH_ENDS + 1):
        metrics = {"val_loss": 1.0, "val_acc": 0.5, "train_loss": 1.0, "train_acc": 0.5}
        if loop.epoch_end(epoch, metrics) and stopped_at is None:
            stopped_at = epoch
        lrs.append(ctx.optimizer.param_groups[0]["lr"])
    return Run(step_x, step_y, loss, init, weights, evaluated, out, repr(net), lrs, stopped_at)


def check_declarations(reg: str, cls: type[Regularizer]) -> None:
    """What registration checks, checked again (a class may be edited after it was registered)."""
    declared = f"`changes: [{', '.join(sorted(cls.changes))}]`"
    if not cls.changes or not set(cls.changes) <= set(CHANGES):
        raise ContractError(f"regularizer '{reg}': its declaration {declared} must name some of {sorted(CHANGES)}")
    if not cls.summary or cls.example is None:
        raise ContractError(f"regularizer '{reg}' needs a `summary` (its docstring's first line) and an `example`")
    try:
        knobs = set(cls(cls.Params.model_validate(cls.example)).model_kwargs())
    except Exception as e:
        raise ContractError(f"regularizer '{reg}': hook `model_kwargs` with its `example` {cls.example!r} "
                            f"failed ({type(e).__name__}: {e})") from e
    if knobs != set(cls.applies_to or ()):
        raise ContractError(f"regularizer '{reg}': hook `model_kwargs` sets knobs {sorted(knobs)}, but its "
                            f"declaration `applies_to: {sorted(cls.applies_to or ())}` must name exactly those")


def check_regularizer(regularizer, model: str | None = None) -> None:
    """Raise ContractError unless the regularizer's declarations hold and switching it on changes everything
    its `changes` declares, on `model` (default: every registered model it applies to)."""
    reg, cls = resolve(REGULARIZERS, regularizer, "regularizer")
    check_declarations(reg, cls)
    models = [model] if model is not None else models_for(reg)
    if not models:
        raise ContractError(f"regularizer '{reg}' applies to no registered model with tiny data: nothing to check "
                            f"it on (applies_to: {sorted(cls.applies_to or ())})")
    for m in models:
        failed = sorted(set(cls.changes) - changed(reg, m, cls.changes))
        if failed:
            raise ContractError(_broken(reg, cls, m, failed))


def _broken(reg: str, cls: type[Regularizer], model: str, failed: list[str]) -> str:
    declared = f"`changes: [{', '.join(sorted(cls.changes))}]`"
    parts = []
    for c in failed:
        hooks = HOOKS_FOR[c]
        own = [h for h in hooks if getattr(cls, h) is not getattr(Regularizer, h)]
        named = " or ".join(f"`{h}`" for h in hooks)
        why = (f"its hook {', '.join(f'`{h}`' for h in own)} ran and changed nothing" if own else
               f"it overrides no hook that could ({named}: still the base class's no-op)")
        parts.append(f"'{c}' means {CHANGES[c]}, yet on and off agree after one step; {why}")
    return (f"regularizer '{reg}' on model '{model}' breaks its declaration {declared}: " + "; ".join(parts)
            + ". Implement the hook, or declare only what switching it on changes.")
