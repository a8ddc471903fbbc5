"""The CNN adapts to any image shape, has a regularizer's layers only when it is on, and is deterministic."""

import pytest
import torch
from torch import nn

from ablate.data.base import DataSpec
from ablate.models import MODELS
from ablate.models.layers import GaussianDropout
from ablate.testing import check_model

ON = dict(dropout=0.5, spatial_dropout=0.25, gaussian_dropout=0.1, batchnorm=True)


def _build(spec, width=4, **kw):
    cls = MODELS.get("cnn")
    return cls.build(cls.Params(name="cnn", width=width), spec, **kw)


def _kinds(model):
    return [type(m) for m in model.modules()]


@pytest.mark.parametrize("channels,size", [(1, (8, 8)), (3, (32, 32)), (3, (9, 7))])
@pytest.mark.parametrize("kw", [{}, ON], ids=["bare", "all_on"])
def test_forward_backward_any_shape(channels, size, kw):
    """The model contract (ablate.testing.check_model) on images of any shape: (batch, classes) logits,
    gradients in every parameter, deterministic."""
    check_model("cnn", DataSpec("image", num_classes=5, in_channels=channels, image_size=size), {"width": 4}, kw)


def test_layers_exist_only_when_on():
    spec = DataSpec("image", num_classes=10, in_channels=1, image_size=(8, 8))
    bare = _kinds(_build(spec))
    for absent in (nn.Dropout, nn.Dropout2d, GaussianDropout, nn.BatchNorm1d, nn.BatchNorm2d, nn.Identity):
        assert absent not in bare
    assert bare.count(nn.Conv2d) == 2 and bare.count(nn.Linear) == 2
    kinds = _kinds(_build(spec, **ON))
    assert kinds.count(nn.Dropout) == 1 and kinds.count(nn.Dropout2d) == 2
    assert kinds.count(GaussianDropout) == 2
    assert kinds.count(nn.BatchNorm2d) == 2 and kinds.count(nn.BatchNorm1d) == 1
    only_dropout = _kinds(_build(spec, dropout=0.3))
    assert nn.Dropout in only_dropout and nn.BatchNorm2d not in only_dropout


def test_width_scales_channels_and_hidden():
    spec = DataSpec("image", num_classes=10, in_channels=3, image_size=(32, 32))
    model = _build(spec, width=8)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [8, 16]
    assert linears[0].in_features == 16 * 16 * 16 and linears[0].out_features == 64


def test_deterministic_under_manual_seed():
    """Same seed, same weights and the same training-mode outputs, every regularizer layer on."""
    check_model("cnn", DataSpec("image", num_classes=10, in_channels=1, image_size=(8, 8)), {"width": 4}, ON)


def test_channels_last_and_bf16_autocast():
    spec = DataSpec("image", num_classes=10, in_channels=3, image_size=(16, 16))
    model = _build(spec, **ON).to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 16, 16).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (4, 10) and torch.isfinite(out.float()).all()
    out.float().sum().backward()


def test_unknown_reg_kwarg_rejected():
    spec = DataSpec("image", num_classes=10, in_channels=1, image_size=(8, 8))
    with pytest.raises(TypeError, match="layer_norm"):
        _build(spec, layer_norm=True)


def test_gaussian_dropout_is_multiplicative_and_off_at_eval():
    torch.manual_seed(0)
    layer = GaussianDropout(0.25)
    x = torch.full((200_000,), 2.0)
    y = layer(x)
    assert abs(y.mean().item() - 2.0) < 0.01  # mean kept: noise has mean 1
    assert abs(y.std().item() - 2.0 * 0.5) < 0.01  # std scales with the signal: 2 * sqrt(alpha)
    assert torch.equal(layer(torch.zeros(10)), torch.zeros(10))  # multiplicative: zero stays zero
    layer.eval()
    assert torch.equal(layer(x), x)
