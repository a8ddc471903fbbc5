"""Image datasets: shapes, dtypes, stratified seeded splits, caching, and clear errors for bad inputs."""

import time

import numpy as np
import pytest
import torch

from ablate.cache import WorkerCache
from ablate.data import DATASETS
from ablate.data.split import balanced_subset, stratified_split
from ablate.errors import AblateError
from ablate.testing import check_data

CACHE = WorkerCache()  # what a worker process holds: one load per params


def _load(name, **params):
    cls = DATASETS.get(name)
    return CACHE.dataset(cls.Params(name=name, **params))


def _check_image_data(d):
    """The dataset contract's checks of a loaded bundle (ablate.testing), and image data's own kind."""
    check_data(d, "image data", kind="image")


def test_digits_shapes_splits_and_stratification():
    d = _load("digits", val_fraction=0.1)
    _check_image_data(d)
    assert d.spec.kind == "image" and d.spec.num_classes == 10 and d.spec.in_channels == 1
    assert d.spec.image_size == (8, 8)
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 1797
    assert abs(len(d.y_test) - 0.2 * 1797) <= 10
    assert int(d.x_train.max()) == 255  # 0..16 rescaled to the full byte range
    for y in (d.y_train, d.y_val, d.y_test):
        counts = torch.bincount(y, minlength=10).float()
        assert counts.max() - counts.min() <= max(2.0, 0.05 * counts.mean())


def test_digits_read_without_sklearn_equal_load_digits():
    from sklearn.datasets import load_digits

    from ablate.data.images import digits_arrays

    images, target = digits_arrays()
    bunch = load_digits()
    assert np.array_equal(images, bunch.images) and np.array_equal(target, bunch.target)


def test_digits_cached_and_seeded():
    a = _load("digits", split_seed=3)
    assert _load("digits", split_seed=3) is a  # one load per worker for the same params
    b = _load("digits", split_seed=4)
    assert torch.equal(a.x_test, b.x_test)  # the test split does not move with split_seed
    assert not torch.equal(a.y_val, b.y_val) or not torch.equal(a.x_val, b.x_val)


def test_stratified_split_is_deterministic_and_disjoint():
    y = torch.arange(100) % 4
    keep, held = stratified_split(y, 0.25, seed=1)
    keep2, held2 = stratified_split(y, 0.25, seed=1)
    assert torch.equal(keep, keep2) and torch.equal(held, held2)
    assert len(set(keep.tolist()) & set(held.tolist())) == 0 and len(keep) + len(held) == 100
    assert torch.bincount(y[held]).tolist() == [6, 6, 6, 6] or torch.bincount(y[held]).tolist() == [7] * 4
    assert not torch.equal(held, stratified_split(y, 0.25, seed=2)[1])


def test_balanced_subset_evens_out_classes():
    y = torch.tensor([0] * 50 + [1] * 50 + [2] * 3)
    idx = balanced_subset(y, 30, seed=0)
    assert len(idx) == 30 and len(set(idx.tolist())) == 30
    assert torch.bincount(y[idx]).tolist() == [14, 13, 3]  # class 2 gives all it has; the rest is shared
    assert torch.equal(idx, balanced_subset(y, 30, seed=0))


def _write_npz(path, gray=False, **overrides):
    rng = np.random.default_rng(0)
    shape = (40, 6, 5) if gray else (40, 6, 5, 3)
    arrays = dict(
        x_train=rng.integers(0, 256, shape, dtype=np.uint8),
        y_train=np.arange(40) % 4,
        x_test=rng.integers(0, 256, (12, *shape[1:]), dtype=np.uint8),
        y_test=np.arange(12) % 4,
        class_names=np.array(["a", "b", "c", "d"]),
    )
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


@pytest.mark.parametrize("gray", [False, True])
def test_npz_loads_nhwc_and_grayscale(tmp_path, gray):
    path = _write_npz(tmp_path / "d.npz", gray=gray)
    d = _load("npz", path=path, val_fraction=0.3)
    _check_image_data(d)
    assert d.spec.in_channels == (1 if gray else 3) and d.spec.image_size == (6, 5)
    assert d.spec.class_names == ("a", "b", "c", "d") and d.spec.num_classes == 4
    assert len(d.y_train) == 28 and len(d.y_val) == 12 and len(d.y_test) == 12
    raw = np.load(path)["x_test"]
    expected = torch.from_numpy(raw if not gray else raw[..., None]).permute(0, 3, 1, 2)
    assert torch.equal(d.x_test, expected)  # NHWC -> NCHW keeps every pixel in place


