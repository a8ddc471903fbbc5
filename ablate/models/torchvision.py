"""Any torchvision classification model by name: ``model: {name: torchvision, arch: resnet18}``.

The network is torchvision's own, adapted to the data: the head has the data's class count and the first
convolution takes the data's channels (1 for digits or MNIST). Random init by default (torchvision's own
scheme, under the cell's seed); ``weights: DEFAULT`` (or a weights name, e.g. IMAGENET1K_V1) loads pretrained
weights into everything but a new head. The ``dropout`` knob puts a Dropout on the head's input, applied from
a forward pre-hook so the head keeps its parameter names in every arm (``norm/fc.weight`` is the same tensor
with and without dropout). A model that cannot take the data's image size fails at build time with a clear
error naming the arch and the shape, not in the middle of the first epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from ablate.data.base import DataSpec
from ablate.errors import UnknownName
from ablate.models.base import MODELS, ModelBuilder, ModelParams

if TYPE_CHECKING:
    from torch import nn


def classification_archs() -> list[str]:
    import torchvision.models as tvm

    return tvm.list_models(module=tvm)


class TorchvisionParams(ModelParams):
    name: str = "torchvision"
    arch: str = Field(description="a torchvision classification model (torchvision.models.list_models())")
    weights: str | None = Field(None, description="None: random init; DEFAULT or a weights name: pretrained")
    options: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="extra keyword arguments for torchvision's builder")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        if v not in classification_archs():
            raise ValueError(str(UnknownName("torchvision classification model", v, classification_archs())))
        return v

    @model_validator(mode="after")
    def _known_weights(self) -> TorchvisionParams:
        if self.weights not in (None, "DEFAULT"):
            import torchvision.models as tvm

            names = list(tvm.get_model_weights(self.arch).__members__)
            if self.weights not in names:
                raise ValueError(str(UnknownName(f"weights for '{self.arch}'", self.weights, ["DEFAULT", *names])))
        return self


@MODELS.register()
class Torchvision(ModelBuilder):
    name = "torchvision"
    Params = TorchvisionParams
    data_kinds = frozenset({"image"})
    reg_kwargs = frozenset({"dropout"})
    channels_last = True  # mostly convolutional: oneDNN and cuDNN prefer NHWC
    summary = "any torchvision classification model (arch: resnet18, ...), adapted to the data's classes/channels"
    # the smallest torchvision classifier that takes 8x8 images (resnet18 steps 10x slower on a CPU)
    tiny = {"model": {"name": "torchvision", "arch": "shufflenet_v2_x0_5"},
            "data": {"name": "digits", "batch_size": 32, "train_subset": 64, "test_fraction": 0.05}}

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:
        unknown = set(reg_kwargs) - cls.reg_kwargs
        if unknown:
            raise TypeError(f"torchvision does not take {sorted(unknown)}; it takes {sorted(cls.reg_kwargs)}")
        from ablate.models.torchvision_net import build  # imports torch; validation needs none

        return build(params, spec, float(reg_kwargs.get("dropout") or 0.0))  # type: ignore[arg-type]
