"""The Transformer: both front ends, a correct padding mask, layers only when on, determinism, clear errors."""

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.models import MODELS
from ablate.models.layers import GaussianDropout
from ablate.models.transformer_net import DropPath, SelfAttention
from ablate.testing import check_model

TEXT = DataSpec("text", num_classes=3, vocab_size=50, max_len=12, pad_id=0)
IMAGE = DataSpec("image", num_classes=4, in_channels=3, image_size=(8, 8))
ON = dict(dropout=0.2, attention_dropout=0.1, stochastic_depth=0.3, gaussian_dropout=0.1)


def _build(spec, reg=None, **params):
    cls = MODELS.get("transformer")
    p = cls.Params(name="transformer", **{"dim": 16, "depth": 2, "heads": 4, "patch_size": 4, **params})
    return cls.build(p, spec, **(reg or {}))


def _ids(rows):
    out = torch.zeros(len(rows), TEXT.max_len, dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("reg", [{}, ON], ids=["bare", "all_on"])
def test_forward_backward_text_and_patches(pooling, reg):
    """The model contract (ablate.testing.check_model) on both front ends, then a padded text batch."""
    params = {"dim": 16, "depth": 2, "heads": 4, "patch_size": 4, "pooling": pooling}
    check_model("transformer", TEXT, params, reg)
    check_model("transformer", IMAGE, params, reg)
    out = _build(TEXT, reg, pooling=pooling)(_ids([[5, 6, 7], [8] * 12]))
    assert out.shape == (2, 3)
    assert _build(IMAGE, reg, pooling=pooling).pos_embedding.shape[1] == 4 + (pooling == "cls")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_mask_alone_equals_padded_in_a_batch(pooling):
    torch.manual_seed(0)
    model = _build(TEXT, ON, pooling=pooling).eval()
    seq = [3, 9, 4, 17, 2]
    alone = model(torch.tensor([seq]))  # no padding at all
    batch = model(_ids([[11] * 12, seq, [7, 7]]))  # padded to 12 next to a full and a shorter text
    assert torch.allclose(alone[0], batch[1], atol=1e-5)
    changed = _ids([[11] * 12, seq, [7, 7]])
    changed[1, len(seq):] = 0
    changed[0, 3] = 12  # another row's content must not leak either
    assert torch.allclose(model(changed)[1], batch[1], atol=1e-6)


def test_empty_text_gives_finite_logits():
    model = _build(TEXT).eval()
    out = model(_ids([[], [4, 5]]))
    assert torch.isfinite(out).all()


def test_longer_input_is_truncated_to_max_len():
    model = _build(TEXT, max_len=4).eval()
    assert model.pos_embedding.shape[1] == 4
    x = torch.randint(2, 50, (2, 12))
    assert torch.allclose(model(x), model(x[:, :4]))


def test_layers_exist_only_when_on():
    bare = _build(TEXT)
    kinds = [type(m) for m in bare.modules()]
    for absent in (nn.Dropout, DropPath, GaussianDropout, nn.Identity):
        assert absent not in kinds
    assert all(m.attention_dropout == 0.0 for m in bare.modules() if isinstance(m, SelfAttention))
    on = _build(TEXT, ON)
    kinds = [type(m) for m in on.modules()]
    assert kinds.count(nn.Dropout) == 1 + 2 * 3  # embeddings + per block: attn out, mlp out, mlp hidden
    assert kinds.count(GaussianDropout) == 2 + 1  # per block mlp hidden + pooled features
    assert all(m.attention_dropout == 0.1 for m in on.modules() if isinstance(m, SelfAttention))


def test_stochastic_depth_rate_grows_linearly_with_depth():
    model = _build(TEXT, {"stochastic_depth": 0.4}, depth=4)
    rates = [b.drop_path.p for b in model.blocks]
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_drop_path_drops_whole_samples_and_is_identity_at_eval():
    torch.manual_seed(0)
    layer = DropPath(0.5)
    x = torch.ones(4000, 3, 5)
    y = layer(x)
    per_sample = y.flatten(1)
    assert bool(((per_sample == 0).all(1) | (per_sample == 2).all(1)).all())  # all or nothing, kept x2
    assert abs(float(y.mean()) - 1.0) < 0.05
    layer.eval()
    assert torch.equal(layer(x), x)


def test_deterministic_under_manual_seed():
    check_model("transformer", TEXT, {"dim": 16, "depth": 2, "heads": 4}, ON)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = _build(TEXT, ON).train()
        outs.append(model(_ids([[4, 5, 6], [9, 9]])))  # padded rows too
    assert torch.equal(outs[0], outs[1])


def test_xavier_init_and_zero_biases():
    model = _build(TEXT)
    lin = model.blocks[0].mlp[0]
    bound = (6.0 / (lin.in_features + lin.out_features)) ** 0.5
    assert float(lin.weight.detach().abs().max()) <= bound and torch.count_nonzero(lin.bias) == 0
    assert abs(float(model.tokens.weight.detach().std()) - 0.02) < 0.005


def test_patch_size_must_tile_the_image():
    with pytest.raises(AblateError, match=r"patch_size=3 for 8x8 images \(try one of \[1, 2, 4, 8\]\)"):
        _build(IMAGE, patch_size=3)


def test_heads_must_divide_dim_and_unknown_knobs_rejected():
    with pytest.raises(ValidationError, match="heads must divide dim"):
        MODELS.get("transformer").Params(name="transformer", dim=10, heads=4)
    with pytest.raises(TypeError, match="batchnorm"):
        _build(TEXT, {"batchnorm": True})
