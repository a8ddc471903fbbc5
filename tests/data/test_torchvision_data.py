"""torchvision datasets by name, without downloading: a root pre-populated with MNIST-format files loads
through torchvision's own reader; offline without files, the error names the dataset and the folder."""

from __future__ import annotations

import socket
import struct

import numpy as np
import pytest

from ablate.data import DATASETS
from ablate.errors import AblateError, StudyError
from ablate.validate import validate_study


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (blocked by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _idx(path, array: np.ndarray) -> None:
    """The IDX format MNIST ships in: magic (ubyte, ndim), big-endian dims, then the bytes."""
    path.write_bytes(struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
                     + array.astype(np.uint8).tobytes())


def _fake_mnist(root, name="FashionMNIST", n_train=60, n_test=20):
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        _idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)) // (1 + labels[:, None, None]))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def _load(root, name="FashionMNIST", **extra):
    cls = DATASETS.get("torchvision")
    return cls.load(cls.Params(dataset=name, root=str(root), **extra))


def test_a_pre_populated_root_loads_without_the_network(tmp_path, offline):
    _fake_mnist(tmp_path)
    data = _load(tmp_path)
    assert data.spec.in_channels == 1 and data.spec.image_size == (28, 28) and data.spec.num_classes == 10
    assert data.spec.class_names[0] == "T-shirt/top" and len(data.y_test) == 20
    assert len(data.y_train) + len(data.y_val) == 60 and data.x_train.dtype.itemsize == 1
    assert len(_load(tmp_path, train_subset=20).y_train) + len(_load(tmp_path, train_subset=20).y_val) == 20


def test_offline_without_files_names_the_dataset_and_the_folder(tmp_path, offline):
    with pytest.raises(AblateError) as err:
        _load(tmp_path / "empty", name="KMNIST")
    msg = str(err.value)
    assert "'KMNIST'" in msg and "downloading it failed" in msg and str(tmp_path / "empty" / "KMNIST" / "raw") in msg


def test_download_false_says_so_without_trying(tmp_path, offline):
    with pytest.raises(AblateError, match=r"'CIFAR100': not found .* data.download is false") as err:
        _load(tmp_path, name="CIFAR100", download=False)
    assert "cifar-100-python" in str(err.value)


def test_unknown_dataset_suggests_the_closest_at_validation():
    raw = {"name": "tv", "model": {"name": "cnn"}, "data": {"name": "torchvision", "dataset": "FashionMnist"},
           "factors": {"l2": {"lambda": 1e-3}}}
    with pytest.raises(StudyError, match=r"data.dataset: unknown torchvision dataset 'FashionMnist' \(did you mean "
                                         r"'FashionMNIST'\?\)"):
        validate_study(raw)
