"""A model can be a plain builder function: its knobs and params are read from its signature, architectural
regularizers apply where it takes their knob, every other regularizer applies without a declaration."""

from __future__ import annotations

import math

import pytest
from torch import nn

from ablate.data.base import DataSpec
from ablate.errors import StudyError
from ablate.models import MODELS
from ablate.regularizers import cell_regularizers
from ablate.train import build_model, fit
from ablate.validate import validate_study


@MODELS.register("test_mlp")
def mlp(spec: DataSpec, *, dropout: float = 0.0, hidden: int = 16, act: str = "relu") -> nn.Module:
    """A two-layer perceptron on flattened pixels."""
    h, w = spec.image_size
    layers = [nn.Flatten(), nn.Linear(spec.in_channels * h * w, hidden), nn.ReLU() if act == "relu" else nn.Tanh()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, spec.num_classes))


def _study(factors, model=None):
    return {"name": "fn", "model": model or {"name": "test_mlp", "hidden": 8},
            "data": {"name": "digits", "batch_size": 256}, "train": {"epochs": 1}, "factors": factors, "seeds": 1}


def test_signature_splits_into_knobs_and_typed_params():
    builder = MODELS.get("test_mlp")
    assert builder.reg_kwargs == {"dropout"} and builder.summary == "A two-layer perceptron on flattened pixels."
    assert set(builder.Params.model_fields) == {"name", "hidden", "act"}
    assert builder.Params(hidden=4).hidden == 4 and builder.Params().act == "relu"
    assert MODELS.register("test_mlp")(mlp) is mlp  # registering the same function again is harmless


def test_a_function_model_trains_with_its_knob_and_with_knob_free_regularizers():
    study = validate_study(_study({"dropout": {"p": 0.5}, "augment": {"flip": True}, "l2": {"lambda": 1e-3}}))
    cell = study.cells()[-1]
    assert set(cell.active()) == {"dropout", "augment", "l2"}
    from ablate.data import DATASETS

    model = build_model(cell, DATASETS.get("digits").load(study.data), cell_regularizers(cell))
    assert any(isinstance(m, nn.Dropout) for m in model.modules()) and model[1].out_features == 8
    assert math.isfinite(fit(cell).final["test_loss"])


@pytest.mark.parametrize("reg", ["batchnorm", "spatial_dropout"])
def test_an_architectural_regularizer_it_has_no_knob_for_names_model_and_knob(reg):
    with pytest.raises(StudyError) as err:
        validate_study(_study({reg: {"p": 0.2} if reg != "batchnorm" else {}}))
    msg = str(err.value)
    assert f"factors.{reg}" in msg and "model 'test_mlp'" in msg and f"no '{reg}' knob" in msg


def test_params_are_validated_and_knobs_are_not_params():
    with pytest.raises(StudyError, match=r"model.hidden"):
        validate_study(_study({"l2": {"lambda": 1e-3}}, {"name": "test_mlp", "hidden": "wide"}))
    with pytest.raises(StudyError, match=r"model.dropout"):  # a knob is set through its regularizer
        validate_study(_study({"l2": {"lambda": 1e-3}}, {"name": "test_mlp", "dropout": 0.3}))


def test_a_builder_must_take_the_spec_and_return_a_module():
    with pytest.raises(TypeError, match="DataSpec as its first positional"):
        MODELS.register("test_bad")(lambda *, width=2: None)

    @MODELS.register("test_not_a_module")
    def not_a_module(spec):
        return 3

    study = validate_study(_study({"l2": {"lambda": 1e-3}}, {"name": "test_not_a_module"}))
    with pytest.raises(Exception, match="returned int, not an nn.Module"):
        fit(study.cells()[0])
    MODELS._items.pop("test_not_a_module")  # keep the contract tests' model list to real builders
