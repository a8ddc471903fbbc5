"""Image datasets, held in memory as uint8 NCHW tensors.

Images stay uint8 until the training loop moves a batch to the device, so a whole CIFAR-10 train set is
150 MB rather than 600 MB and the host->device copy is 4x smaller; normalization (with the train split's
per-channel mean/std carried in ``Data``) happens on the device. A worker keeps each load in its
cache.WorkerCache (by the frozen params, and a file's mtime), so it reads and splits the data once for many
cells of one study. Callers must treat the returned tensors as read-only: they are shared between cells.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from ablate.data.base import DATASETS, Data, DataParams, Dataset, DataSpec
from ablate.data.split import balanced_subset, stratified_split
from ablate.errors import AblateError

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor

TEST_SPLIT_SEED = 0  # digits' test split is fixed across studies, like an official test set
DOWNLOAD_TIMEOUT_SECONDS = 20.0


def data_root(root: str | None) -> Path:
    """Where downloadable datasets live: the param, else $ABLATE_DATA_DIR, else ./data."""
    return Path(root or os.environ.get("ABLATE_DATA_DIR") or "data")


def _build(
    params: DataParams,
    x_pool: Tensor,
    y_pool: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    class_names: tuple[str, ...] = (),
    train_subset: int | None = None,
) -> Data:
    """Subset (optional), split train/val, and bundle. ``x_*`` are uint8 NCHW, ``y_*`` integer labels.

    The subset is drawn before the val split so ``train_subset`` bounds the whole labelled pool a study
    touches; both use ``split_seed`` so every cell of a study sees the same samples.
    """
    y_pool, y_test = y_pool.long(), y_test.long()
    if train_subset is not None:
        keep = balanced_subset(y_pool, train_subset, params.split_seed)
        x_pool, y_pool = x_pool[keep], y_pool[keep]
    train_idx, val_idx = stratified_split(y_pool, params.val_fraction, params.split_seed)
    x_train = x_pool[train_idx].contiguous()
    scaled = x_train.float().div_(255.0)
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-6)  # a constant channel must not divide by zero
    num_classes = max(int(y_pool.max()), int(y_test.max()) if y_test.numel() else 0) + 1
    num_classes = max(num_classes, len(class_names))
    spec = DataSpec(
        kind="image",
        num_classes=num_classes,
        in_channels=int(x_train.shape[1]),
        image_size=(int(x_train.shape[2]), int(x_train.shape[3])),
        class_names=tuple(class_names),
    )
    return Data(
        spec=spec,
        x_train=x_train,
        y_train=y_pool[train_idx].contiguous(),
        x_val=x_pool[val_idx].contiguous(),
        y_val=y_pool[val_idx].contiguous(),
        x_test=x_test.contiguous(),
        y_test=y_test.contiguous(),
        mean=mean,
        std=std,
    )


def _nhwc_to_nchw(x: np.ndarray) -> Tensor:
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.ndim == 3:  # NHW grayscale
        t = t.unsqueeze(-1)
    return t.permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------- digits


@DATASETS.register()
class Digits(Dataset):
    name = "digits"
    kind = "image"
    image_size = (8, 8)
    summary = "scikit-learn's 1,797 8x8 handwritten digits (no download; the embedded default)"

    class Params(DataParams):
        name: str = "digits"
        test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="stratified, fixed-seed test split")
        train_subset: int | None = Field(None, ge=2, description="class-balanced subset of the train pool")

    @classmethod
    def load(cls, params: DataParams) -> Data:
        return _load_digits(params)


def _load_digits(params: Digits.Params) -> Data:
    import torch

    images, target = digits_arrays()
    # values are 0..16 counts of set pixels in 4x4 blocks; rescale to the usual 0..255 image range
    x = torch.from_numpy(np.rint(images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(target).long()
    pool_idx, test_idx = stratified_split(y, params.test_fraction, TEST_SPLIT_SEED)
    names = tuple(str(n) for n in range(10))
    return _build(params, x[pool_idx], y[pool_idx], x[test_idx], y[test_idx], names, params.train_subset)


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images [1797, 8, 8] float, target [1797] int), what load_digits returns.

    Read from the csv.gz that scikit-learn ships, without importing scikit-learn: that import costs ~1.3 s
    in every worker process, ten times the parse. Falls back to load_digits if the file moved."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as f:
                data = np.loadtxt(f, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


# ---------------------------------------------------------------- cifar10


@DATASETS.register()
class Cifar10(Dataset):
    name = "cifar10"
    kind = "image"
    image_size = (32, 32)
    declared = {"channels": 3, "size": (32, 32), "classes": 10, "train": 50000, "test": 10000}
    summary = "CIFAR-10 via torchvision in the data root (downloaded when absent); official test set"

    class Params(DataParams):
        name: str = "cifar10"
        root: str | None = Field(None, description="data root; default $ABLATE_DATA_DIR or ./data")
        train_subset: int | None = Field(None, ge=2, description="class-balanced subset of the train set")

    @classmethod
    def load(cls, params: DataParams) -> Data:
        return _load_cifar10(params)


def _load_cifar10(params: Cifar10.Params) -> Data:
    import torch
    from torchvision.datasets import CIFAR10

    root = data_root(params.root)
    folder = root / CIFAR10.base_folder
    present = all((folder / f).is_file() for f, _ in CIFAR10.train_list + CIFAR10.test_list)
    try:
        if not present:
            _download_cifar10(root)
        train = CIFAR10(str(root), train=True, download=False)
        test = CIFAR10(str(root), train=False, download=False)
    except AblateError:
        raise
    except Exception as exc:  # torchvision raises RuntimeError on corrupt files
        raise AblateError(_cifar_help(root, f"could not read CIFAR-10 ({exc})")) from exc
    return _build(
        params,
        _nhwc_to_nchw(train.data),
        torch.tensor(train.targets),
        _nhwc_to_nchw(test.data),
        torch.tensor(test.targets),
        tuple(train.classes),
        params.train_subset,
    )


def _download_cifar10(root: Path) -> None:
    """Fetch (or unpack a tar.gz already in the root); a bounded socket timeout keeps offline runs fast."""
    from torchvision.datasets import CIFAR10

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        root.mkdir(parents=True, exist_ok=True)
        CIFAR10(str(root), train=True, download=True)
    except Exception as exc:
        raise AblateError(
            _cifar_help(root, f"CIFAR-10 is not in {root} and downloading it failed ({exc})")
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)


def _cifar_help(root: Path, what: str) -> str:
    return (
        f"{what}. Put the extracted 'cifar-10-batches-py' folder (or 'cifar-10-python.tar.gz' from "
        f"https://www.cs.toronto.edu/~kriz/cifar.html) under {root.resolve()} (set data.root or "
        f"$ABLATE_DATA_DIR to use another root), or use the 'npz' dataset with a prepared copy."
    )


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
