"""Pure tensor functions for what a cell reports: weight norms, sparsity, calibration.

Per-epoch weight statistics are computed in one pass on the device and copied to the host once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ablate.regularizers.base import penalized_named

SPARSITY_THRESHOLD = 1e-3


@torch.no_grad()
def weight_stats(model: nn.Module) -> dict[str, float]:
    """l1_norm = sum|w|, l2_norm = sqrt(sum w^2) (a norm, unlike the seed's), sparsity, and norm/<layer>.

    Over the penalized weights (see penalized_parameters), so the norms measure what the penalties act on.
    """
    named = penalized_named(model)
    sq = torch.stack([p.detach().float().pow(2).sum() for _, p in named])
    l1 = torch.stack([p.detach().float().abs().sum() for _, p in named]).sum()
    small = torch.stack([(p.detach().abs() < SPARSITY_THRESHOLD).sum() for _, p in named]).sum()
    total = sum(p.numel() for _, p in named)
    host = torch.cat([sq.sqrt(), torch.stack([l1, sq.sum().sqrt(), small.float()])]).tolist()  # one copy
    per_layer = host[: len(named)]
    out = {"l1_norm": host[-3], "l2_norm": host[-2], "sparsity": host[-1] / max(total, 1)}
    out.update({f"norm/{n}": v for (n, _), v in zip(named, per_layer)})
    return out


@torch.no_grad()
def weight_histogram(model: nn.Module, bins: int = 200) -> dict:
    """Histogram of all penalized weights (and per layer) for the report's weight-distribution figure."""
    names, params = zip(*penalized_named(model))
    flat = torch.cat([p.detach().float().flatten() for p in params]).cpu()
    lim = float(flat.abs().max().clamp_min(1e-8))
    edges = torch.linspace(-lim, lim, bins + 1)
    out = {"edges": edges.tolist(), "counts": torch.histc(flat, bins, -lim, lim).long().tolist(), "layers": {}}
    for name, p in zip(names, params):
        v = p.detach().float().flatten().cpu()
        m = float(v.abs().max().clamp_min(1e-8))
        out["layers"][name] = {"edges": torch.linspace(-m, m, 31).tolist(),
                               "counts": torch.histc(v, 30, -m, m).long().tolist()}
    return out


def expected_calibration_error(probs: Tensor, labels: Tensor, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum_b |acc_b - conf_b| * n_b / n."""
    conf, pred = probs.float().max(dim=1)
    correct = (pred == labels).float()
    idx = torch.clamp((conf * bins).long(), max=bins - 1)
    acc = torch.zeros(bins, device=probs.device).index_add_(0, idx, correct)
    cs = torch.zeros(bins, device=probs.device).index_add_(0, idx, conf)
    gap = (acc - cs).abs()  # |sum correct - sum conf| per bin = n_b * |acc_b - conf_b|
    return float(gap.sum() / max(len(labels), 1))
