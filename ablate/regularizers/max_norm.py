"""Max-norm (Srivastava et al. 2014): after every step, cap the L2 norm of each unit's incoming weights.

For every penalized weight (conv kernels, linear and embedding matrices; biases and norm layers exempt, as for
the penalties), each slice along the output dimension (a conv filter, a linear unit's row, a token's
embedding) whose norm exceeds ``max_norm`` is scaled back onto the ball; smaller ones are left alone. Unlike
an L2 penalty it never shrinks weights inside the ball, so it pairs with large learning rates and dropout.
One ``renorm_`` per weight tensor per step, on the device.
"""

from __future__ import annotations

from pydantic import Field

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer


class MaxNormParams(Params):
    max_norm: float = Field(gt=0.0, le=1000.0, description="largest L2 norm of one unit's incoming weights")


@REGULARIZERS.register()
class MaxNorm(Regularizer):
    name = "max_norm"
    Params = MaxNormParams
    changes = frozenset({"weights"})
    example = {"max_norm": 0.5}  # binds at init: a unit's norm is ~0.58 under torch's default init, ~1.4 under He
    summary = "after each step, scales each unit's incoming weights back to L2 norm <= max_norm"

    def after_step(self, ctx: Context) -> None:
        import torch

        with torch.no_grad():
            for w in ctx.penalized:
                w.renorm_(2, 0, self.params.max_norm)
