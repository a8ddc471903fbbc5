"""A prepared .npz of uint8 images and integer labels: ``data: {name: npz, path: data/mine.npz}``.

Checked before it is trusted: the path must be a regular readable file that is a zip archive (what np.savez
writes); each array's header (dtype, shape) is read without loading the pixels, so `ablate validate` checks
layout, sample counts and label ranges in milliseconds; what the entries declare (zip sizes, array shapes)
must fit the data budget (bounded.py) before anything is decompressed; object arrays (pickles) are refused,
never loaded.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from ablate.bounded import DATA_BYTES, check_within, limit, over
from ablate.data.base import DATASETS, Data, DataParams, Dataset
from ablate.data.files import ZIP_MAGIC, regular_file
from ablate.data.images import _build, _mtime_ns, _nhwc_to_nchw
from ablate.data.split import check_sizes
from ablate.errors import AblateError

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CLASSES = 100_000  # a label is a class index: the model gets one output per class up to the largest


class NpzParams(DataParams):
    name: str = "npz"
    path: str = Field(description="the .npz file")
    train_subset: int | None = Field(None, ge=2, description="class-balanced subset of x_train")


@DATASETS.register()
class Npz(Dataset):
    name = "npz"
    kind = "image"
    Params = NpzParams
    summary = "any .npz with x_train, y_train, x_test, y_test (uint8 NHWC or NHW images, integer labels)"

    @classmethod
    def load(cls, params: DataParams) -> Data:
        return _load_npz(params)  # type: ignore[arg-type]

    @classmethod
    def check(cls, params: DataParams) -> list[tuple[str, str, object]]:
        p: NpzParams = params  # type: ignore[assignment]
        try:
            heads = headers(p.path)
            with np.load(p.path, allow_pickle=False) as archive:
                y_train, y_test = (labels(p.path, k, archive[k], heads[x][0][0])
                                   for k, x in (("y_train", "x_train"), ("y_test", "x_test")))
                for key in ("x_train", "x_test"):  # uint8 holds 0..255 by its type; any other dtype is read
                    if heads[key][1] != np.uint8:
                        _pixel_range(p.path, key, archive[key])
            check_sizes(_where(p.path), y_train, p.val_fraction, p.split_seed, len(y_test), p.train_subset)
        except AblateError as e:
            return [("data.path", str(e), p.path)]
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            return [("data.path", f"{_where(p.path)}: cannot read it ({e})", p.path)]
        return []

    @classmethod
    def image_size_of(cls, params: DataParams) -> tuple[int, int] | None:
        try:
            shape = headers(params.path)["x_train"][0]  # type: ignore[attr-defined]
        except (AblateError, OSError, ValueError, zipfile.BadZipFile):
            return None  # check() says what is wrong
        return int(shape[1]), int(shape[2])

    @classmethod
    def revision(cls, params: DataParams) -> int | None:
        return _mtime_ns(Path(params.path))  # type: ignore[attr-defined]  # a rewritten file is reloaded


def _where(path: str) -> str:
    return f"npz dataset: {path!r}"


def headers(path: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's (shape, dtype), read from the archive's .npy headers only; every rule that a header
    can decide is checked here."""
    regular_file(Path(path), "npz dataset", ZIP_MAGIC, "an .npz archive (a zip, as np.savez writes)")
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            check_within(_where(path), "the archive's declared decompressed size",
                         sum(i.file_size for i in z.infolist()), DATA_BYTES, "bytes")  # a zip bomb
            for member in z.namelist():
                if member.endswith(".npy"):
                    with z.open(member) as f:
                        out[member[:-4]] = _header(f)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as e:
        raise AblateError(f"{_where(path)}: not a readable .npz archive ({e})") from None
    sizes = {key: math.prod(shape) * dtype.itemsize for key, (shape, dtype) in out.items()}
    if sizes and sum(sizes.values()) > limit(DATA_BYTES):  # what loading would allocate, from the headers alone
        key = max(sizes, key=sizes.__getitem__)
        raise over(_where(path), f"what its arrays' headers declare (largest: {key!r}, shape {out[key][0]}, "
                   f"{out[key][1]})", sum(sizes.values()), DATA_BYTES, "bytes")
    missing = [k for k in NPZ_KEYS if k not in out]
    if missing:
        raise AblateError(f"{_where(path)} lacks key(s) {', '.join(missing)} (needs {', '.join(NPZ_KEYS)}; has "
                          f"{', '.join(out) or 'none'})")
    for key, (_shape, dtype) in out.items():
        if dtype.hasobject:
            raise AblateError(f"{_where(path)} key {key!r} is an object array (a pickle, never loaded); store "
                              f"numbers, or names as a fixed-width string array (np.array(names, dtype=str))")
    for key in ("x_train", "x_test"):
        _image_header(path, key, *out[key])
    if out["x_train"][0][1:] != out["x_test"][0][1:]:
        raise AblateError(f"{_where(path)}: x_train and x_test image shapes differ ({out['x_train'][0][1:]} vs "
                          f"{out['x_test'][0][1:]}, as H,W[,C])")
    return out


