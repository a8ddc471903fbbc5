"""Cutout (DeVries & Taylor 2017): blank out random squares of each training image.

Each image gets ``count`` holes, a side of ``size`` pixels or ``fraction`` of the image's sides, centred
uniformly over the image and clipped at its border (as in the paper, so a hole near the edge is smaller).
Holes are filled with 0 in normalized space, i.e. the data mean, as augment fills its borders. One fixed
(N, count, 2) block of uniforms per batch from the cell's generator; the holes are one broadcast comparison,
never a loop over images. Labels are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor


class CutoutParams(Params):
    size: int | None = Field(None, ge=1, le=4096, description="hole side in pixels")
    fraction: float | None = Field(None, gt=0.0, lt=1.0, description="hole sides as a fraction of the image's")
    count: int = Field(1, ge=1, le=16, description="holes per image")

    @model_validator(mode="after")
    def _one_size(self) -> CutoutParams:
        if (self.size is None) == (self.fraction is None):
            raise ValueError("give exactly one of size (pixels) or fraction (of the image side), "
                             f"but got size={self.size}, fraction={self.fraction}")
        return self


def holes(u: Tensor, h: int, w: int, side_h: float, side_w: float) -> Tensor:
    """(N, H, W) bool: pixels inside any of the holes centred at u * (H, W) (u: (N, count, 2) uniforms)."""
    import torch

    masks = []
    for axis, (size, side) in enumerate(((h, side_h), (w, side_w))):
        idx = torch.arange(size, device=u.device, dtype=u.dtype) + 0.5  # pixel centres
        centre = u[..., axis, None] * size  # (N, count, 1)
        masks.append((idx >= centre - side / 2) & (idx < centre + side / 2))  # (N, count, size)
    return (masks[0][..., :, None] & masks[1][..., None, :]).any(dim=1)


@REGULARIZERS.register()
class Cutout(Regularizer):
    name = "cutout"
    Params = CutoutParams
    data_kinds = frozenset({"image"})
    changes = frozenset({"batch"})
    example = {"fraction": 0.5, "count": 1}
    summary = "blanks count random squares (size pixels or fraction of the side) of each training image"

    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        import torch

        p, (h, w) = self.params, x.shape[-2:]
        u = torch.rand(x.shape[0], p.count, 2, generator=ctx.gen, device=ctx.gen.device)
        side_h, side_w = (p.size, p.size) if p.size is not None else (p.fraction * h, p.fraction * w)
        mask = holes(u, h, w, side_h, side_w).to(x.device, non_blocking=True)
        return x.masked_fill(mask[:, None], 0.0), y
