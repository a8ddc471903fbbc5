"""Transformer regularizers: attention dropout and stochastic depth (architectural), word dropout (data).

The first two only hand the model builder a knob, like the dropout family; the model adds the layers only
when they are on. Word dropout works on the token ids of a training batch through the ``augment`` hook, so
it costs no model change and draws every random number from the cell's generator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ablate.data.text import PAD_ID, UNK_ID
from ablate.regularizers.base import REGULARIZERS, Context, Params, Regularizer
from ablate.regularizers.dropout import PParams

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    import torch
    from torch import Tensor


@REGULARIZERS.register()
class AttentionDropout(Regularizer):
    name = "attention_dropout"
    Params = PParams
    applies_to = frozenset({"attention_dropout"})
    changes = frozenset({"model"})
    summary = "dropout on the attention weights (each query drops some of the keys it attends to)"
    example = {"p": 0.1}

    def model_kwargs(self) -> dict:
        return {"attention_dropout": self.params.p}


@REGULARIZERS.register()
class StochasticDepth(Regularizer):
    name = "stochastic_depth"
    Params = PParams
    applies_to = frozenset({"stochastic_depth"})
    changes = frozenset({"model"})
    summary = "drops whole residual branches per sample; block l of L with rate p*l/L (p: the last block's)"
    example = {"p": 0.1}

    def model_kwargs(self) -> dict:
        return {"stochastic_depth": self.params.p}


class WordDropoutParams(Params):
    p: float = Field(gt=0.0, lt=1.0, description="probability that a (non-pad) token is dropped")
    replace: Literal["unk", "pad"] = Field(
        "unk", description="unk: the token becomes <unk> (length kept); pad: it is removed from attention"
    )


@REGULARIZERS.register()
class WordDropout(Regularizer):
    name = "word_dropout"
    Params = WordDropoutParams
    data_kinds = frozenset({"text"})  # any model that reads token ids
    changes = frozenset({"batch"})
    summary = "drops whole tokens of training texts (to <unk> or out of attention), seeded per cell"
    example = {"p": 0.1}

    def augment(self, ctx: Context, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return word_dropout(x, ctx.gen, self.params.p, self.params.replace), y


def word_dropout(x: Tensor, gen: torch.Generator, p: float, replace: str = "unk") -> Tensor:
    """Return a copy of the (B, T) id batch with each real token replaced by <unk> or <pad> w.p. ``p``.

    One uniform draw per position, pads included, so the generator advances the same way whatever the texts.
    """
    import torch

    if x.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"word_dropout needs a batch of token ids, got dtype {x.dtype}")
    u = torch.rand(x.shape, generator=gen, device=gen.device).to(x.device, non_blocking=True)
    drop = (u < p) & (x != PAD_ID)
    return x.masked_fill(drop, UNK_ID if replace == "unk" else PAD_ID)
