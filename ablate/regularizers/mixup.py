"""Mixup (Zhang et al. 2018): train on convex combinations of pairs of images and of their labels.

One mixing weight lam ~ Beta(alpha, alpha) per batch (timm's default "batch" mode), drawn from the cell's
generator on the device, so no step waits for the host. Each image is mixed with its mirror in the batch
(``x.flip(0)``: the batch order is already a seeded random draw), and the labels become soft targets
``lam * onehot(y) + (1 - lam) * onehot(y.flip(0))`` over the data's class count, which ``F.cross_entropy``
takes as probabilities. Validation and test see clean images and hard labels.

torch has no seeded Beta sampler, so ``sample_beta`` builds one from seeded normals and uniforms
(Marsaglia-Tsang gamma draws, a fixed number of proposals per draw), the same number of random numbers every
batch, so the generator advances identically in every arm.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import Field

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    import torch
    from torch import Tensor

PROPOSALS = 8  # per gamma draw; each is accepted with probability >= 0.95, so all 8 fail ~4e-11 of the time


def log_gamma_sample(gen: torch.Generator, alpha: float, n: int) -> Tensor:
    """log of n Gamma(alpha, 1) draws on the generator's device: Marsaglia-Tsang on alpha + 1, boosted by
    U^(1/alpha) when alpha < 1 (done in logs, so tiny alphas do not underflow to 0)."""
    import torch

    a = alpha + 1.0 if alpha < 1.0 else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = torch.randn(n, PROPOSALS, generator=gen, device=gen.device)
    u = torch.rand(n, PROPOSALS + 1, generator=gen, device=gen.device)
    v = (1.0 + c * z).pow(3)
    log_v = v.clamp_min(1e-30).log()
    ok = (v > 0) & (u[:, :-1].clamp_min(1e-30).log() < 0.5 * z * z + d - d * v + d * log_v)
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)  # the first accepted proposal (0 if none: ~never)
    out = (log_v.gather(1, first) + math.log(d)).squeeze(1)  # a Python float: no host-to-device copy
    if alpha < 1.0:
        out = out + u[:, -1].clamp_min(1e-30).log() / alpha
    return out


def sample_beta(gen: torch.Generator, alpha: float) -> Tensor:
    """One Beta(alpha, alpha) draw as a 0-d tensor on the generator's device (X / (X + Y), X, Y ~ Gamma)."""
    import torch

    log_x, log_y = log_gamma_sample(gen, alpha, 2)
    return torch.sigmoid(log_x - log_y)


def soft_targets(y: Tensor, num_classes: int) -> Tensor:
    """(N, C) probabilities: labels one-hot, soft targets (from an earlier mixing regularizer) as they are."""
    import torch.nn.functional as F

    return y if y.ndim == 2 else F.one_hot(y, num_classes).float()


def mix_targets(y: Tensor, lam: Tensor, num_classes: int) -> Tensor:
    import torch

    t = soft_targets(y, num_classes)
    return torch.lerp(t, t.flip(0), (1.0 - lam).to(t.dtype))


class MixupParams(Params):
    alpha: float = Field(gt=0.0, le=10.0, description="Beta(alpha, alpha): small = mostly one image, 1 = uniform")


@REGULARIZERS.register()
class Mixup(Regularizer):
    name = "mixup"
    Params = MixupParams
    data_kinds = frozenset({"image"})
    changes = frozenset({"batch"})
    example = {"alpha": 0.2}
    summary = "trains on pairs of images mixed by lam ~ Beta(alpha, alpha) and their labels mixed alike (soft)"

    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        import torch

        lam = sample_beta(ctx.gen, self.params.alpha).to(x.device, non_blocking=True)
        out = torch.empty_like(x)  # keeps x's memory format (channels_last)
        torch.lerp(x, x.flip(0), (1.0 - lam).to(x.dtype), out=out)
        return out, mix_targets(y, lam, ctx.num_classes)
