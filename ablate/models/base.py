"""Model builders are registered classes with typed knobs; regularizers add architectural kwargs."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from ablate.data.base import DataSpec
from ablate.params import StrictModel
from ablate.registry import Registry


class ModelParams(StrictModel):
    name: str


class ModelBuilder:
    """``build(params, spec, **reg_kwargs)``: reg_kwargs come from the active regularizers' model_kwargs()."""

    name: ClassVar[str]
    family: ClassVar[str]  # what Regularizer.applies_to refers to
    Params: ClassVar[type[ModelParams]] = ModelParams
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image"})
    reg_kwargs: ClassVar[frozenset[str]] = frozenset()  # the architectural knobs regularizers may set
    summary: ClassVar[str] = ""
    channels_last: ClassVar[bool] = False  # image models that run faster in NHWC memory format
    # the smallest sensible study settings, used by the contract tests and docs: {"model": {...}, "data": {...}}
    tiny: ClassVar[dict] = {}

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def check_data(cls, params: ModelParams, dataset, data_params) -> list[tuple[str, str, object]]:
        """Problems (field, rule, value) this model has with the dataset, found at validation without loading
        it (what the dataset class declares, e.g. `image_size`); build() checks again on the real data."""
        return []


MODELS: Registry[type[ModelBuilder]] = Registry("model")
