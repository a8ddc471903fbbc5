"""The dataset contract: `load` returns a Data bundle whose tensors have the dtypes and shapes its spec says
(images uint8 NCHW with per-channel statistics; text int64 ids below the vocabulary size), labels are class
indices below the class count in every split, and loading again gives the same tensors (the split is seeded)."""

from __future__ import annotations

import torch

from ablate.data import DATASETS, Data
from ablate.testing.base import ContractError, resolve

SPLITS = ("train", "val", "test")


def check_dataset(dataset, params: dict | None = None) -> Data:
    """Load the dataset with `params` (its `data:` settings beside the name; default: its defaults) and raise
    ContractError unless the result keeps the contract; returns the Data for further checks."""
    name, cls = resolve(DATASETS, dataset, "dataset")
    p = cls.Params.model_validate({"name": name, **(params or {})})
    data = cls.load(p)
    check_data(data, f"dataset '{name}'", kind=cls.kind)
    declared = cls.image_size_of(p)
    if declared is not None and tuple(declared) != tuple(data.spec.image_size):
        raise ContractError(f"dataset '{name}': `image_size_of` declares {tuple(declared)} before loading, but "
                            f"`load` gave {tuple(data.spec.image_size)} images")
    again = cls.load(p)
    for split in SPLITS:
        for part in ("x", "y"):
            if not torch.equal(getattr(data, f"{part}_{split}"), getattr(again, f"{part}_{split}")):
                raise ContractError(f"dataset '{name}': `load` twice with the same params gave different "
                                    f"{part}_{split}: the split must be seeded (split_seed)")
    return data


def check_data(data: Data, label: str, kind: str | None = None) -> None:
    """The loaded bundle's own contract (shapes, dtypes, label ranges, statistics)."""
    if not isinstance(data, Data):
        raise ContractError(f"{label}: `load` returned {type(data).__name__}, not ablate.data.Data")
    spec = data.spec
    if kind is not None and spec.kind != kind:
        raise ContractError(f"{label} declares `kind: {kind}` but its data spec says {spec.kind!r}")
    if spec.num_classes < 2 or (spec.class_names and len(spec.class_names) != spec.num_classes):
        raise ContractError(f"{label}: spec.num_classes={spec.num_classes} must be 2 or more, with as many "
                            f"class_names (given {len(spec.class_names)}) or none")
    for split in SPLITS:
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        where = f"{label}: {split} split"
        if len(x) == 0 or len(x) != len(y):
            raise ContractError(f"{where} has {len(x)} inputs and {len(y)} labels (must be equal, and not 0)")
        if y.dtype != torch.int64 or y.ndim != 1 or int(y.min()) < 0 or int(y.max()) >= spec.num_classes:
            raise ContractError(f"{where}: labels must be int64 class indices in [0, {spec.num_classes}), got "
                                f"{y.dtype} of shape {tuple(y.shape)}")
        _check_inputs(where, data, x)
    if spec.kind == "image":
        _check_statistics(label, data)


def _check_inputs(where: str, data: Data, x: torch.Tensor) -> None:
    spec = data.spec
    if spec.kind == "image":
        want = (spec.in_channels, *spec.image_size)
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != want or not x.is_contiguous():
            raise ContractError(f"{where}: images must be contiguous uint8 (N, {', '.join(map(str, want))}) as the "
                                f"spec says, got {x.dtype} of shape {tuple(x.shape)}")
    else:
        if x.dtype != torch.int64 or x.ndim != 2 or x.shape[1] != spec.max_len:
            raise ContractError(f"{where}: texts must be int64 token ids (N, {spec.max_len}) as spec.max_len says, "
                                f"got {x.dtype} of shape {tuple(x.shape)}")
        if int(x.min()) < 0 or int(x.max()) >= spec.vocab_size or not 0 <= spec.pad_id < spec.vocab_size:
            raise ContractError(f"{where}: token ids (and pad_id={spec.pad_id}) must lie in [0, vocab_size="
                                f"{spec.vocab_size})")


def _check_statistics(label: str, data: Data) -> None:
    """mean/std are the train split's per-channel statistics on the 0-1 scale (what training normalizes by)."""
    c = data.spec.in_channels
    if data.mean is None or data.std is None or data.mean.shape != (c,) or data.std.shape != (c,) \
            or data.mean.dtype != torch.float32 or not bool((data.std > 0).all()):
        raise ContractError(f"{label}: image data needs float32 per-channel mean and std of shape ({c},), std > 0")
    expected = data.x_train.float().div(255).mean(dim=(0, 2, 3))
    if not torch.allclose(data.mean, expected, atol=1e-5):
        raise ContractError(f"{label}: mean {data.mean.tolist()} is not the train split's per-channel mean on the "
                            f"0-1 scale ({expected.tolist()})")
