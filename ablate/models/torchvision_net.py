"""The network of the `torchvision` model (ablate/models/torchvision.py declares it and says how the data
adapts it): torchvision's own, with a new head and first convolution where the data needs them, and the
head dropout. Kept apart from the declaration so that validating or listing a study imports no torch.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.models.base import check_forward

DOWNLOAD_TIMEOUT_SECONDS = 20.0
# archs whose training-mode output is not plain logits unless told (auxiliary heads)
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {"googlenet": {"aux_logits": False, "init_weights": True},
                                            "inception_v3": {"aux_logits": False, "init_weights": True}}


def build(p, spec: DataSpec, dropout: float) -> nn.Module:
    """The network for a TorchvisionParams `p`: random init or pretrained weights, adapted to the data."""
    import torchvision.models as tvm

    options = {**ARCH_DEFAULTS.get(p.arch, {}), **p.options}
    if p.weights is None:
        model = tvm.get_model(p.arch, weights=None, num_classes=spec.num_classes, **options)
    else:
        model, classes = _pretrained(p, options)
        _new_head(model, classes, spec.num_classes)
    adapt_input(model, spec.in_channels, pretrained=p.weights is not None)
    if dropout:
        drop = HeadDropout(dropout)
        model.add_module("head_dropout", drop)
        head(model, spec.num_classes)[1].register_forward_pre_hook(drop.pre_hook)
    check_forward(model, spec, f"torchvision arch '{p.arch}'")
    return model


class HeadDropout(nn.Dropout):
    """Dropout on the input of the model's head (registered on the root module, so it shows in the model)."""

    def pre_hook(self, module: nn.Module, args: tuple) -> tuple:
        return (self(args[0]), *args[1:])


def _named(model: nn.Module, kind: type[nn.Module]) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kind)]


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def head(model: nn.Module, classes: int) -> tuple[str, nn.Module]:
    """The classifier layer: the last Linear (or 1x1 Conv2d, as in SqueezeNet) with `classes` outputs."""
    found = [(n, m) for n, m in model.named_modules()
             if (isinstance(m, nn.Linear) and m.out_features == classes)
             or (isinstance(m, nn.Conv2d) and m.out_channels == classes)]
    if not found:
        raise AblateError(f"torchvision model {type(model).__name__}: no Linear or Conv2d head with {classes} outputs")
    return found[-1]


def _new_head(model: nn.Module, old_classes: int, classes: int) -> None:
    name, old = head(model, old_classes)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, classes, bias=old.bias is not None)
    else:
        new = nn.Conv2d(old.in_channels, classes, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)
    _replace(model, name, new)


@torch.no_grad()
def adapt_input(model: nn.Module, channels: int, pretrained: bool) -> None:
    """The first 3-channel convolution takes `channels` instead. Its kernels cycle through the RGB ones, so a
    random init keeps the arch's own distribution; pretrained kernels are summed to one channel, or cycled and
    rescaled by 3/channels (timm's rule), so the layer's response to a flat image is kept."""
    if channels == 3:
        return
    first = next(((n, m) for n, m in _named(model, nn.Conv2d) if m.in_channels == 3), None)
    if first is None:
        return
    name, old = first
    new = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation, old.groups,
                    old.bias is not None, old.padding_mode)
    w = old.weight
    if pretrained and channels == 1:
        new.weight.copy_(w.sum(dim=1, keepdim=True))
    else:
        new.weight.copy_(w[:, [i % 3 for i in range(channels)]] * (3.0 / channels if pretrained else 1.0))
    if old.bias is not None:
        new.bias.copy_(old.bias)
    _replace(model, name, new)


def _pretrained(params, options: dict) -> tuple[nn.Module, int]:
    """(model, its class count) with pretrained weights; offline without the cached file: a clear error."""
    import torchvision.models as tvm

    enum = tvm.get_model_weights(params.arch)
    weights = enum.DEFAULT if params.weights == "DEFAULT" else enum[params.weights]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    file = cache / Path(urlparse(weights.url).path).name
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        model = tvm.get_model(params.arch, weights=weights, **options)
    except Exception as exc:
        raise AblateError(
            f"torchvision: cannot load the pretrained weights {enum.__name__}.{weights.name} for arch "
            f"'{params.arch}' ({type(exc).__name__}: {exc}). Offline, put {file.name} (from {weights.url}) in "
            f"torch's cache {cache} (set $TORCH_HOME to move it), or drop model.weights for a random init"
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
    return model, len(weights.meta["categories"])
