"""The contract that can fail: for every registered regularizer on every registered model it applies to,
switching it on changes exactly what it declares in `changes` (one optimizer step on a tiny batch, on and off,
same seed). A regularizer whose hook is a no-op fails here. The models include a plain builder function
defined below, standing in for a plugin's model, and the torchvision (and timm) library models.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import inspect
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from ablate.cache import WorkerCache
from ablate.data import DATASETS
from ablate.data.base import DataSpec
from ablate.loop import Loop
from ablate.models import MODELS
from ablate.regularizers import CHANGES, REGULARIZERS, Context, Regularizer, cell_regularizers
from ablate.regularizers.applicability import applies
from ablate.train import Batches, build_model, build_optimizer
from ablate.validate import validate_study

BATCH = 8
EPOCH_ENDS = 60  # enough for any example's patience to run out
CACHE = WorkerCache()  # every run of a model reads the same tiny data


@MODELS.register("contract_plugin_mlp", data_kinds={"image"})
def plugin_mlp(spec: DataSpec, *, dropout: float = 0.0, gaussian_dropout: float = 0.0, hidden: int = 16) -> nn.Module:
    """A user's model as a plugin would register it: a plain function taking two knobs."""
    from ablate.models.layers import GaussianDropout

    h, w = spec.image_size
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(spec.in_channels * h * w, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    if gaussian_dropout:
        layers.append(GaussianDropout(gaussian_dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, spec.num_classes))


def _usable(model: str) -> bool:
    return model != "timm" or importlib.util.find_spec("timm") is not None


def _pairs():
    out = []
    for m in MODELS.names():
        if not _usable(m):
            continue
        builder = MODELS.get(m)
        kind = DATASETS.get(builder.tiny["data"]["name"]).kind
        out += [(r, m) for r in REGULARIZERS.names() if applies(REGULARIZERS.get(r), builder, kind)]
    return out


def _snapshot(model: nn.Module) -> list[Tensor]:
    return [t.detach().clone() for t in model.state_dict().values() if t.is_floating_point()]


def _same(a: list[Tensor], b: list[Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))


@dataclass
class Run:
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


@functools.cache
def _off(model: str) -> Run:
    """The run without any regularizer: the same for every regularizer's contract on this model."""
    return _run("l2", model, False, forward=True)  # the baseline cell of a study with one factor


def _run(reg: str, model: str, on: bool, forward: bool) -> Run:
    """One optimizer step (plain SGD, so every gradient or weight edit shows) with the regularizer on or off."""
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


def test_every_change_has_a_check():
    assert set(CHECKS) == set(CHANGES)


@pytest.mark.parametrize("reg", REGULARIZERS.names())
def test_every_regularizer_declares_what_it_changes(reg):
    cls = REGULARIZERS.get(reg)
    assert cls.changes and cls.changes <= set(CHANGES), f"{reg}.changes must name some of {sorted(CHANGES)}"
    assert cls.summary and cls.example is not None
    knobs = set(cls(cls.Params.model_validate(cls.example)).model_kwargs())
    assert knobs == set(cls.applies_to or ()), f"{reg}: model_kwargs() must set exactly the knobs in applies_to"


@pytest.mark.parametrize("reg,model", _pairs())
def test_on_changes_what_the_regularizer_claims(reg, model):
    changes = sorted(REGULARIZERS.get(reg).changes)
    on, off = _run(reg, model, True, forward="model" in changes), _off(model)
    failed = [c for c in changes if not CHECKS[c](on, off)]
    assert not failed, f"'{reg}' on model '{model}' claims to change {failed} ({[CHANGES[c] for c in failed]}), " \
                       f"but on and off agree there"


def _first_model(reg: str) -> str:
    return next(m for r, m in _pairs() if r == reg and m in ("cnn", "transformer", "contract_plugin_mlp"))


@pytest.mark.parametrize("reg", REGULARIZERS.names())
def test_a_regularizer_whose_hooks_do_nothing_fails_its_contract(reg, monkeypatch):
    """The contract's own power: with every hook it overrides replaced by the base no-op, on equals off."""
    cls = REGULARIZERS.get(reg)
    hooks = [h for h, f in vars(Regularizer).items() if inspect.isfunction(f) and not h.startswith("_")]
    for hook in hooks:
        if getattr(cls, hook) is not getattr(Regularizer, hook):
            monkeypatch.setattr(cls, hook, getattr(Regularizer, hook))
    model = _first_model(reg)
    on, off = _run(reg, model, True, forward=True), _off(model)
    assert not any(CHECKS[c](on, off) for c in cls.changes), f"the contract cannot tell a no-op '{reg}' from off"
