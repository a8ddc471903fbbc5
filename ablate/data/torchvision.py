"""torchvision's classification datasets by name: ``data: {name: torchvision, dataset: FashionMNIST}``.

Downloaded once into the data root by torchvision itself (a bounded socket timeout keeps an offline run from
hanging), then read into uint8 NCHW tensors and split like every image dataset; the official test set is
the test split. Offline without the files, the error names the dataset and the folder to put them in.
Each entry below says how torchvision names the splits and lays out the pixels; adding one is one line.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field, field_validator

from ablate.data.base import DATASETS, Data, DataParams, Dataset
from ablate.data.images import DOWNLOAD_TIMEOUT_SECONDS, _build, _nhwc_to_nchw, data_root
from ablate.errors import AblateError, UnknownName

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor


@dataclass(frozen=True)
class Entry:
    split_arg: str  # "train" (train=True/False) or "split" (split="train"/"test")
    layout: str  # how .data holds the pixels: NHW, NHWC or NCHW
    folder: str  # where under the root torchvision looks, for the offline message ({name}: the class name)


MNIST_LIKE = Entry("train", "NHW", "{root}/{name}/raw")
ENTRIES = {
    "MNIST": MNIST_LIKE, "FashionMNIST": MNIST_LIKE, "KMNIST": MNIST_LIKE,
    "CIFAR10": Entry("train", "NHWC", "{root} (cifar-10-batches-py/ or cifar-10-python.tar.gz)"),
    "CIFAR100": Entry("train", "NHWC", "{root} (cifar-100-python/ or cifar-100-python.tar.gz)"),
    "SVHN": Entry("split", "NCHW", "{root} (train_32x32.mat, test_32x32.mat)"),
    "STL10": Entry("split", "NCHW", "{root} (stl10_binary/ or stl10_binary.tar.gz)"),
    "USPS": Entry("train", "NHW", "{root} (usps.bz2, usps.t.bz2)"),
}


class TorchvisionDataParams(DataParams):
    name: str = "torchvision"
    dataset: str = Field(description=f"a torchvision dataset class: {', '.join(ENTRIES)}")
    root: str | None = Field(None, description="data root; default $ABLATE_DATA_DIR or ./data")
    download: bool = Field(True, description="fetch into the data root when absent")
    train_subset: int | None = Field(None, ge=2, description="class-balanced subset of the train set")

    @field_validator("dataset")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ENTRIES:
            raise ValueError(str(UnknownName("torchvision dataset", v, list(ENTRIES))))
        return v


def _split(name: str, root: Path, train: bool, download: bool):
    import torchvision.datasets as tvd

    entry = ENTRIES[name]
    kw = {"train": train} if entry.split_arg == "train" else {"split": "train" if train else "test"}
    return getattr(tvd, name)(str(root), download=download, **kw)


def _tensors(ds, layout: str) -> tuple[Tensor, Tensor]:
    import torch

    x = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    labels = getattr(ds, "targets", None)
    labels = getattr(ds, "labels", None) if labels is None else labels
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if x.dtype != np.uint8:  # USPS stores floats in 0..255
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    t = torch.from_numpy(np.ascontiguousarray(x)) if layout == "NCHW" else _nhwc_to_nchw(x)
    return t.contiguous(), y


def open_splits(params: TorchvisionDataParams):
    """(train, test) torchvision datasets, downloading once if allowed; an AblateError saying where otherwise."""
    name, root = params.dataset, data_root(params.root)
    where = ENTRIES[name].folder.format(root=root.resolve(), name=name)
    help_ = (f"Put the files torchvision.datasets.{name} expects in {where} (set data.root or $ABLATE_DATA_DIR "
             f"to use another root)")
    try:
        return _split(name, root, True, False), _split(name, root, False, False)
    except Exception as missing:
        if not params.download:
            raise AblateError(f"torchvision dataset '{name}': not found under {root.resolve()} and data.download "
                              f"is false ({missing}). {help_}.") from missing
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        root.mkdir(parents=True, exist_ok=True)
        return _split(name, root, True, True), _split(name, root, False, True)
    except Exception as exc:
        raise AblateError(f"torchvision dataset '{name}': not under {root.resolve()} and downloading it failed "
                          f"({type(exc).__name__}: {exc}). {help_}.") from exc
    finally:
        socket.setdefaulttimeout(previous)


@DATASETS.register()
class Torchvision(Dataset):
    name = "torchvision"
    kind = "image"
    Params = TorchvisionDataParams
    summary = f"a torchvision dataset by name ({', '.join(ENTRIES)}), downloaded into the data root once"

    @classmethod
    def load(cls, params: DataParams) -> Data:
        p: TorchvisionDataParams = params  # type: ignore[assignment]
        train, test = open_splits(p)
        layout = ENTRIES[p.dataset].layout
        (x_tr, y_tr), (x_te, y_te) = _tensors(train, layout), _tensors(test, layout)
        names = tuple(str(c) for c in getattr(train, "classes", ()) or ())
        return _build(p, x_tr, y_tr, x_te, y_te, names, p.train_subset)
