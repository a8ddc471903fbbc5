"""Seeded, stratified index splits shared by every dataset.

Every split uses its own ``torch.Generator`` so it depends only on the labels and the seed: two processes
(or two arms) asking for the same split get the same indices, whatever else touched the global RNG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ablate.errors import AblateError

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor


def _per_class_perm(y: Tensor, seed: int) -> list[Tensor]:
    """One shuffled index tensor per class, in class order; the only source of randomness here."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    y = y.cpu().long()
    out = []
    for cls in torch.unique(y).tolist():
        idx = torch.nonzero(y == cls, as_tuple=False).flatten()
        out.append(idx[torch.randperm(idx.numel(), generator=gen)])
    return out


def stratified_split(y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Hold out ``fraction`` of every class; returns ``(keep_idx, held_idx)``, each sorted.

    Per class, round(fraction * n_class) samples are held, at least one when the class has two or more,
    and never all of them, so both sides see every class that can be shared.
    """
    import torch

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    keep, held = [], []
    for idx in _per_class_perm(y, seed):
        n = idx.numel()
        k = int(round(fraction * n))
        k = max(k, 1) if n >= 2 else 0
        k = min(k, n - 1) if n >= 1 else 0
        held.append(idx[:k])
        keep.append(idx[k:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(held)).values


def balanced_subset(y: Tensor, n: int, seed: int) -> Tensor:
    """Pick ``n`` indices spread as evenly as possible over the classes (sorted).

    Classes get ``n // C`` each, the remainder going to the first classes; a class with too few samples
    gives all it has and the shortfall is taken from the others, so the result has ``min(n, len(y))``.
    """
    import torch

    if n < 1:
        raise ValueError(f"subset size must be >= 1, got {n}")
    perms = _per_class_perm(y, seed)
    total = sum(p.numel() for p in perms)
    n = min(int(n), total)
    take = [0] * len(perms)
    remaining = n
    open_classes = list(range(len(perms)))
    while remaining > 0 and open_classes:
        share, extra = divmod(remaining, len(open_classes))
        for rank, c in enumerate(list(open_classes)):
            want = share + (1 if rank < extra else 0)
            got = min(want, perms[c].numel() - take[c])
            take[c] += got
            remaining -= got
            if take[c] == perms[c].numel():
                open_classes.remove(c)
    chosen = torch.cat([p[:k] for p, k in zip(perms, take, strict=True)])
    return torch.sort(chosen).values


def check_sizes(where: str, y_pool: Tensor, val_fraction: float, seed: int, n_test: int,
                train_subset: int | None = None, n_val: int | None = None) -> None:
    """Every split the study will train, select and test on must hold a sample: a split that would come out
    empty (one sample, or one per class, leaves no validation sample) is refused before any cell runs.
    `n_val`: the size of a validation split given by the data (None: drawn from the pool)."""
    import torch

    from ablate.data.base import check_classes, label_counts

    if train_subset is not None:
        y_pool = y_pool[balanced_subset(y_pool, train_subset, seed)]
    if n_val is None:
        train, val = (len(i) for i in stratified_split(y_pool, val_fraction, seed))
    else:
        train, val = len(y_pool), n_val
    for name, n in (("train", train), ("validation", val), ("test", n_test)):
        if n == 0:
            raise AblateError(f"{where}: the {name} split would be empty ({len(y_pool)} training sample(s) "
                              f"in {len(torch.unique(y_pool))} class(es), {n_test} test sample(s)); a validation "
                              "sample is held out only from a class with at least 2 training samples")
    check_classes(where, label_counts(y_pool))  # after the sizes: one sample is best told as an empty split
