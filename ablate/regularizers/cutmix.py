"""CutMix (Yun et al. 2019): paste a box from each image's partner into it; mix the labels by area.

As in timm, one lam ~ Beta(alpha, alpha) per batch sets the box's side ratio sqrt(1 - lam); its centre is
uniform over the image and the box is clipped at the border, so the labels are mixed by the area actually
pasted, ``lam = 1 - box area / image area``, not the drawn lam. The partner is the image's mirror in the
(randomly ordered) batch. Box and lam stay on the device as tensors: the box is a broadcast row x column mask,
not a slice, so no step waits for the host. Every random number comes from the cell's generator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer
from ablate.regularizers.mixup import mix_targets, sample_beta

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    import torch
    from torch import Tensor


class CutmixParams(Params):
    alpha: float = Field(gt=0.0, le=10.0, description="Beta(alpha, alpha) for the kept area (1: uniform)")


def box_mask(lam: Tensor, centre: Tensor, h: int, w: int) -> Tensor:
    """(H, W) bool mask of the pasted box: sides sqrt(1 - lam) * (H, W), centred at centre * (H, W), clipped."""
    import torch

    ratio = (1.0 - lam).clamp_min(0.0).sqrt()
    out = []
    for size, c in ((h, centre[0]), (w, centre[1])):
        idx = torch.arange(size, device=lam.device, dtype=lam.dtype) + 0.5  # pixel centres
        half = ratio * size / 2
        out.append((idx >= c * size - half) & (idx < c * size + half))
    return out[0][:, None] & out[1][None, :]


@REGULARIZERS.register()
class Cutmix(Regularizer):
    name = "cutmix"
    Params = CutmixParams
    data_kinds = frozenset({"image"})
    changes = frozenset({"batch"})
    example = {"alpha": 1.0}
    summary = "pastes a random box from a partner image (area ~ Beta(alpha, alpha)); labels mixed by area (soft)"

    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        import torch

        lam = sample_beta(ctx.gen, self.params.alpha)
        centre = torch.rand(2, generator=ctx.gen, device=ctx.gen.device)
        mask = box_mask(lam, centre, x.shape[-2], x.shape[-1]).to(x.device, non_blocking=True)
        out = torch.where(mask, x.flip(0), x)
        kept = 1.0 - mask.float().mean()
        return out.contiguous(memory_format=_format(x)), mix_targets(y, kept, ctx.num_classes)


def _format(x: Tensor) -> torch.memory_format:
    import torch

    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format
