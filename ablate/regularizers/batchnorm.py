"""Batch normalization as a factor: the BatchNorm layers are present (on) or absent (off)."""

from __future__ import annotations

from ablate.regularizers.base import REGULARIZERS, NoParams, Regularizer


@REGULARIZERS.register()
class BatchNorm(Regularizer):
    name = "batchnorm"
    Params = NoParams
    applies_to = frozenset({"batchnorm"})
    changes = frozenset({"model"})
    summary = "BatchNorm after each conv and the hidden FC layer (batch stats in train, running stats in eval)"

    def model_kwargs(self) -> dict:
        return {"batchnorm": True}
