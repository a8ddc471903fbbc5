"""torchvision and timm models by name: adapted to the data, trained on tiny digits, pretrained weights from
torch's cache (and a clear error offline), unknown archs rejected at validation with a suggestion."""

from __future__ import annotations

import math
import socket
import urllib.request

import pytest
import torch
from torch import nn

from ablate.data import DATASETS
from ablate.data.base import DataSpec
from ablate.errors import AblateError, StudyError
from ablate.models import MODELS
from ablate.models.torchvision_net import HeadDropout
from ablate.regularizers import cell_regularizers
from ablate.train import build_model, fit
from ablate.validate import validate_study

DIGITS = {"name": "digits", "batch_size": 64, "train_subset": 40}  # one step per epoch
SPEC = DataSpec(kind="image", num_classes=10, in_channels=1, image_size=(8, 8))


def _study(model, factors=None):
    return {"name": "lib", "model": model, "data": DIGITS, "train": {"epochs": 1, "lr": 1e-3},
            "factors": factors or {"dropout": {"p": 0.5}}, "seeds": 1}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, and an empty torch cache: what a machine without internet sees."""
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (blocked by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_resnet18_trains_on_digits_with_and_without_dropout_keeping_its_layer_names():
    study = validate_study(_study({"name": "torchvision", "arch": "resnet18"}))
    off, on = study.cells()
    data = DATASETS.get("digits").load(study.data)
    models = [build_model(c, data, cell_regularizers(c)) for c in (off, on)]
    assert [n for n, _ in models[0].named_parameters()] == [n for n, _ in models[1].named_parameters()]
    assert models[0].conv1.in_channels == 1 and models[0].fc.out_features == 10
    assert not any(isinstance(m, HeadDropout) for m in models[0].modules())
    assert [m.p for m in models[1].modules() if isinstance(m, HeadDropout)] == [0.5]
    for cell in (off, on):
        assert math.isfinite(fit(cell).final["test_loss"])


def test_dropout_drops_the_heads_input_in_training_only():
    builder = MODELS.get("torchvision")
    model = builder.build(builder.Params(arch="resnet18"), SPEC, dropout=0.9)
    seen = []
    model.fc.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    x = torch.randn(8, 1, 8, 8)
    model.eval()
    model(x)
    model.train()
    model(x)
    assert (seen[0] != 0).float().mean() > 0.5 and (seen[1] == 0).float().mean() > 0.7


@pytest.mark.parametrize("model,field,hint", [
    ({"name": "torchvision", "arch": "resnet19"}, "model.arch", "did you mean 'resnet18'"),
    ({"name": "torchvision", "arch": "resnet18", "weights": "IMAGENET1K_V9"}, "model", "IMAGENET1K_V1"),
    ({"name": "timm", "arch": "resnet19x"}, "model.arch", "did you mean 'resnet18'"),
])
def test_unknown_arch_or_weights_rejected_at_validation_with_a_suggestion(model, field, hint):
    if model["name"] == "timm":
        pytest.importorskip("timm")
    with pytest.raises(StudyError) as err:
        validate_study(_study(model))
    assert f"{field}:" in str(err.value) and hint in str(err.value)


def test_a_model_too_big_for_the_images_fails_at_build_naming_arch_and_shape():
    builder = MODELS.get("torchvision")
    with pytest.raises(AblateError, match=r"torchvision arch 'vgg11' cannot take 1x8x8 images"):
        builder.build(builder.Params(arch="vgg11"), SPEC)


def test_pretrained_weights_offline_name_the_arch_and_torchs_cache(offline):
    builder = MODELS.get("torchvision")
    with pytest.raises(AblateError) as err:
        builder.build(builder.Params(arch="resnet18", weights="DEFAULT"), SPEC)
    msg = str(err.value)
    assert "ResNet18_Weights.IMAGENET1K_V1" in msg and "'resnet18'" in msg and str(offline) in msg


def test_pretrained_weights_load_from_torchs_cache_into_all_but_the_head(offline):
    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    offline.mkdir(parents=True)
    torch.manual_seed(0)
    saved = torchvision.models.resnet18(num_classes=1000).state_dict()
    torch.save(saved, offline / weights.url.rsplit("/", 1)[-1])
    builder = MODELS.get("torchvision")
    model = builder.build(builder.Params(arch="resnet18", weights="IMAGENET1K_V1"), SPEC)
    got = model.state_dict()
    assert torch.equal(got["layer1.0.conv1.weight"], saved["layer1.0.conv1.weight"])
    assert torch.equal(got["conv1.weight"], saved["conv1.weight"].sum(1, keepdim=True))  # RGB summed to gray
    assert got["fc.weight"].shape == (10, 512)


def test_timm_model_trains_with_drop_rate_and_drop_path_rate():
    pytest.importorskip("timm")
    factors = {"dropout": {"p": 0.3}, "stochastic_depth": {"p": 0.2}}
    study = validate_study(_study({"name": "timm", "arch": "test_resnet"}, factors))
    cell = study.cells()[-1]
    assert set(cell.active()) == set(factors)
    model = build_model(cell, DATASETS.get("digits").load(study.data), cell_regularizers(cell))
    assert model.drop_rate == 0.3 and isinstance(model, nn.Module)
    assert any(type(m).__name__ == "DropPath" for m in model.modules())
    assert math.isfinite(fit(cell).final["test_loss"])


def test_offline_check_blocks_the_network(offline):
    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.com", timeout=1)
