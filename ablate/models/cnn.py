"""The seed's RegularizedCNN topology with a width multiplier, sized from the data spec.

conv(w)-[BN]-ReLU-[SpatialDropout]-[GaussianDropout], conv(2w)-[BN]-ReLU-[SpatialDropout], maxpool 2,
FC(8w)-[BN]-ReLU-[Dropout]-[GaussianDropout], FC(classes). Bracketed layers exist only when their
regularizer is on, so an "off" arm is exactly the bare network (no p=0 placeholders that still cost time or
change the module tree). The flatten size comes from the spec, so 8x8 digits and 32x32 CIFAR both work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ablate.data.base import DataSpec
from ablate.models.base import MODELS, ModelBuilder, ModelParams

if TYPE_CHECKING:
    from torch import nn


class CNNParams(ModelParams):
    name: str = "cnn"
    width: int = Field(64, ge=1, le=1024, description="channels of the first conv; the second has 2x")
    hidden: int | None = Field(None, ge=1, le=65536, description="hidden FC units; default 8 x width")


@MODELS.register()
class CNN(ModelBuilder):
    name = "cnn"
    family = "cnn"
    channels_last = True  # oneDNN convolutions are faster in NHWC, on CPU and GPU
    tiny = {"model": {"name": "cnn", "width": 2}, "data": {"name": "digits", "batch_size": 256}}
    Params = CNNParams
    data_kinds = frozenset({"image"})
    reg_kwargs = frozenset({"dropout", "spatial_dropout", "gaussian_dropout", "batchnorm"})
    summary = "the seed's RegularizedCNN (2 conv + 2 FC) with a width multiplier; any channels/size"

    @classmethod
    def check_data(cls, params, dataset, data_params) -> list[tuple[str, str, object]]:
        """Images under 2x2 leave nothing after the 2x2 pooling: refused at validation, not in every cell."""
        size = dataset.image_size_of(data_params) if dataset.kind == "image" else None
        if size is None or min(size) >= 2:
            return []
        return [("data", f"the CNN needs images of at least 2x2 pixels, but dataset '{dataset.name}' has "
                 f"{size[0]}x{size[1]}", size)]

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:
        unknown = set(reg_kwargs) - cls.reg_kwargs
        if unknown:
            raise TypeError(f"cnn does not take {sorted(unknown)}; it takes {sorted(cls.reg_kwargs)}")
        from ablate.models.cnn_net import RegularizedCNN  # the network imports torch; validation needs none

        return RegularizedCNN(
            spec.in_channels,
            spec.image_size,
            spec.num_classes,
            width=params.width,  # type: ignore[attr-defined]
            hidden=params.hidden,  # type: ignore[attr-defined]
            dropout=float(reg_kwargs.get("dropout", 0.0)),
            spatial_dropout=float(reg_kwargs.get("spatial_dropout", 0.0)),
            gaussian_dropout=float(reg_kwargs.get("gaussian_dropout", 0.0)),
            batchnorm=bool(reg_kwargs.get("batchnorm", False)),
        )
