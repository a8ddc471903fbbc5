"""The seed's RegularizedCNN topology with a width multiplier, sized from the data spec.

conv(w)-[BN]-ReLU-[SpatialDropout]-[GaussianDropout], conv(2w)-[BN]-ReLU-[SpatialDropout], maxpool 2,
FC(8w)-[BN]-ReLU-[Dropout]-[GaussianDropout], FC(classes). Bracketed layers exist only when their
regularizer is on, so an "off" arm is exactly the bare network (no p=0 placeholders that still cost time or
change the module tree). The flatten size comes from the spec, so 8x8 digits and 32x32 CIFAR both work.
"""

from __future__ import annotations

from collections import OrderedDict

from pydantic import Field
from torch import Tensor, nn

from ablate.data.base import DataSpec
from ablate.models.base import MODELS, ModelBuilder, ModelParams
from ablate.models.layers import GaussianDropout


class CNNParams(ModelParams):
    name: str = "cnn"
    width: int = Field(64, ge=1, le=1024, description="channels of the first conv; the second has 2x")
    hidden: int | None = Field(None, ge=1, le=65536, description="hidden FC units; default 8 x width")


class RegularizedCNN(nn.Module):
    def __init__(
        self,
        in_channels: int,
        image_size: tuple[int, int],
        num_classes: int,
        width: int = 64,
        hidden: int | None = None,
        *,
        dropout: float = 0.0,
        spatial_dropout: float = 0.0,
        gaussian_dropout: float = 0.0,
        batchnorm: bool = False,
    ):
        super().__init__()
        height, wide = image_size
        if height < 2 or wide < 2:
            raise ValueError(f"the CNN needs images of at least 2x2 pixels, got {image_size}")
        hidden = hidden or 8 * width
        # named layers: `norm/features.conv1.weight` means the same tensor in every arm, whichever optional
        # layers an arm adds (positional indices would shift when BatchNorm or dropout appear)
        self.features = nn.Sequential(OrderedDict(
            _conv_block(1, in_channels, width, batchnorm, spatial_dropout, gaussian_dropout)
            + _conv_block(2, width, 2 * width, batchnorm, spatial_dropout, 0.0)
            + [("pool", nn.MaxPool2d(2))]
        ))
        flat = 2 * width * (height // 2) * (wide // 2)
        layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten()),
                                               ("fc1", nn.Linear(flat, hidden, bias=not batchnorm))]
        if batchnorm:
            layers.append(("bn_fc1", nn.BatchNorm1d(hidden)))
        layers.append(("relu_fc1", nn.ReLU(inplace=True)))
        if dropout > 0:
            layers.append(("dropout", nn.Dropout(dropout)))
        if gaussian_dropout > 0:
            layers.append(("gdrop_fc1", GaussianDropout(gaussian_dropout)))
        layers.append(("fc_out", nn.Linear(hidden, num_classes)))
        self.classifier = nn.Sequential(OrderedDict(layers))
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def _conv_block(
    i: int, cin: int, cout: int, batchnorm: bool, spatial_dropout: float, gaussian_dropout: float
) -> list[tuple[str, nn.Module]]:
    # a conv bias before BatchNorm is cancelled by the mean subtraction; BN's shift takes its role
    block: list[tuple[str, nn.Module]] = [(f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm))]
    if batchnorm:
        block.append((f"bn{i}", nn.BatchNorm2d(cout)))
    block.append((f"relu{i}", nn.ReLU(inplace=True)))
    if spatial_dropout > 0:
        block.append((f"sdrop{i}", nn.Dropout2d(spatial_dropout)))
    if gaussian_dropout > 0:
        block.append((f"gdrop{i}", GaussianDropout(gaussian_dropout)))
    return block


def _init_weights(model: nn.Module) -> None:
    """Kaiming (He) init for ReLU layers: keeps activation scale stable without BN, so "BN off" arms
    are not handicapped by a poor init; deterministic under torch.manual_seed."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    last = model.classifier[-1]
    nn.init.xavier_uniform_(last.weight)  # the logits layer has no ReLU after it


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
