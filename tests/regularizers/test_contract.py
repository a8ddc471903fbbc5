"""Contract tests over every registry entry: each regularizer, on and off, trains on every model it applies to,
is rejected by validation on the models it does not, and does what it claims."""

from __future__ import annotations

import math

import pytest
import torch

from ablate.data import DATASETS
from ablate.errors import StudyError
from ablate.metrics import weight_stats
from ablate.models import MODELS
from ablate.regularizers import REGULARIZERS, Context, cell_regularizers, penalized_parameters
from ablate.regularizers.applicability import applies
from ablate.train import build_model, build_optimizer, fit
from ablate.validate import validate_study

PAIRS = [(r, m) for r in REGULARIZERS.names() for m in MODELS.names()]


def _study(reg: str, model: str, epochs: int = 1, **train):
    tiny = MODELS.get(model).tiny
    assert tiny, f"model '{model}' needs a `tiny` example for the contract tests"
    return {
        "name": f"contract-{reg}-{model}", "model": dict(tiny["model"]), "data": dict(tiny["data"]),
        "train": {"epochs": epochs, "lr": 1e-3, **train},
        "factors": {reg: dict(REGULARIZERS.get(reg).example)}, "seeds": 1,
    }


def _applies(reg: str, model: str) -> bool:
    r, b = REGULARIZERS.get(reg), MODELS.get(model)
    return applies(r, b, DATASETS.get(b.tiny["data"]["name"]).kind)


@pytest.mark.parametrize("reg,model", PAIRS)
def test_every_regularizer_on_and_off_trains_or_is_rejected(reg, model):
    raw = _study(reg, model)
    if not _applies(reg, model):
        with pytest.raises(StudyError) as err:
            validate_study(raw)
        assert f"factors.{reg}" in str(err.value) and reg in str(err.value)
        return
    try:
        study = validate_study(raw)
    except StudyError as e:
        pytest.fail(f"regularizer '{reg}' needs a valid `example` (class attribute) for model '{model}': {e}")
    off, on = study.cells()  # baseline (off) and the factor on, same seed
    for cell in (off, on):
        result = fit(cell)
        assert math.isfinite(result.final["test_loss"]) and len(result.history) == 1


def _cell(reg: str, on: bool = True, model: str = "cnn", **train):
    study = validate_study(_study(reg, model, **train))
    return study.cells()[1 if on else 0]


def _model_for(cell):
    data = DATASETS.get(cell.study.data.name).load(cell.study.data)
    return build_model(cell, data, cell_regularizers(cell)), data


@pytest.mark.parametrize("reg,expected", [
    ("l1", lambda m, lam: lam * sum(p.abs().sum() for p in penalized_parameters(m))),
    ("l2", lambda m, lam: 0.5 * lam * sum(p.pow(2).sum() for p in penalized_parameters(m))),
])
def test_penalties_add_exactly_their_formula(reg, expected):
    cell = _cell(reg)
    r = cell_regularizers(cell)[0]
    model, _ = _model_for(cell)
    lam = r.params.lambda_
    assert torch.allclose(r.penalty(Context(model)), expected(model, lam), rtol=1e-6)


def test_elastic_net_formula():
    r = cell_regularizers(_cell("elastic_net"))[0]
    model, _ = _model_for(_cell("elastic_net"))
    ps = penalized_parameters(model)
    a, k = r.params.alpha, r.params.l1_ratio
    want = a * k * sum(p.abs().sum() for p in ps) + 0.5 * a * (1 - k) * sum(p.pow(2).sum() for p in ps)
    assert torch.allclose(r.penalty(Context(model)), want, rtol=1e-6)


def test_penalties_skip_biases_and_norm_parameters():
    cell = validate_study({**_study("batchnorm", "cnn"), "factors": {"batchnorm": {}}}).cells()[1]
    model, _ = _model_for(cell)
    names = {n for n, p in model.named_parameters() if any(p is q for q in penalized_parameters(model))}
    assert names and all(n.endswith("weight") for n in names)
    bn = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d)]
    assert bn and not any(n.startswith(b + ".") for b in bn for n in names)


def test_weight_decay_only_on_penalized_group():
    cell = _cell("weight_decay")
    model, _ = _model_for(cell)
    opt = build_optimizer(cell, model, cell_regularizers(cell))
    decayed, rest = opt.param_groups
    assert decayed["weight_decay"] == 1e-4 and rest["weight_decay"] == 0
    assert {id(p) for p in decayed["params"]} == {id(p) for p in penalized_parameters(model)}


