"""The contract that can fail: for every registered regularizer on every registered model it applies to,
switching it on changes exactly what it declares in `changes` (one optimizer step on a tiny batch, on and off,
same seed). A regularizer whose hook is a no-op fails here. The models include a plain builder function
defined below, standing in for a plugin's model, and the torchvision (and timm) library models.
"""

from __future__ import annotations

import inspect

import pytest
from torch import nn

from ablate.data.base import DataSpec
from ablate.models import MODELS
from ablate.regularizers import CHANGES, REGULARIZERS, Regularizer
from ablate.testing import ContractError, check_regularizer
from ablate.testing.regularizer import CHECKS, HOOKS_FOR, changed, check_declarations, models_for


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


def _pairs():
    return [(r, m) for r in REGULARIZERS.names() for m in models_for(r)]


def test_every_change_has_a_check():
    assert set(CHECKS) == set(CHANGES) == set(HOOKS_FOR)


@pytest.mark.parametrize("reg", REGULARIZERS.names())
def test_every_regularizer_declares_what_it_changes(reg):
    check_declarations(reg, REGULARIZERS.get(reg))


@pytest.mark.parametrize("reg,model", _pairs())
def test_on_changes_what_the_regularizer_claims(reg, model):
    check_regularizer(reg, model=model)


def _first_model(reg: str) -> str:
    return next(m for r, m in _pairs() if r == reg and m in ("cnn", "transformer", "contract_plugin_mlp"))


@pytest.mark.parametrize("reg", REGULARIZERS.names())
def test_a_regularizer_whose_hooks_do_nothing_fails_its_contract(reg, monkeypatch):
    """The contract's own power: with every hook it overrides replaced by the base no-op, on equals off, and
    the check says which declaration broke and which hooks would make the change."""
    cls = REGULARIZERS.get(reg)
    hooks = [h for h, f in vars(Regularizer).items() if inspect.isfunction(f) and not h.startswith("_")]
    for hook in hooks:
        if getattr(cls, hook) is not getattr(Regularizer, hook):
            monkeypatch.setattr(cls, hook, getattr(Regularizer, hook))
    model = _first_model(reg)
    assert not cls.changes & changed(reg, model), f"the contract cannot tell a no-op '{reg}' from off"
    with pytest.raises(ContractError) as err:
        check_regularizer(reg, model=model)
    if "model" in cls.changes:  # without model_kwargs its declarations no longer hold: applies_to names knobs
        assert f"regularizer '{reg}': hook `model_kwargs` sets knobs []" in str(err.value)
        return
    declared = f"`changes: [{', '.join(sorted(cls.changes))}]`"
    assert f"regularizer '{reg}' on model '{model}'" in str(err.value) and declared in str(err.value)
    assert any(f"`{h}`" in str(err.value) for c in cls.changes for h in HOOKS_FOR[c])
