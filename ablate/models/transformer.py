"""A pre-LN Transformer encoder classifier with two front ends: token ids (text) or image patches (ViT).

The front end is chosen by the data spec's kind, so one study format ablates both. Positions are *learned*
(a ``pos_embedding`` table, one row per token or patch, plus one for the CLS token), as in BERT and ViT:
inputs have a fixed maximum length, and the table is exempt from weight penalties (the model declares it in
``no_weight_decay``, read by ``penalized_parameters``). Every block is ``x + drop_path(drop(attn(LN(x))))`` then
``x + drop_path(drop(mlp(LN(x))))``; a final LayerNorm precedes the pooling and the head.

Regularizer layers exist only when on (as in the CNN): ``dropout`` (embeddings, both residual branches and
the feed-forward hidden layer), ``attention_dropout`` (on the attention weights), ``stochastic_depth``
(whole residual branches dropped per sample, rate growing linearly with depth: block l of L drops with
p*l/L, Huang et al. 2016), ``gaussian_dropout`` (feed-forward hidden layer and the pooled features).
Init follows the seed: Xavier-uniform linear weights, zero biases; embeddings N(0, 0.02).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.models.base import MODELS, ModelBuilder, ModelParams

if TYPE_CHECKING:
    from torch import nn


class TransformerParams(ModelParams):
    name: str = "transformer"
    dim: int = Field(64, ge=4, le=4096, description="width of the residual stream")
    depth: int = Field(2, ge=1, le=64, description="number of encoder blocks")
    heads: int = Field(4, ge=1, le=64, description="attention heads; must divide dim")
    mlp_ratio: float = Field(4.0, gt=0.0, le=16.0, description="feed-forward hidden width / dim")
    max_len: int | None = Field(None, ge=1, le=65536, description="text: tokens read (default: the data's max_len)")
    patch_size: int = Field(4, ge=1, le=256, description="images: square patch side in pixels")
    pooling: Literal["mean", "cls"] = Field("mean", description="mean over non-pad tokens, or a CLS token")

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> TransformerParams:
        if self.dim % self.heads:
            raise ValueError(f"heads must divide dim, but got dim={self.dim}, heads={self.heads}")
        return self


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@MODELS.register()
class TransformerBuilder(ModelBuilder):
    name = "transformer"
    family = "transformer"
    Params = TransformerParams
    data_kinds = frozenset({"image", "text"})
    reg_kwargs = frozenset({"dropout", "attention_dropout", "stochastic_depth", "gaussian_dropout"})
    summary = "pre-LN Transformer encoder: token embedding (text) or ViT patches (images), learned positions"
    tiny = {"model": {"name": "transformer", "dim": 8, "depth": 2, "heads": 2},
            "data": {"name": "synthetic_text", "n_train": 200, "n_test": 100, "batch_size": 64}}

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:
        unknown = set(reg_kwargs) - cls.reg_kwargs
        if unknown:
            raise TypeError(f"transformer does not take {sorted(unknown)}; it takes {sorted(cls.reg_kwargs)}")
        if spec.kind not in cls.data_kinds:
            raise AblateError(f"transformer takes {sorted(cls.data_kinds)} data, got {spec.kind!r}")
        patch = params.patch_size  # type: ignore[attr-defined]
        if spec.kind == "image" and (spec.image_size[0] % patch or spec.image_size[1] % patch):
            h, w = spec.image_size
            raise AblateError(
                f"transformer: model.patch_size must divide the image size, but got patch_size={patch} for "
                f"{h}x{w} images (try one of {_divisors(math.gcd(h, w))})"
            )
        from ablate.models.transformer_net import Transformer  # imports torch; validation needs none

        return Transformer(spec, params, **{k: float(v) for k, v in reg_kwargs.items()})  # type: ignore[arg-type]

    @classmethod
    def check_data(cls, params: ModelParams, dataset, data_params) -> list[tuple[str, str, object]]:
        size = dataset.image_size if dataset.kind == "image" else None
        patch = params.patch_size  # type: ignore[attr-defined]
        if size is None or not (size[0] % patch or size[1] % patch):
            return []
        return [("model.patch_size", f"must divide the image size of dataset '{dataset.name}' ({size[0]}x{size[1]}; "
                 f"try one of {_divisors(math.gcd(*size))})", patch)]
