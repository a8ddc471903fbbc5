"""The network of the `transformer` model (ablate/models/transformer.py declares it and says what each
regularizer layer does): kept apart from the declaration so that validating or listing a study imports no
torch. ``params`` is the builder's TransformerParams.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.models.base import ModelParams
from ablate.models.layers import GaussianDropout

EMBED_STD = 0.02


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
    def __init__(self, spec: DataSpec, params: ModelParams, *, dropout: float = 0.0,
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
    """A strided conv = a linear map of each non-overlapping patch (ViT); the builder checked that the patch
    tiles the image."""
    return nn.Conv2d(spec.in_channels, dim, kernel_size=patch, stride=patch)
