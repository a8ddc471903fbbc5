"""image_folder: a tiny folder of PNGs decoded once into the npz cache, keyed by the folder's content; both
layouts; empty, single-class and unreadable folders are errors naming the path; a cell trains on it."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image

from ablate.data import DATASETS
from ablate.errors import AblateError
from ablate.train import fit
from ablate.validate import validate_study


def _write(folder, classes=("cat", "dog", "owl"), per_class=10, size=(12, 10), mode="RGB"):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[0], size[1], 3) if mode == "RGB" else size
            pixels = np.clip(rng.normal(60 * k + 40, 20, shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode).save(folder / name / f"{i}.png")
    return folder


def _load(tmp_path, path, **extra):
    cls = DATASETS.get("image_folder")
    return cls.load(cls.Params(path=str(path), root=str(tmp_path / "root"), image_size=8, **extra))


def test_decodes_resizes_and_splits_a_class_folder(tmp_path):
    data = _load(tmp_path, _write(tmp_path / "pets"))
    assert data.spec.class_names == ("cat", "dog", "owl") and data.spec.in_channels == 3
    assert data.spec.image_size == (8, 8) and data.x_train.dtype.is_floating_point is False
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 30 and len(data.y_test) == 6
    assert float(data.x_train[data.y_train == 2].float().mean()) > float(data.x_train[data.y_train == 0].float().mean())
    cached = list((tmp_path / "root" / "image_folder").glob("pets-*.npz"))
    assert len(cached) == 1


def test_the_cache_is_reused_until_the_folder_changes(tmp_path):
    folder = _write(tmp_path / "pets")
    _load(tmp_path, folder)
    (cache,) = (tmp_path / "root" / "image_folder").glob("*.npz")
    stamp = cache.stat().st_mtime_ns
    _load(tmp_path, folder)
    assert cache.stat().st_mtime_ns == stamp  # not decoded again
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "owl" / "new.png")
    data = _load(tmp_path, folder)
    assert len(list((tmp_path / "root" / "image_folder").glob("*.npz"))) == 2
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 31


def test_a_workers_cache_loads_an_edited_folder_again(tmp_path):
    from ablate.cache import WorkerCache

    folder, cache = _write(tmp_path / "pets"), WorkerCache()
    params = DATASETS.get("image_folder").Params(path=str(folder), root=str(tmp_path / "root"), image_size=8)
    first = cache.dataset(params)
    assert cache.dataset(params) is first
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "dog" / "new.png")
    assert cache.dataset(params) is not first


def test_grayscale_images_give_one_channel_and_train_test_folders_are_kept(tmp_path):
    folder = tmp_path / "digits"
    _write(folder / "train", ("a", "b"), 8, mode="L")
    _write(folder / "test", ("a", "b"), 3, mode="L")
    data = _load(tmp_path, folder)
    assert data.spec.in_channels == 1 and len(data.y_test) == 6 and len(data.y_train) + len(data.y_val) == 16
    assert _load(tmp_path, folder, channels=3).spec.in_channels == 3


@pytest.mark.parametrize("make,rule", [
    (lambda d: d.mkdir(), "no class subfolders"),
    (lambda d: _write(d, ("only",)), "single class"),
    (lambda d: (_write(d, ("a", "b")), (d / "b" / "9.png").write_bytes(b"not a png")), "cannot read image"),
    (lambda d: (_write(d, ("a", "b")), (d / "c").mkdir()), "hold no image files"),
    (lambda d: None, "is not a folder"),
], ids=["empty", "single-class", "unreadable", "empty-class", "missing"])
def test_bad_folders_are_errors_naming_the_path(tmp_path, make, rule):
    folder = tmp_path / "bad"
    make(folder)
    with pytest.raises(AblateError, match=rule) as err:
        _load(tmp_path, folder)
    assert str(folder) in str(err.value)


def test_a_cell_trains_on_an_image_folder(tmp_path):
    folder = _write(tmp_path / "pets", per_class=12)
    raw = {"name": "folder", "model": {"name": "cnn", "width": 2},
           "data": {"name": "image_folder", "path": str(folder), "root": str(tmp_path / "root"), "image_size": [8, 8],
                    "batch_size": 16},
           "train": {"epochs": 2}, "factors": {"cutout": {"size": 3}}, "seeds": 1}
    for cell in validate_study(raw).cells():
        assert math.isfinite(fit(cell).final["test_loss"])
    assert not [f for f in os.listdir(tmp_path / "root" / "image_folder") if "partial" in f]
