"""The network of the `cnn` model (ablate/models/cnn.py declares it): the seed's RegularizedCNN topology.

Kept apart from the declaration so that validating or listing a study imports no torch.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from ablate.models.layers import GaussianDropout


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
