"""Transformer regularizers: word dropout, attention dropout, stochastic depth, label smoothing; the patch front
end trains with every regularizer that applies to it; validation rejects the ones that do not."""

import math

import pytest
import torch
import torch.nn.functional as F

from ablate.data import DATASETS
from ablate.data.text import PAD_ID, UNK_ID
from ablate.errors import StudyError
from ablate.models import MODELS
from ablate.models.transformer_net import DropPath, SelfAttention
from ablate.regularizers import REGULARIZERS, Context, cell_regularizers
from ablate.regularizers.applicability import applies
from ablate.regularizers.transformer import word_dropout
from ablate.train import build_model, fit
from ablate.validate import validate_study

TINY_TEXT = {"name": "synthetic_text", "n_train": 200, "n_test": 100, "batch_size": 64}
TINY_VIT = {"name": "transformer", "dim": 8, "depth": 2, "heads": 2, "patch_size": 4}


def _study(factors, model=None, data=None, epochs=1, **extra):
    return {"name": "t", "model": model or {**TINY_VIT, "patch_size": 4}, "data": data or TINY_TEXT,
            "train": {"epochs": epochs, "lr": 1e-3}, "factors": factors, "seeds": 1, **extra}


def _on_model(reg, params):
    cell = validate_study(_study({reg: params})).cells()[1]
    data = DATASETS.get(cell.study.data.name).load(cell.study.data)
    return build_model(cell, data, cell_regularizers(cell))


def test_word_dropout_drops_real_tokens_only_at_rate_p_and_is_seeded():
    x = torch.randint(2, 100, (400, 30))
    x[:, 20:] = PAD_ID
    out = word_dropout(x, torch.Generator().manual_seed(0), p=0.25)
    dropped = out != x
    assert not dropped[:, 20:].any() and bool((out[dropped] == UNK_ID).all())
    assert abs(float(dropped[:, :20].float().mean()) - 0.25) < 0.02
    assert torch.equal(out, word_dropout(x, torch.Generator().manual_seed(0), p=0.25))
    assert not torch.equal(out, word_dropout(x, torch.Generator().manual_seed(1), p=0.25))
    to_pad = word_dropout(x, torch.Generator().manual_seed(0), p=0.25, replace="pad")
    assert torch.equal(to_pad == PAD_ID, (out == UNK_ID) | (x == PAD_ID))  # same positions, removed instead
    with pytest.raises(TypeError, match="token ids"):
        word_dropout(x.float(), torch.Generator(), p=0.1)


def test_word_dropout_hook_leaves_labels_and_input_untouched():
    reg = REGULARIZERS.get("word_dropout")(REGULARIZERS.get("word_dropout").Params(p=0.5))
    x, y = torch.randint(2, 9, (8, 5)), torch.arange(8)
    before = x.clone()
    x2, y2 = reg.augment(Context(torch.nn.Identity(), gen=torch.Generator().manual_seed(0)), x, y)
    assert torch.equal(x, before) and y2 is y and not torch.equal(x2, x)


def test_attention_dropout_and_stochastic_depth_reach_the_model():
    model = _on_model("attention_dropout", {"p": 0.3})
    assert [m.attention_dropout for m in model.modules() if isinstance(m, SelfAttention)] == [0.3, 0.3]
    model = _on_model("stochastic_depth", {"p": 0.2})
    assert [b.drop_path.p for b in model.blocks] == pytest.approx([0.1, 0.2])
    assert not any(isinstance(m, DropPath) for m in _on_model("dropout", {"p": 0.1}).modules())


def test_attention_dropout_is_random_in_train_and_off_in_eval():
    torch.manual_seed(0)
    model = _on_model("attention_dropout", {"p": 0.5})
    x = torch.randint(2, 20, (4, 16))
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_label_smoothing_smooths_the_training_loss_only():
    reg_cls = REGULARIZERS.get("label_smoothing")
    for key in ("epsilon", "eps", "value"):
        assert reg_cls.Params.model_validate({key: 0.2}).epsilon == 0.2
    kw = reg_cls(reg_cls.Params(epsilon=0.2)).loss_kwargs()
    logits, y = torch.tensor([[8.0, 0.0, 0.0]]), torch.tensor([0])
    smoothed = F.cross_entropy(logits, y, **kw)
    logp = logits.log_softmax(1)[0]
    assert math.isclose(float(smoothed), float(-(0.8 + 0.2 / 3) * logp[0] - 0.2 / 3 * logp[1:].sum()), rel_tol=1e-5)
    off, on = (fit(c) for c in validate_study(_study({"label_smoothing": {"epsilon": 0.3}}, epochs=2)).cells())
    assert on.history[-1]["fit_loss"] > off.history[-1]["fit_loss"]  # the smoothed target cannot be reached


VIT_REGS = [r for r in REGULARIZERS.names() if applies(REGULARIZERS.get(r), MODELS.get("transformer"), "image")]


@pytest.mark.parametrize("reg", VIT_REGS)
def test_every_image_regularizer_on_and_off_trains_the_patch_transformer(reg):
    raw = _study({reg: dict(REGULARIZERS.get(reg).example)}, data={"name": "digits", "batch_size": 512})
    for cell in validate_study(raw).cells():
        result = fit(cell)
        assert math.isfinite(result.final["test_loss"]) and len(result.history) == 1


@pytest.mark.parametrize("reg", ["batchnorm", "spatial_dropout"])
@pytest.mark.parametrize("data", [TINY_TEXT, {"name": "digits"}], ids=["text", "image"])
def test_cnn_only_factors_are_rejected_on_the_transformer(reg, data):
    with pytest.raises(StudyError) as err:
        validate_study(_study({reg: dict(REGULARIZERS.get(reg).example), "dropout": {"p": 0.1}}, data=data))
    msg = str(err.value)
    assert f"factors.{reg}" in msg and f"regularizer '{reg}'" in msg and "model 'transformer'" in msg


def test_kind_specific_factors_are_rejected_on_the_other_data():
    with pytest.raises(StudyError, match=r"factors.word_dropout: regularizer 'word_dropout' does not apply to image"):
        validate_study(_study({"word_dropout": {"p": 0.1}}, data={"name": "digits"}))
    with pytest.raises(StudyError, match=r"factors.augment: regularizer 'augment' does not apply to text"):
        validate_study(_study({"augment": {"flip": True}}))
    validate_study(_study({"augment": {"flip": True}}, data={"name": "digits"}))  # images: fine


def test_a_text_cell_with_every_random_regularizer_is_deterministic():
    factors = {"word_dropout": {"p": 0.2}, "attention_dropout": {"p": 0.2}, "stochastic_depth": {"p": 0.3},
               "dropout": {"p": 0.2}}
    study = validate_study(_study(factors, epochs=2, design="loco"))
    all_on = study.cells()[0]
    assert set(all_on.active()) == set(factors)
    first, again = fit(all_on), fit(all_on)
    assert first.history[-1]["fit_loss"] == again.history[-1]["fit_loss"] and first.final == again.final
