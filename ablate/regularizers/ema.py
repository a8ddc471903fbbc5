"""Weight averaging (EMA, Polyak): validate, test and record an exponential moving average of the weights.

The raw weights keep training; after every step the average moves toward them, ``avg += (1 - d) (w - avg)``
(one fused kernel for all tensors). Parameters and floating buffers (BatchNorm's running statistics) are
averaged, as timm's ModelEmaV2 does. With ``warmup`` the decay is ``min(decay, (1 + t) / (10 + t))`` at step t
(timm, TensorFlow), so a short run is not dominated by the random init.

Evaluation sees the average: ``on_eval_start`` swaps it in (keeping the raw weights aside), ``on_eval_end``
swaps the raw weights back before training resumes. The loop skips that after the last evaluation, so the
final test, the recorded weights and early stopping's saved best are all averaged weights.
"""

from __future__ import annotations

from pydantic import Field

from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer


class EmaParams(Params):
    decay: float = Field(gt=0.0, lt=1.0, description="per-step decay of the average (0.999: ~1000-step memory)")
    warmup: bool = Field(True, description="decay min(decay, (1 + t) / (10 + t)) at step t")


@REGULARIZERS.register()
class Ema(Regularizer):
    name = "ema"
    Params = EmaParams
    changes = frozenset({"evaluated_weights"})
    example = {"decay": 0.99}
    summary = "validates, tests and records an exponential moving average of the weights (raw weights train)"

    def on_train_start(self, ctx: Context) -> None:
        model = ctx.model
        self.live = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
        self.avg = [t.detach().clone() for t in self.live]
        self.raw: list | None = None

    def after_step(self, ctx: Context) -> None:
        import torch

        d = self.params.decay
        if self.params.warmup:
            d = min(d, (1.0 + ctx.step) / (10.0 + ctx.step))
        with torch.no_grad():
            torch._foreach_lerp_(self.avg, self.live, 1.0 - d)

    def on_eval_start(self, ctx: Context) -> None:
        import torch

        with torch.no_grad():
            if self.raw is None:
                self.raw = [t.detach().clone() for t in self.live]
            torch._foreach_copy_(self.live, self.avg)

    def on_eval_end(self, ctx: Context) -> None:
        import torch

        with torch.no_grad():
            torch._foreach_copy_(self.live, self.raw)
        self.raw = None
