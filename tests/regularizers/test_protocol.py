"""The hook protocol: one Context per hook, the hooks' order in a cell, soft targets, and two regularizers
setting the same model knob, optimizer or loss keyword rejected at validation, naming both."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import Tensor

from ablate.errors import StudyError
from ablate.loop import HOOKS, Loop
from ablate.regularizers import REGULARIZERS, Context, Regularizer
from ablate.regularizers.applicability import applies_note, setting_problems
from ablate.train import fit
from ablate.validate import validate_study


@contextlib.contextmanager
def registered(*classes):
    """A regularizer registered for one test only (the contract tests must not see these)."""
    for cls in classes:
        REGULARIZERS.register()(cls)
    try:
        yield
    finally:
        for cls in classes:
            REGULARIZERS._items.pop(cls.name)


def _study(factors, epochs=2, **data):
    return {"name": "protocol", "model": {"name": "cnn", "width": 2},
            "data": {"name": "digits", "batch_size": 512, **data}, "train": {"epochs": epochs, "lr": 1e-3},
            "factors": factors, "seeds": 1}


class Recorder(Regularizer):
    """Overrides every hook and records what it saw."""

    name = "test_recorder"
    changes = frozenset({"batch"})
    calls: list = []

    def _log(self, hook, ctx):
        Recorder.calls.append((hook, ctx.epoch, ctx.step))

    def penalty(self, ctx):
        self._log("penalty", ctx)
        assert ctx.x is not None and ctx.y is not None and ctx.batch_loss is not None
        return None

    def augment(self, ctx, x, y):
        self._log("augment", ctx)
        assert ctx.num_classes == 10 and isinstance(ctx.gen, torch.Generator) and ctx.optimizer is not None
        return x, y

    def after_backward(self, ctx):
        self._log("after_backward", ctx)
        assert all(p.grad is not None for p in ctx.penalized)

    def after_step(self, ctx):
        self._log("after_step", ctx)

    def on_train_start(self, ctx):
        self._log("on_train_start", ctx)

    def on_eval_start(self, ctx):
        self._log("on_eval_start", ctx)

    def on_eval_end(self, ctx):
        self._log("on_eval_end", ctx)

    def on_epoch_end(self, ctx):
        self._log("on_epoch_end", ctx)
        assert "val_loss" in ctx.metrics
        return False

    def on_train_end(self, ctx):
        self._log("on_train_end", ctx)


def test_every_hook_gets_one_context_in_the_documented_order():
    Recorder.calls = []
    with registered(Recorder):
        cell = validate_study(_study({"test_recorder": {}})).cells()[1]
        fit(cell)
    steps = sum(1 for c in Recorder.calls if c[0] == "after_step") // 2  # per epoch
    per_step = ["augment", "penalty", "after_backward", "after_step"]
    want = (["on_train_start"] + per_step * steps + ["on_eval_start", "on_epoch_end", "on_eval_end"]
            + per_step * steps + ["on_eval_start", "on_epoch_end", "on_train_end"])
    assert [c[0] for c in Recorder.calls] == want
    assert [c[2] for c in Recorder.calls if c[0] == "after_step"] == list(range(1, 2 * steps + 1))
    assert {c[1] for c in Recorder.calls if c[0] == "augment"} == {1, 2}


def test_hooks_nobody_overrides_are_never_called():
    model = torch.nn.Linear(2, 2)
    loop = Loop(model, Context(model), [REGULARIZERS.get("l2")(REGULARIZERS.get("l2").Params(**{"lambda": 1.0}))])
    assert {h for h in HOOKS if loop.hooks[h]} == {"penalty"}


class SoftTargets(Regularizer):
    """Replaces the labels by uniform soft targets: the loss must take (N, C) probabilities."""

    name = "test_soft_targets"
    changes = frozenset({"batch"})

    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return x, torch.full((len(y), ctx.num_classes), 1.0 / ctx.num_classes, device=y.device)


def test_soft_targets_reach_the_loss():
    with registered(SoftTargets):
        off, on = (fit(c) for c in validate_study(_study({"test_soft_targets": {}}, epochs=1)).cells())
    # uniform targets: the best the model can do is log(10), far above what real labels reach
    assert on.history[-1]["fit_loss"] > 2.0 > off.history[-1]["fit_loss"] - 0.5


class _Sets(Regularizer):
    kind, key = "optimizer", "weight_decay"

    def optimizer_kwargs(self):
        return {self.key: 0.1} if self.kind == "optimizer" else {}

    def loss_kwargs(self):
        return {self.key: 0.1} if self.kind == "loss" else {}


class DecayToo(_Sets):
    name = "test_decay_too"
    changes = frozenset({"weights"})


class SmoothToo(_Sets):
    name = "test_smooth_too"
    kind, key = "loss", "label_smoothing"
    changes = frozenset({"loss"})


@pytest.mark.parametrize("mine,theirs,key", [
    ("test_decay_too", {"weight_decay": {"lambda": 1e-4}}, "weight_decay"),
    ("test_smooth_too", {"label_smoothing": {"epsilon": 0.1}}, "label_smoothing"),
])
def test_two_regularizers_setting_one_keyword_is_a_validation_error_naming_both(mine, theirs, key):
    with registered(DecayToo, SmoothToo), pytest.raises(StudyError) as err:
        validate_study(_study({**theirs, mine: {}}))
    msg = str(err.value)
    assert f"factors.{mine}" in msg and f"'{mine}'" in msg and f"'{next(iter(theirs))}'" in msg and key in msg


def test_two_regularizers_setting_one_model_knob_name_both():
    class AlsoDropout(Regularizer):
        name = "also_dropout"

        def model_kwargs(self):
            return {"dropout": 0.2}

    dropout = REGULARIZERS.get("dropout")
    regs = [dropout(dropout.Params(p=0.5)), AlsoDropout(AlsoDropout.Params())]
    from ablate.models import MODELS

    (path, rule, value), = setting_problems(MODELS.get("cnn"), regs, always=["also_dropout"])
    assert path == "always.also_dropout" and "'also_dropout' and 'dropout'" in rule and value == "dropout"


def test_listing_says_what_a_regularizer_needs():
    assert applies_note(REGULARIZERS.get("l2")) == "every model; image/text data"
    assert applies_note(REGULARIZERS.get("batchnorm")) == "models with knob batchnorm; image/text data"
    assert applies_note(REGULARIZERS.get("augment")) == "every model; image data"
