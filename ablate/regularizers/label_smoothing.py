"""Label smoothing: the training loss targets (1 - epsilon) on the true class plus epsilon spread uniformly.

It goes through the ``loss_kwargs`` hook into ``F.cross_entropy(..., label_smoothing=epsilon)`` for the
training loss only; validation and test losses stay plain cross-entropy so they compare across arms.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field

from ablate.regularizers.base import REGULARIZERS, Params, Regularizer


class LabelSmoothingParams(Params):
    epsilon: float = Field(
        gt=0.0, lt=1.0, validation_alias=AliasChoices("epsilon", "eps", "value"),
        description="probability mass moved from the true class to a uniform distribution over all classes",
    )


@REGULARIZERS.register()
class LabelSmoothing(Regularizer):
    name = "label_smoothing"
    Params = LabelSmoothingParams
    changes = frozenset({"loss"})
    summary = "cross-entropy against smoothed targets (1 - eps on the label, eps/K everywhere), train loss only"
    example = {"epsilon": 0.1}

    def loss_kwargs(self) -> dict:
        return {"label_smoothing": self.params.epsilon}
