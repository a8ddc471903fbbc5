"""The dataset contract (ablate.testing.check_dataset) over every registered dataset, each from tiny data
made here (files in tmp_path, never the network), and its power: a loader that breaks it fails naming it."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ablate.data import DATASETS
from ablate.data.base import Data, Dataset, DataSpec
from ablate.testing import ContractError, check_dataset


def _npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (40, 6, 5, 3), dtype=np.uint8),
             y_train=np.arange(40) % 4, x_test=rng.integers(0, 256, (12, 6, 5, 3), dtype=np.uint8),
             y_test=np.arange(12) % 4)
    return {"path": str(tmp_path / "d.npz")}


def _image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "pets" / name / f"{i}.png")
    return {"path": str(tmp_path / "pets"), "root": str(tmp_path / "root"), "image_size": 8}


def _texts(n: int) -> dict:
    return {"text": [f"story {i} about topic {i % 4}" for i in range(n)], "label": [i % 4 for i in range(n)]}


def _text_csv(tmp_path):
    pd.DataFrame(_texts(40)).to_csv(tmp_path / "d.csv.gz", index=False)
    return {"path": str(tmp_path / "d.csv.gz"), "max_len": 6}


def _ag_news(tmp_path):
    (tmp_path / "ag_news").mkdir()
    pd.DataFrame({**_texts(40), "split": ["train"] * 32 + ["test"] * 8}).to_csv(
        tmp_path / "ag_news" / "ag_news.csv.gz", index=False)
    return {"root": str(tmp_path), "download": False, "max_len": 6}


def _idx(path, array: np.ndarray) -> None:
    path.write_bytes(struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
                     + array.astype(np.uint8).tobytes())


def _torchvision(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return {"dataset": "MNIST", "root": str(tmp_path), "download": False}


def _cifar10(tmp_path, monkeypatch):
    """CIFAR-10's own pickled batches, tiny; torchvision's checksum of the real files is skipped."""
    from torchvision.datasets import CIFAR10, cifar

    folder = tmp_path / CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for file, _ in CIFAR10.train_list + CIFAR10.test_list:
        batch = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": list(np.arange(20) % 10)}
        (folder / file).write_bytes(pickle.dumps(batch))
    (folder / CIFAR10.meta["filename"]).write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)
    return {"root": str(tmp_path)}


TINY = {
    "digits": lambda tmp_path, mp: {"train_subset": 100},
    "synthetic_text": lambda tmp_path, mp: {"n_train": 200, "n_test": 100},
    "npz": lambda tmp_path, mp: _npz(tmp_path),
    "image_folder": lambda tmp_path, mp: _image_folder(tmp_path),
    "text_csv": lambda tmp_path, mp: _text_csv(tmp_path),
    "ag_news": lambda tmp_path, mp: _ag_news(tmp_path),
    "torchvision": lambda tmp_path, mp: _torchvision(tmp_path),
    "cifar10": _cifar10,
}


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_keeps_the_contract(name, tmp_path, monkeypatch):
    assert name in TINY, f"dataset '{name}' needs tiny data in this test's TINY (files written to tmp_path)"
    data = check_dataset(name, TINY[name](tmp_path, monkeypatch))
    assert data.spec.kind == DATASETS.get(name).kind


class _Broken(Dataset):
    name = "broken_labels"
    kind = "image"

    @classmethod
    def load(cls, params):
        import torch

        x = torch.zeros(6, 1, 4, 4, dtype=torch.uint8)
        y = torch.tensor([0, 1, 2, 0, 1, 2])  # three classes, two declared
        return Data(DataSpec("image", num_classes=2, in_channels=1, image_size=(4, 4)), x, y, x, y, x, y,
                    mean=torch.zeros(1), std=torch.ones(1))


def test_a_dataset_that_breaks_the_contract_fails_naming_it():
    DATASETS.register()(_Broken)
    try:
        with pytest.raises(ContractError, match=r"dataset 'broken_labels': train split: labels must be int64 class "
                                                r"indices in \[0, 2\)"):
            check_dataset(_Broken)
    finally:
        DATASETS.unregister("broken_labels")
