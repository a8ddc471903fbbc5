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
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.models.base import MODELS, ModelBuilder, ModelParams
from ablate.models.layers import GaussianDropout

EMBED_STD = 0.02


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


def _optional(p: float, layer: type[nn.Module]) -> nn.Module | None:
    return layer(p) if p > 0 else None


def _apply(layer: nn.Module | None, x: Tensor) -> Tensor:
    return x if layer is None else layer(x)


class DropPath(nn.Module):
    """Drop a residual branch for whole samples with probability p; survivors are scaled by 1/(1-p)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 < p < 1.0:
            raise ValueError(f"drop-path rate must be in (0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, attention_dropout: float):
        super().__init__()
        self.heads, self.attention_dropout = heads, float(attention_dropout)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """``mask``: bool (B, 1, 1, T), True where a key may be attended to (not padding)."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, *, dropout: float, attention_dropout: float,
                 drop_path: float, gaussian_dropout: float):
        super().__init__()
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.ln1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, attention_dropout)
        self.ln2 = nn.LayerNorm(dim)
        mlp: list[nn.Module] = [nn.Linear(dim, hidden), nn.GELU()]
        if dropout > 0:
            mlp.append(nn.Dropout(dropout))
        if gaussian_dropout > 0:
            mlp.append(GaussianDropout(gaussian_dropout))
        mlp.append(nn.Linear(hidden, dim))
        self.mlp = nn.Sequential(*mlp)
        self.drop_attn, self.drop_mlp = _optional(dropout, nn.Dropout), _optional(dropout, nn.Dropout)
        self.drop_path = _optional(drop_path, DropPath)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = x + _apply(self.drop_path, _apply(self.drop_attn, self.attn(self.ln1(x), mask)))
        return x + _apply(self.drop_path, _apply(self.drop_mlp, self.mlp(self.ln2(x))))


class Transformer(nn.Module):
    def __init__(self, spec: DataSpec, params: TransformerParams, *, dropout: float = 0.0,
                 attention_dropout: float = 0.0, stochastic_depth: float = 0.0, gaussian_dropout: float = 0.0):
        super().__init__()
        dim, self.text, self.pad_id = params.dim, spec.kind == "text", spec.pad_id
        self.cls = params.pooling == "cls"
        if self.text:
            self.max_len = params.max_len or spec.max_len
            if self.max_len < 1 or spec.vocab_size < 1:
                raise AblateError(f"transformer: text data needs vocab_size >= 1 and max_len >= 1, got {spec}")
            self.tokens = nn.Embedding(spec.vocab_size, dim)
            positions = self.max_len
        else:
            self.patches = _patch_embedding(spec, params.patch_size, dim)
            positions = (spec.image_size[0] // params.patch_size) * (spec.image_size[1] // params.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if self.cls else None
        self.pos_embedding = nn.Parameter(torch.zeros(1, positions + self.cls, dim))
        self.drop_embed = _optional(dropout, nn.Dropout)
        rates = [stochastic_depth * (i + 1) / params.depth for i in range(params.depth)]
        self.blocks = nn.ModuleList(
            Block(dim, params.heads, params.mlp_ratio, dropout=dropout, attention_dropout=attention_dropout,
                  drop_path=rate, gaussian_dropout=gaussian_dropout) for rate in rates
        )
        self.ln_f = nn.LayerNorm(dim)
        self.noise_pooled = _optional(gaussian_dropout, GaussianDropout)
        self.head = nn.Linear(dim, spec.num_classes)
        self._init_weights()

    def no_weight_decay(self) -> set[str]:
        """Parameters penalties skip (read by ablate.regularizers.penalized_parameters; timm's convention): a
        position's learned vector and the CLS token are inputs, not capacity."""
        return {"pos_embedding", "cls_token"}

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=EMBED_STD)
        nn.init.normal_(self.pos_embedding, std=EMBED_STD)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=EMBED_STD)

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Tokens or patches -> (B, T, dim) plus a (B, T) bool mask of real (non-pad) positions, or None."""
        if self.text:
            x = x[:, : self.max_len]
            keep = x != self.pad_id
            h = self.tokens(x)
        else:
            h, keep = self.patches(x).flatten(2).transpose(1, 2), None
        if self.cls_token is not None:
            h = torch.cat([self.cls_token.expand(h.shape[0], -1, -1), h], dim=1)
            if keep is not None:
                keep = F.pad(keep, (1, 0), value=True)
        return h + self.pos_embedding[:, : h.shape[1]], keep

    def forward(self, x: Tensor) -> Tensor:
        h, keep = self.embed(x)
        mask = None
        if keep is not None:
            # a row with no real token (an empty text) attends to its pads rather than to nothing (NaN)
            keep = keep | ~keep.any(dim=1, keepdim=True)
            mask = keep[:, None, None, :]
        h = _apply(self.drop_embed, h)
        for block in self.blocks:
            h = block(h, mask)
        h = self.ln_f(h)
        if self.cls_token is not None:
            pooled = h[:, 0]
        elif keep is None:
            pooled = h.mean(dim=1)
        else:
            w = keep.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(dim=1) / w.sum(dim=1)
        return self.head(_apply(self.noise_pooled, pooled))


def _patch_embedding(spec: DataSpec, patch: int, dim: int) -> nn.Conv2d:
    """A strided conv = a linear map of each non-overlapping patch (ViT); the patch must tile the image."""
    h, w = spec.image_size
    if h % patch or w % patch:
        raise AblateError(
            f"transformer: model.patch_size must divide the image size, but got patch_size={patch} for "
            f"{h}x{w} images (try one of {_divisors(math.gcd(h, w))})"
        )
    return nn.Conv2d(spec.in_channels, dim, kernel_size=patch, stride=patch)


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
        return Transformer(spec, params, **{k: float(v) for k, v in reg_kwargs.items()})  # type: ignore[arg-type]

    @classmethod
    def check_data(cls, params: ModelParams, dataset, data_params) -> list[tuple[str, str, object]]:
        size = dataset.image_size if dataset.kind == "image" else None
        patch = params.patch_size  # type: ignore[attr-defined]
        if size is None or not (size[0] % patch or size[1] % patch):
            return []
        return [("model.patch_size", f"must divide the image size of dataset '{dataset.name}' ({size[0]}x{size[1]}; "
                 f"try one of {_divisors(math.gcd(*size))})", patch)]
