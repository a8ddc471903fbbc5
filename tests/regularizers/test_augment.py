"""Augment changes the batch, is reproducible per seed, keeps shapes, and each op does what it says."""

import pytest
import torch
from pydantic import ValidationError

from ablate.regularizers import REGULARIZERS, Context
from ablate.regularizers.augment import augment_batch

ALL = dict(crop=4, flip=True, rotation=20.0, zoom=0.15)


def _batch(n=16, c=3, h=12, w=10, seed=0):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _ctx(seed):
    return Context(torch.nn.Identity(), gen=_gen(seed))


def _reg(**params):
    cls = REGULARIZERS.get("augment")
    return cls(cls.Params(**params))


@pytest.mark.parametrize(
    "params", [ALL, {"crop": 2}, {"flip": True}, {"rotation": 30.0}, {"zoom": 0.3}], ids=str
)
def test_changes_batch_reproducibly_and_keeps_shape(params):
    x, y = _batch(), torch.arange(16)
    reg = _reg(**params)
    a, ya = reg.augment(_ctx(1), x, y)
    b, _ = reg.augment(_ctx(1), x, y)
    c, _ = reg.augment(_ctx(2), x, y)
    assert a.shape == x.shape and a.dtype == x.dtype and a.is_contiguous()
    assert torch.equal(ya, y)
    assert not torch.equal(a, x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_input_untouched():
    x = _batch()
    before = x.clone()
    augment_batch(x, _gen(0), **ALL)
    assert torch.equal(x, before)


def test_flip_only_flips_exactly():
    x = _batch(n=64)
    out = augment_batch(x, _gen(3), flip=True)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped ^ kept).all())  # each image exactly flipped or exactly kept
    assert 10 < int(flipped.sum()) < 54


def test_crop_is_an_integer_shift_with_zero_fill():
    x = _batch(n=32, h=8, w=8)
    pad = 2
    out = augment_batch(x, _gen(5), crop=pad)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    for o, p in zip(out, padded, strict=True):
        windows = [p[:, dy : dy + 8, dx : dx + 8] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]
        assert any(torch.allclose(o, win, atol=1e-5) for win in windows)


def test_extreme_angle_is_a_rigid_quarter_turn():
    from ablate.regularizers.augment import _affine

    x = _batch(n=2, h=6, w=6)
    u = torch.full((2, 5), 0.5)
    u[:, 3] = 1.0  # angle column at its maximum: +rotation degrees; scale column 0.5: no zoom
    out = _affine(x, u, crop=0, flip=False, rotation=90.0, zoom=0.0)
    assert any(torch.allclose(out, x.rot90(k, dims=(2, 3)), atol=1e-5) for k in (1, -1))


def test_low_precision_and_channels_last_kept():
    x = _batch().to(memory_format=torch.channels_last)
    out = augment_batch(x, _gen(0), **ALL)
    assert out.is_contiguous(memory_format=torch.channels_last)
    half = augment_batch(_batch().bfloat16(), _gen(0), **ALL)
    assert half.dtype == torch.bfloat16


def test_generator_advances_the_same_whatever_is_on():
    g1, g2 = _gen(7), _gen(7)
    augment_batch(_batch(), g1, flip=True)
    augment_batch(_batch(), g2, **ALL)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


@pytest.mark.parametrize(
    "params",
    [{}, {"crop": -1}, {"crop": 65}, {"rotation": 181}, {"zoom": 0.95}, {"zoom": -0.1}, {"flop": True}],
    ids=str,
)
def test_invalid_params_rejected(params):
    with pytest.raises(ValidationError):
        REGULARIZERS.get("augment").Params(**params)


def test_declares_applicability():
    cls = REGULARIZERS.get("augment")  # every model (it needs no knob), image data only
    assert cls.applies_to is None and cls.data_kinds == {"image"}
