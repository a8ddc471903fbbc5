"""Dropout family: architectural, so each only hands the model builder a knob; the layer exists only when on."""

from __future__ import annotations

from pydantic import Field

from ablate.regularizers.base import REGULARIZERS, Params, Regularizer


class PParams(Params):
    p: float = Field(gt=0.0, lt=1.0, description="drop probability")


@REGULARIZERS.register()
class Dropout(Regularizer):
    name = "dropout"
    example = {"p": 0.5}
    Params = PParams
    applies_to = frozenset({"dropout"})
    changes = frozenset({"model"})
    summary = "inverted dropout before the classifier (CNN) / on residual and feed-forward paths (Transformer)"

    def model_kwargs(self) -> dict:
        return {"dropout": self.params.p}


@REGULARIZERS.register()
class SpatialDropout(Regularizer):
    name = "spatial_dropout"
    example = {"p": 0.25}
    Params = PParams
    applies_to = frozenset({"spatial_dropout"})
    changes = frozenset({"model"})
    summary = "drops whole feature maps (channels) after each conv block"

    def model_kwargs(self) -> dict:
        return {"spatial_dropout": self.params.p}


class AlphaParams(Params):
    alpha: float = Field(gt=0.0, le=4.0, description="noise variance: activations times N(1, alpha)")


@REGULARIZERS.register()
class GaussianDropout(Regularizer):
    name = "gaussian_dropout"
    example = {"alpha": 0.25}
    Params = AlphaParams
    applies_to = frozenset({"gaussian_dropout"})
    changes = frozenset({"model"})
    summary = "multiplicative Gaussian noise N(1, alpha) on activations at train time, identity at eval"

    def model_kwargs(self) -> dict:
        return {"gaussian_dropout": self.params.alpha}