def _header(f) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, _, dtype = read(f)
    return tuple(int(s) for s in shape), dtype


def _image_header(path: str, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) not in (3, 4):
        raise AblateError(f"{_where(path)} key {key!r} must be NHWC or NHW, got shape {shape}")
    if len(shape) == 4 and shape[-1] > 4 and shape[1] <= 4:
        raise AblateError(f"{_where(path)} key {key!r} looks channels-first {shape}; store it as NHWC "
                          f"(x.transpose(0, 2, 3, 1))")
    if dtype.kind not in "ui":
        raise AblateError(f"{_where(path)} key {key!r} must hold uint8 pixels 0..255, got dtype {dtype}")
    if shape[0] < 1 or min(shape[1:]) < 1:
        raise AblateError(f"{_where(path)} key {key!r} holds no image (shape {shape})")


def labels(path: str, key: str, y: np.ndarray, n: int) -> Tensor:
    """Class indices 0..K-1 (K <= MAX_CLASSES), one per image, as int64."""
    import torch

    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != n or y.dtype.kind not in "ui":
        raise AblateError(f"{_where(path)} key {key!r} must be {n} integer labels, got dtype {y.dtype} "
                          f"shape {y.shape}")
    if y.size and int(y.min()) < 0:
        raise AblateError(f"{_where(path)} key {key!r} has negative labels (min {y.min()})")
    if y.size and int(y.max()) >= MAX_CLASSES:
        raise AblateError(f"{_where(path)} key {key!r} holds label {int(y.max())}: labels are class indices "
                          f"0..K-1 with K at most {MAX_CLASSES}; map the values to 0..K-1 first")
    return torch.from_numpy(y.astype(np.int64))


def _load_npz(params: NpzParams) -> Data:
    path = params.path
    heads = headers(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in NPZ_KEYS}
            names = tuple(str(n) for n in archive["class_names"]) if "class_names" in heads else ()
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise AblateError(f"{_where(path)}: cannot read it as an .npz archive ({exc})") from exc
    x_train, x_test = (_images(path, k, arrays[k]) for k in ("x_train", "x_test"))
    y_train, y_test = (labels(path, k, arrays[k], len(arrays[x]))
                       for k, x in (("y_train", "x_train"), ("y_test", "x_test")))
    check_sizes(_where(path), y_train, params.val_fraction, params.split_seed, len(y_test), params.train_subset)
    return _build(params, x_train, y_train, x_test, y_test, names, params.train_subset)


def _pixel_range(path: str, key: str, x: np.ndarray) -> None:
    """The range rule, at validation and at load: pixels are 0..255 whatever integer dtype holds them."""
    if x.size and (int(x.min()) < 0 or int(x.max()) > 255):
        raise AblateError(f"{_where(path)} key {key!r} must hold uint8 pixels 0..255, got dtype {x.dtype} "
                          f"with values {x.min()}..{x.max()}")


def _images(path: str, key: str, x: np.ndarray) -> Tensor:
    if x.dtype != np.uint8:
        _pixel_range(path, key, x)
        x = x.astype(np.uint8)
    return _nhwc_to_nchw(x)
