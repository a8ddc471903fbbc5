"""A dataset can be a plain loader function, registered with ``ablate.register_dataset``:

    @ablate.register_dataset
    def shapes(*, per_class: int = 50, size: int = 16):
        \"\"\"Circles, squares and triangles.\"\"\"
        return x_train, y_train, x_test, y_test  # images (N, C, H, W) or (N, H, W); integer labels

Its keyword parameters become the dataset's own settings (typed and defaulted as written), beside the ones
every dataset takes (val_fraction, batch_size, split_seed, and train_subset). ablate then does what it does
for its own image datasets: a class-balanced subset, a stratified validation split of the train pool by
split_seed, the normalization from the train split, all in memory. Images are uint8, or floats in [0, 1];
a dict {"x_train", "y_train", "x_test", "y_test", "class_names"} may be returned instead of the tuple.
Text data needs a Dataset class (its vocabulary and padding are the dataset's own).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import create_model

from ablate.data.base import DATASETS, Data, DataParams, Dataset
from ablate.data.images import _build
from ablate.errors import AblateError

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    import torch

RESERVED = frozenset(DataParams.model_fields) | {"train_subset"}


class SignatureDataParams(DataParams):
    """A loader function's params: a class made from its signature and importable by no name, so it pickles
    as (dataset name, values), rebuilt from the registry (a worker process loads plugins first)."""

    train_subset: int | None = None

    def __reduce__(self):
        return _signature_params, (self.name, self.model_dump())


def _signature_params(name: str, values: dict) -> DataParams:
    return DATASETS.get(name).Params.model_validate(values)


class FunctionDataset(Dataset):
    kind = "image"
    fn: ClassVar[Any]

    @classmethod
    def load(cls, params: DataParams) -> Data:
        own = params.model_dump(exclude=RESERVED)
        out = cls.fn(**own)
        x_train, y_train, x_test, y_test, names = _arrays(cls.name, out)
        return _build(params, x_train, y_train, x_test, y_test, names, getattr(params, "train_subset", None))


def function_dataset(fn, name: str | None = None, summary: str | None = None) -> type[Dataset]:
    """Wrap a loader function as a registered Dataset class (its settings read from the signature)."""
    name = name or fn.__name__
    params = list(inspect.signature(fn).parameters.values())
    taken = sorted(p.name for p in params if p.name in RESERVED)
    if taken:
        raise TypeError(f"dataset loader {fn.__name__}: {taken} are settings every dataset has (ablate applies "
                        f"them); name the loader's own parameters otherwise")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise TypeError(f"dataset loader {fn.__name__}: its settings must be named parameters (no *args/**kwargs)")
    fields = {p.name: (Any if p.annotation is inspect.Parameter.empty else p.annotation,
                       ... if p.default is inspect.Parameter.empty else p.default) for p in params}
    fields["name"] = (str, name)
    model = create_model(f"{name}_data_params", __base__=SignatureDataParams, **fields)  # type: ignore[call-overload]
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    attrs = {"name": name, "fn": staticmethod(fn), "Params": model, "summary": summary or (doc[0] if doc else ""),
             "__doc__": fn.__doc__, "__module__": fn.__module__}
    return type(f"{name}_dataset", (FunctionDataset,), attrs)


def _arrays(name: str, out) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]:
    where = f"dataset '{name}': its loader returned"
    if isinstance(out, dict):
        missing = sorted({"x_train", "y_train", "x_test", "y_test"} - set(out))
        if missing:
            raise AblateError(f"{where} a dict without {missing}")
        parts, names = [out["x_train"], out["y_train"], out["x_test"], out["y_test"]], out.get("class_names", ())
    elif isinstance(out, tuple | list) and len(out) in (4, 5):
        parts, names = list(out[:4]), (out[4] if len(out) == 5 else ())
    else:
        raise AblateError(f"{where} {type(out).__name__}; return (x_train, y_train, x_test, y_test)")
    x_train, x_test = (_images(where, k, v) for k, v in (("x_train", parts[0]), ("x_test", parts[2])))
    y_train, y_test = (_labels(where, k, v, len(x)) for k, v, x in
                       (("y_train", parts[1], x_train), ("y_test", parts[3], x_test)))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise AblateError(f"{where} train images {tuple(x_train.shape[1:])} and test images "
                          f"{tuple(x_test.shape[1:])} of different shapes")
    return x_train, y_train, x_test, y_test, tuple(str(n) for n in names)


def _images(where: str, key: str, x) -> torch.Tensor:
    import torch

    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4 or t.shape[0] == 0:
        raise AblateError(f"{where} {key} of shape {tuple(t.shape)}; images are (N, C, H, W) or (N, H, W), N > 0")
    if t.dtype == torch.uint8:
        return t.contiguous()
    if not t.is_floating_point() or not bool(((t >= 0) & (t <= 1)).all()):
        raise AblateError(f"{where} {key} as {t.dtype}; images are uint8 (0..255) or floats in [0, 1]")
    return t.mul(255).round_().to(torch.uint8).contiguous()


def _labels(where: str, key: str, y, n: int) -> torch.Tensor:
    import torch

    t = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if t.ndim != 1 or len(t) != n or t.is_floating_point() or t.dtype == torch.bool:
        raise AblateError(f"{where} {key} of shape {tuple(t.shape)} and type {t.dtype}; labels are {n} integers")
    if len(t) and int(t.min()) < 0:
        raise AblateError(f"{where} negative labels in {key}; labels are class indices 0, 1, ...")
    return t.long()
