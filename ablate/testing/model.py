"""The model contract: the builder makes an nn.Module from its `tiny` settings, bare and with every knob the
registered regularizers set; a forward pass on a tiny batch gives (batch, classes) finite logits; backward
reaches every trainable parameter; the same seed builds the same weights and, in training mode, the same
outputs; evaluation is deterministic."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.data import DATASETS, DataSpec
from ablate.models import MODELS
from ablate.regularizers import REGULARIZERS
from ablate.testing.base import CACHE, ContractError, resolve

BATCH = 8


def every_knob(builder) -> dict:
    """The builder's knobs, each set as the first registered regularizer that sets it does in its example."""
    out: dict = {}
    for name in REGULARIZERS.names():
        cls = REGULARIZERS.get(name)
        if cls.applies_to and set(cls.applies_to) <= set(builder.reg_kwargs):
            for key, value in cls(cls.Params.model_validate(cls.example)).model_kwargs().items():
                out.setdefault(key, value)
    return out


def _tiny_batch(builder, name: str, spec: DataSpec | None) -> tuple[DataSpec, Tensor, Tensor]:
    """A normalized batch of the builder's tiny data, or random data of `spec`'s shape."""
    if spec is not None:
        gen = torch.Generator().manual_seed(0)
        if spec.kind == "text":
            x = torch.randint(0, max(spec.vocab_size, 1), (BATCH, spec.max_len), generator=gen)
        else:
            x = torch.randn(BATCH, spec.in_channels, *spec.image_size, generator=gen)
        return spec, x, torch.randint(0, spec.num_classes, (BATCH,), generator=gen)
    tiny = builder.tiny
    if not tiny or "model" not in tiny or "data" not in tiny:
        raise ContractError(f"model '{name}' declares no `tiny` settings ({{'model': {{...}}, 'data': {{...}}}}), "
                            f"the smallest study the checks (and the docs) build it from")
    dataset = DATASETS.get(tiny["data"]["name"])
    data = CACHE.dataset(dataset.Params.model_validate(tiny["data"]))
    x, y = data.x_train[:BATCH], data.y_train[:BATCH]
    if data.spec.kind == "image":
        x = (x.float() / 255 - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    return data.spec, x, y


def check_model(model, spec: DataSpec | None = None, params: dict | None = None, knobs: dict | None = None) -> None:
    """Raise ContractError unless the model keeps its contract. `spec` (with random data of its shape) and
    `params` (the study's `model:` settings) replace its `tiny` ones; `knobs` (architectural regularizer
    settings, e.g. {"dropout": 0.5}) replace the default: bare, then every knob it takes."""
    name, builder = resolve(MODELS, model, "model")
    spec, x, y = _tiny_batch(builder, name, spec)
    if spec.kind not in builder.data_kinds:
        raise ContractError(f"model '{name}' declares `data_kinds: {sorted(builder.data_kinds)}`, but its tiny data "
                            f"is {spec.kind}")
    settings = {"name": name, **(params if params is not None else (builder.tiny or {}).get("model", {}))}
    p = builder.Params.model_validate(settings)
    for kw in ([{}, every_knob(builder)] if knobs is None else [knobs]):
        _check_one(name, builder, p, spec, x, y, kw)


def _build(name: str, builder, p, spec: DataSpec, kw: dict) -> nn.Module:
    torch.manual_seed(0)
    try:
        net = builder.build(p, spec, **kw)
    except Exception as e:
        raise ContractError(f"model '{name}': `build` with knobs {kw} failed ({type(e).__name__}: {e})") from e
    if not isinstance(net, nn.Module):
        raise ContractError(f"model '{name}': `build` returned {type(net).__name__}, not an nn.Module")
    return net


def _check_one(name: str, builder, p, spec: DataSpec, x: Tensor, y: Tensor, kw: dict) -> None:
    where = f"model '{name}' (knobs {kw})"
    a, b = _build(name, builder, p, spec, kw), _build(name, builder, p, spec, kw)
    sa, sb = a.state_dict(), b.state_dict()
    if list(sa) != list(sb) or not all(torch.equal(sa[k], sb[k]) for k in sa):
        raise ContractError(f"{where}: `build` twice from the same seed gave different weights; draw every random "
                            f"number from torch's global generator")
    outs = []
    for net in (a, b):
        net.train()
        torch.manual_seed(1)
        outs.append(net(x))
    out = outs[0]
    if not isinstance(out, Tensor) or tuple(out.shape) != (len(x), spec.num_classes):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ContractError(f"{where}: `forward` on a batch of {len(x)} gave {shape}, not ({len(x)}, "
                            f"{spec.num_classes}) logits (batch, classes)")
    if not bool(torch.isfinite(out).all()):
        raise ContractError(f"{where}: `forward` gave non-finite logits on the tiny batch")
    if not torch.equal(out, outs[1]):
        raise ContractError(f"{where}: `forward` in training mode from the same seed gave different outputs")
    F.cross_entropy(out, y).backward()
    dead = [n for n, q in a.named_parameters() if q.requires_grad and (q.grad is None or not torch.isfinite(q.grad).all())]
    if dead:
        raise ContractError(f"{where}: `backward` left no finite gradient in {dead[:5]}: every trainable parameter "
                            f"must take part in the loss (else penalties shrink weights that do nothing)")
    a.eval()
    with torch.no_grad():
        if not torch.equal(a(x), a(x)):
            raise ContractError(f"{where}: `forward` in eval mode is not deterministic (dropout left on at eval?)")
