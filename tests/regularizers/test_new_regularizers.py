"""mixup, cutmix, cutout, max_norm, ema and sam do what their papers say, exactly where it can be computed."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from ablate.errors import StudyError
from ablate.loop import Loop, overriders
from ablate.regularizers import REGULARIZERS, Context
from ablate.regularizers.cutmix import box_mask
from ablate.regularizers.mixup import sample_beta
from ablate.train import fit
from ablate.validate import validate_study


def _reg(name, **params):
    cls = REGULARIZERS.get(name)
    return cls(cls.Params(**params))


def _ctx(seed=0, model=None, classes=4):
    from ablate.data.base import DataSpec

    spec = DataSpec(kind="image", num_classes=classes, in_channels=1, image_size=(6, 6))
    return Context(model or nn.Identity(), spec=spec, gen=torch.Generator().manual_seed(seed))


def _batch(n=8):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 6, 6, generator=g) + 3.0, torch.arange(n) % 4


def _study(factors, epochs=2, **train):
    return {"name": "new", "model": {"name": "cnn", "width": 2}, "data": {"name": "digits", "batch_size": 128},
            "train": {"epochs": epochs, "lr": 3e-3, **train}, "factors": factors, "seeds": 1}


def test_mixup_mixes_images_and_labels_with_one_seeded_lambda():
    x, y = _batch()
    out, t = _reg("mixup", alpha=0.4).augment(_ctx(1), x, y)
    lam = float(sample_beta(torch.Generator().manual_seed(1), 0.4))
    assert torch.allclose(out, lam * x + (1 - lam) * x.flip(0), atol=1e-5)
    want = lam * F.one_hot(y, 4).float() + (1 - lam) * F.one_hot(y.flip(0), 4).float()
    assert t.shape == (8, 4) and torch.allclose(t, want, atol=1e-6) and torch.allclose(t.sum(1), torch.ones(8))
    again, _ = _reg("mixup", alpha=0.4).augment(_ctx(1), x, y)
    assert torch.equal(out, again)


def test_cutmix_pastes_a_box_and_weighs_labels_by_its_area():
    x, y = _batch()
    out, t = _reg("cutmix", alpha=1.0).augment(_ctx(3), x, y)
    pasted = (out != x).any(dim=(0, 1))  # the box: where any image took its partner's pixels
    assert torch.equal(out[:, :, pasted], x.flip(0)[:, :, pasted]) and torch.equal(out[:, :, ~pasted], x[:, :, ~pasted])
    kept = 1 - float(pasted.float().mean())
    assert torch.allclose(t[0], kept * F.one_hot(y[0], 4).float() + (1 - kept) * F.one_hot(y[-1], 4).float())
    rows, cols = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
    assert pasted.sum() == len(rows) * len(cols)  # a rectangle
    full = box_mask(torch.tensor(0.0), torch.tensor([0.5, 0.5]), 6, 6)
    assert full.all() and not box_mask(torch.tensor(1.0), torch.tensor([0.5, 0.5]), 6, 6).any()
    edge = box_mask(torch.tensor(0.75), torch.tensor([0.0, 0.0]), 8, 8)  # half-size box centred on a corner
    assert int(edge.sum()) == 4  # clipped to the quarter inside the image


def test_mixing_twice_and_label_smoothing_take_soft_targets():
    x, y = _batch()
    ctx = _ctx(2)
    x1, t1 = _reg("mixup", alpha=1.0).augment(ctx, x, y)
    _, t2 = _reg("cutmix", alpha=1.0).augment(ctx, x1, t1)
    assert torch.allclose(t2.sum(1), torch.ones(8))
    raw = {**_study({"mixup": {"alpha": 0.4}}, epochs=3), "always": {"label_smoothing": {"epsilon": 0.1}}}
    off, on = (fit(c) for c in validate_study(raw).cells())
    assert math.isfinite(on.final["test_loss"]) and on.history[-1]["fit_loss"] > off.history[-1]["fit_loss"]


def test_cutout_blanks_squares_of_the_asked_size_and_leaves_labels():
    x, y = _batch(64)
    out, y2 = _reg("cutout", size=2, count=1).augment(_ctx(4), x, y)
    holes = (out == 0).all(dim=1)  # x is far from 0 everywhere, so a 0 is a hole
    assert y2 is y and torch.equal(out[~holes[:, None].expand_as(out)], x[~holes[:, None].expand_as(x)])
    sizes = holes.flatten(1).sum(1)
    assert int(sizes.max()) == 4 and set(sizes.tolist()) <= {1, 2, 4}  # 2x2, or clipped at a border
    frac, _ = _reg("cutout", fraction=0.5, count=2).augment(_ctx(4), x, y)
    assert 0.2 < float((frac == 0).float().mean()) < 0.5
    for bad in ({}, {"size": 2, "fraction": 0.5}, {"fraction": 1.0}, {"size": 0}, {"size": 2, "count": 0}):
        with pytest.raises(ValidationError):
            REGULARIZERS.get("cutout").Params(**bad)


def test_image_mixing_is_rejected_on_text():
    for reg in ("mixup", "cutmix", "cutout"):
        raw = {**_study({reg: dict(REGULARIZERS.get(reg).example)}),
               "model": {"name": "transformer", "dim": 8, "heads": 2}, "data": {"name": "synthetic_text"}}
        with pytest.raises(StudyError, match=rf"factors.{reg}: regularizer '{reg}' does not apply to text"):
            validate_study(raw)


def test_max_norm_caps_every_units_norm_and_leaves_smaller_ones():
    model = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, 4.0, 0, 0], [0.1, 0, 0, 0], [0, 0, 1.0, 1.0]]))
    _reg("max_norm", max_norm=1.0).after_step(Context(model))
    norms = model.weight.norm(dim=1)
    assert torch.allclose(norms, torch.tensor([1.0, 0.1, 1.0]), atol=1e-5)
    assert torch.allclose(model.weight[0], torch.tensor([0.6, 0.8, 0, 0]), atol=1e-5)
    result = fit(validate_study(_study({"max_norm": {"max_norm": 0.5}}, epochs=1)).cells()[1])
    assert math.isfinite(result.final["test_loss"])


def test_ema_trains_the_raw_weights_as_off_and_evaluates_the_average():
    off, on = (fit(c) for c in validate_study(_study({"ema": {"decay": 0.9}}, epochs=3)).cells())
    assert [h["fit_loss"] for h in on.history] == [h["fit_loss"] for h in off.history]  # training untouched
    assert on.history[-1]["val_loss"] != off.history[-1]["val_loss"] and on.final != off.final


def test_ema_average_follows_its_formula():
    model = nn.Linear(2, 1)
    ctx = Context(model)
    ema = _reg("ema", decay=0.5, warmup=False)
    ema.on_train_start(ctx)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ctx.step = 1
    ema.after_step(ctx)
    ema.on_eval_start(ctx)
    assert torch.allclose(model.weight, start + 0.5)  # 0.5 * start + 0.5 * (start + 1)
    ema.on_eval_end(ctx)
    assert torch.allclose(model.weight, start + 1.0)  # the raw weights back for training


def test_sam_steps_with_the_gradient_at_the_ascended_point():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
    w0 = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loop = Loop(model, Context(model, opt), [_reg("sam", rho=0.5)])
    loop.call("on_train_start")
    loop.step(x, y)
    # by hand: g at w, e = rho g / ||g||, the step uses the gradient at w + e
    ref = nn.Linear(3, 2)
    with torch.no_grad():
        for p, w in zip(ref.parameters(), w0):
            p.copy_(w)
    g = torch.autograd.grad(F.cross_entropy(ref(x), y), list(ref.parameters()))
    norm = torch.sqrt(sum((t ** 2).sum() for t in g))
    with torch.no_grad():
        for p, t in zip(ref.parameters(), g):
            p.add_(0.5 * t / norm)
    g2 = torch.autograd.grad(F.cross_entropy(ref(x), y), list(ref.parameters()))
    for p, w, t in zip(model.parameters(), w0, g2):
        assert torch.allclose(p, w - 0.1 * t, atol=1e-6)


def test_sam_runs_before_grad_clip_whatever_the_study_order():
    regs = [_reg("grad_clip", max_norm=1.0), _reg("sam", rho=0.05)]
    assert [r.name for r in overriders(regs, "after_backward")] == ["sam", "grad_clip"]
    result = fit(validate_study({**_study({"sam": {"rho": 0.05}}, epochs=1),
                                 "always": {"grad_clip": {"max_norm": 1.0}}}).cells()[1])
    assert math.isfinite(result.final["test_loss"])
