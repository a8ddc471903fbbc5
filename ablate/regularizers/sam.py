"""Sharpness-aware minimization (Foret et al. 2021): step with the gradient taken at the worst nearby point.

After the ordinary backward pass, the weights move to ``w + rho * g / ||g||`` (the global L2 norm of the
gradient), the batch's loss is recomputed there (``ctx.batch_loss``: same batch, penalties included) and
backpropagated, the weights go back to ``w``, and the optimizer steps with that second gradient. It runs
first among the after-backward hooks (``order = -1``), so gradient clipping acts on the gradient the optimizer
uses. The second pass leaves BatchNorm's running statistics alone (momentum 0), as in the authors' code.
Costs a second forward and backward per step; never syncs the host.
"""

from __future__ import annotations

from pydantic import Field

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer


class SamParams(Params):
    rho: float = Field(gt=0.0, le=10.0, description="radius of the neighbourhood (L2) the ascent step reaches")


@REGULARIZERS.register()
class Sam(Regularizer):
    name = "sam"
    Params = SamParams
    changes = frozenset({"weights"})
    order = -1
    example = {"rho": 0.05}
    summary = "two-pass step: gradient at w + rho*g/||g||, applied at w (flatter minima; 2x the step cost)"

    def on_train_start(self, ctx: Context) -> None:
        from torch import nn

        self.norms = [m for m in ctx.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def after_backward(self, ctx: Context) -> None:
        import torch

        params = [p for p in ctx.model.parameters() if p.grad is not None]
        grads = [p.grad for p in params]
        with torch.no_grad():
            scale = self.params.rho / (torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) + 1e-12)
            ascent = torch._foreach_mul(grads, scale)
            torch._foreach_add_(params, ascent)
        momenta = [m.momentum for m in self.norms]
        for m in self.norms:
            m.momentum = 0.0
        ctx.optimizer.zero_grad(set_to_none=True)
        ctx.batch_loss(ctx.x, ctx.y).backward()
        for m, momentum in zip(self.norms, momenta):
            m.momentum = momentum
        with torch.no_grad():
            torch._foreach_sub_(params, ascent)
