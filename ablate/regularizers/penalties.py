"""Weight penalties: explicit loss terms (l1, l2, elastic_net) and the optimizer's own weight decay.

All four act on ``penalized_parameters(model)`` only (``ctx.penalized``, found once per cell) (weights of conv/linear/embedding layers; biases and
norm parameters excluded), so an L2 arm and a weight-decay arm shrink exactly the same tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor


def _sum_abs(weights: list[Tensor]) -> Tensor:
    import torch

    return torch.stack([p.abs().sum() for p in weights]).sum()


def _sum_sq(weights: list[Tensor]) -> Tensor:
    import torch

    return torch.stack([p.pow(2).sum() for p in weights]).sum()


class LambdaParams(Params):
    lambda_: float = Field(alias="lambda", gt=0.0, le=10.0, description="penalty strength")


@REGULARIZERS.register()
class L2(Regularizer):
    name = "l2"
    example = {"lambda": 1.0e-3}
    Params = LambdaParams
    changes = frozenset({"loss"})
    summary = "explicit L2 penalty lambda/2 * sum(w^2) added to the loss"

    def penalty(self, ctx: Context) -> Tensor:
        return 0.5 * self.params.lambda_ * _sum_sq(ctx.penalized)


@REGULARIZERS.register()
class L1(Regularizer):
    name = "l1"
    example = {"lambda": 1.0e-5}
    Params = LambdaParams
    changes = frozenset({"loss"})
    summary = "explicit L1 penalty lambda * sum|w| added to the loss (drives weights to exactly zero-ish)"

    def penalty(self, ctx: Context) -> Tensor:
        return self.params.lambda_ * _sum_abs(ctx.penalized)


class ElasticNetParams(Params):
    alpha: float = Field(gt=0.0, le=10.0, description="overall strength")
    l1_ratio: float = Field(0.5, ge=0.0, le=1.0, description="share of the L1 term")


@REGULARIZERS.register()
class ElasticNet(Regularizer):
    name = "elastic_net"
    example = {"alpha": 1.0e-4, "l1_ratio": 0.5}
    Params = ElasticNetParams
    changes = frozenset({"loss"})
    summary = "alpha*l1_ratio*sum|w| + alpha*(1-l1_ratio)/2*sum(w^2)"

    def penalty(self, ctx: Context) -> Tensor:
        a, r = self.params.alpha, self.params.l1_ratio
        return a * r * _sum_abs(ctx.penalized) + 0.5 * a * (1.0 - r) * _sum_sq(ctx.penalized)


class WeightDecayParams(Params):
    value: float = Field(alias="lambda", gt=0.0, le=1.0, description="the optimizer's weight_decay")

    @model_validator(mode="before")
    @classmethod
    def _accept_value(cls, data):
        # `weight_decay: {value: 1e-4}` and `{lambda: 1e-4}` both read naturally
        if isinstance(data, dict) and "value" in data and "lambda" not in data:
            data = dict(data)
            data["lambda"] = data.pop("value")
        return data


@REGULARIZERS.register()
class WeightDecay(Regularizer):
    name = "weight_decay"
    example = {"lambda": 1.0e-4}
    Params = WeightDecayParams
    changes = frozenset({"weights"})
    summary = "the optimizer's weight_decay (decoupled for adamw/sgd-style), on the same weights as l2"

    def optimizer_kwargs(self) -> dict:
        return {"weight_decay": self.params.value}