@pytest.mark.parametrize("reg,layer", [
    ("dropout", torch.nn.Dropout), ("spatial_dropout", torch.nn.Dropout2d), ("batchnorm", torch.nn.BatchNorm2d),
])
def test_architectural_layers_exist_only_when_on(reg, layer):
    on, _ = _model_for(_cell(reg, on=True))
    off, _ = _model_for(_cell(reg, on=False))
    assert any(type(m) is layer for m in on.modules())
    assert not any(type(m) is layer for m in off.modules())


def test_gaussian_dropout_is_multiplicative_and_identity_at_eval():
    from ablate.models.layers import GaussianDropout

    model, _ = _model_for(_cell("gaussian_dropout"))
    layer = next(m for m in model.modules() if isinstance(m, GaussianDropout))
    x = torch.full((20000,), 2.0)
    layer.train()
    y = layer(x)
    assert abs(float((y / x).mean()) - 1.0) < 0.02 and abs(float((y / x).var()) - 0.25) < 0.02
    assert torch.equal(layer(torch.zeros(10)), torch.zeros(10))  # noise scales, never adds
    layer.eval()
    assert torch.equal(layer(x), x)


def test_early_stopping_stops_and_restores_best():
    raw = _study("early_stopping", "cnn", epochs=30)
    raw["factors"]["early_stopping"] = {"patience": 1, "min_delta": 5.0}  # nothing counts as a gain
    cell = validate_study(raw).cells()[1]
    result = fit(cell)
    assert len(result.history) == 2 and result.final["stopped_epoch"] == 2
    assert "early stopping" in result.stop_reason


def test_grad_clip_bounds_the_gradient_norm():
    cell = _cell("grad_clip")
    r = cell_regularizers(cell)[0]
    model, data = _model_for(cell)
    loss = model(data.x_train[:64].float()).pow(2).sum() * 1e3
    loss.backward()
    r.after_backward(Context(model))
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
    assert float(norm) <= 1.0 + 1e-4


def test_cosine_schedule_lowers_the_lr():
    raw = _study("lr_schedule", "cnn", epochs=3)
    result = fit(validate_study(raw).cells()[1])
    lrs = [h["lr"] for h in result.history]
    assert lrs[0] == 1e-3 and lrs[1] < lrs[0] and lrs[2] < lrs[1]


def test_metrics_are_norms_not_sums_of_squares():
    model, _ = _model_for(_cell("l2"))
    stats = weight_stats(model)
    ps = penalized_parameters(model)
    with torch.no_grad():
        assert math.isclose(stats["l2_norm"], float(torch.sqrt(sum(p.pow(2).sum() for p in ps))), rel_tol=1e-5)
        assert math.isclose(stats["l1_norm"], float(sum(p.abs().sum() for p in ps)), rel_tol=1e-5)
    assert 0.0 <= stats["sparsity"] <= 1.0 and any(k.startswith("norm/") for k in stats)


def test_the_transformer_declares_its_positional_table_and_cls_token_exempt():
    builder = MODELS.get("transformer")
    spec = DATASETS.get("digits").load(DATASETS.get("digits").Params(name="digits")).spec
    model = builder.build(builder.Params(name="transformer", dim=8, depth=1, heads=2, pooling="cls"), spec)
    names = {n for n, p in model.named_parameters() if any(p is q for q in penalized_parameters(model))}
    assert names and not names & {"pos_embedding", "cls_token"} and "head.weight" in names
    wrapped = torch.nn.Sequential(torch.nn.Identity(), model)  # the declaration holds wherever the module sits
    wrapped_names = {n for n, p in wrapped.named_parameters() if any(p is q for q in penalized_parameters(wrapped))}
    assert wrapped_names == {f"1.{n}" for n in names}


def test_a_model_declares_what_penalties_skip_beside_biases_and_norms():
    class Declared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table, self.fc = torch.nn.Parameter(torch.ones(3, 4)), torch.nn.Linear(4, 2)
            self.norm = torch.nn.LayerNorm(4)

        def no_weight_decay(self):
            return {"table"}

    model = Declared()
    kept = [n for n, p in model.named_parameters() if any(p is q for q in penalized_parameters(model))]
    assert kept == ["fc.weight"]
