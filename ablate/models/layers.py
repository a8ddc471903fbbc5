"""Layers torch lacks; shared by every model family."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GaussianDropout(nn.Module):
    """Multiply activations by noise drawn from N(1, alpha) in training; identity at eval.

    Multiplicative noise with mean 1 keeps the expected activation unchanged (so no rescaling at eval) and
    scales with the signal, like dropout with p/(1-p) = alpha (Srivastava et al. 2014, sec. 10). The seed
    slides add noise of fixed std instead, which is a different regularizer; this is the real one.
    """

    def __init__(self, alpha: float):
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)
        self.std = math.sqrt(self.alpha)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        noise = torch.randn_like(x).mul_(self.std).add_(1.0)
        return x * noise

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
