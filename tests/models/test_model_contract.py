"""The model contract (ablate.testing.check_model) over every registered model, and its power: a builder
that breaks it fails with a message naming the model and the method at fault."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.models import MODELS
from ablate.testing import ContractError, check_model
from ablate.testing.base import usable_model


@pytest.mark.parametrize("model", [m for m in MODELS.names() if usable_model(m)])
def test_every_model_keeps_the_contract(model):
    check_model(model)


class _Flat(nn.Module):
    def __init__(self, spec, outputs: int, noisy: bool = False, unused: bool = False):
        super().__init__()
        h, w = spec.image_size
        self.fc = nn.Linear(spec.in_channels * h * w, outputs)
        self.noisy = noisy
        self.unused = nn.Linear(2, 2) if unused else None

    def forward(self, x):
        out = self.fc(x.flatten(1))
        return out + torch.rand(()) if self.noisy and not self.training else out


@pytest.mark.parametrize("fault,match", [
    ({"outputs": 3}, r"model 'broken_\w+' \(knobs \{\}\): `forward` on a batch of 8 gave \(8, 3\), not \(8, 10\)"),
    ({"noisy": True}, r"`forward` in eval mode is not deterministic"),
    ({"unused": True}, r"`backward` left no finite gradient in \['unused.weight', 'unused.bias'\]"),
])
def test_a_model_that_breaks_the_contract_fails_naming_it(fault, match):
    name = f"broken_{next(iter(fault))}"

    def build(spec, *, hidden: int = 0):
        return _Flat(spec, **{"outputs": spec.num_classes, **fault})

    MODELS.register(name)(build)
    try:
        with pytest.raises(ContractError, match=match):
            check_model(name)
        with pytest.raises(ContractError, match=match):
            check_model(build)  # the registered function itself
    finally:
        MODELS.unregister(name)  # keep the other contract tests' model list to real builders


def test_an_unregistered_model_is_refused_saying_how_to_register_it():
    with pytest.raises(ContractError, match=r"model _lonely is not registered: register it first"):
        check_model(_lonely)


def _lonely(spec):
    return nn.Linear(1, 1)