def test_npz_train_subset_is_class_balanced(tmp_path):
    path = _write_npz(tmp_path / "d.npz")
    d = _load("npz", path=path, train_subset=20, val_fraction=0.25)
    assert len(d.y_train) + len(d.y_val) == 20
    assert torch.bincount(torch.cat([d.y_train, d.y_val])).tolist() == [5, 5, 5, 5]


def test_npz_missing_file_names_it(tmp_path):
    with pytest.raises(AblateError, match="nope.npz"):
        _load("npz", path=str(tmp_path / "nope.npz"))


def test_npz_missing_key_names_file_and_key(tmp_path):
    path = _write_npz(tmp_path / "bad.npz", y_test=None)
    with pytest.raises(AblateError, match=r"bad\.npz.*y_test"):
        _load("npz", path=path)


def test_npz_bad_pixels_and_layout(tmp_path):
    floats = _write_npz(tmp_path / "f.npz", x_train=np.zeros((40, 6, 5, 3), np.float32))
    with pytest.raises(AblateError, match="x_train.*uint8"):
        _load("npz", path=floats)
    nchw = _write_npz(tmp_path / "c.npz", x_train=np.zeros((40, 3, 6, 5), np.uint8))
    with pytest.raises(AblateError, match="NHWC"):
        _load("npz", path=nchw)


def test_npz_requires_path():
    with pytest.raises(Exception, match="path"):
        DATASETS.get("npz").Params(name="npz")


def test_cifar10_offline_fails_fast_with_help(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    # a closed local port: the real download path fails as offline, and a networked CI never fetches 170 MB
    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    start = time.perf_counter()
    with pytest.raises(AblateError) as info:
        _load("cifar10", root=str(tmp_path / "empty"))
    message = str(info.value)
    assert "cifar-10-batches-py" in message and "npz" in message and str(tmp_path) in message
    assert time.perf_counter() - start < 60


def test_cifar10_root_from_env(monkeypatch, tmp_path):
    from ablate.data.images import data_root

    monkeypatch.setenv("ABLATE_DATA_DIR", str(tmp_path))
    assert data_root(None) == tmp_path
    assert str(data_root("elsewhere")) == "elsewhere"


def _check(path):
    cls = DATASETS.get("npz")
    return " ".join(rule for _, rule, _ in cls.check(cls.Params(name="npz", path=path)))


def test_an_npz_with_one_class_is_refused_at_validation_with_the_count_of_each_class(tmp_path):
    """Before: it passed validation and every cell reported test_acc 1.0 (nothing to learn)."""
    path = _write_npz(tmp_path / "one.npz", y_train=np.full(40, 3), y_test=np.full(12, 3))
    assert "has a single class (1 class(es) with samples; count per class: 3: 40)" in _check(path)
    assert "at least 2 classes" in _check(path)
    with pytest.raises(AblateError, match="single class"):
        _load("npz", path=path)


@pytest.mark.parametrize("key,x,shown", [
    ("x_train", np.full((40, 6, 5, 3), 1000, np.int16), "values 1000..1000"),
    ("x_test", np.full((12, 6, 5, 3), -5, np.int64), "values -5..-5"),
])
def test_npz_pixels_out_of_range_are_refused_at_validation(tmp_path, key, x, shown):
    path = _write_npz(tmp_path / "r.npz", **{key: x})
    problems = _check(path)
    assert f"key '{key}' must hold uint8 pixels 0..255" in problems and shown in problems


def test_a_study_on_one_class_data_exits_2_before_any_store(tiny_raw, write_study, workdir, capsys):
    from ablate.cli import main

    path = _write_npz(workdir.parent / "one.npz", y_train=np.zeros(40, int), y_test=np.zeros(12, int))
    tiny_raw["data"] = {"name": "npz", "path": path, "val_fraction": 0.2}
    assert main(["run", str(write_study(tiny_raw)), "--quiet"]) == 2
    assert "single class" in capsys.readouterr().err and list(workdir.iterdir()) == []
