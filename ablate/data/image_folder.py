"""A folder of image files, one subfolder per class: ``data: {name: image_folder, path: pets, image_size: 32}``.

Two layouts: ``path/<class>/<images>`` (a stratified test split is held out by ``test_fraction``, fixed
seed), or ``path/train/<class>/...`` with ``path/test/<class>/...`` (a ``val/`` beside them joins the train
pool; validation is always drawn from it by ``val_fraction``). Classes are the subfolder names, sorted.

Images are decoded once with PIL, resized to ``image_size`` and stored as a uint8 .npz under the data root,
keyed by a hash of the folder's file list, sizes and modification times (and the decode settings), so an
edited folder is decoded again and an unchanged one never is. Loading then goes through the npz dataset: the
same in-memory fast path as every other image dataset. Everything must fit in memory (no streaming).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from ablate.data.base import DATASETS, Data, DataParams, Dataset, check_classes
from ablate.data.images import data_root
from ablate.data.npz import Npz
from ablate.data.split import stratified_split
from ablate.errors import AblateError

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
TEST_SPLIT_SEED = 0
POOL, TEST, EXTRA_POOL = "train", "test", ("val", "valid", "validation")


class ImageFolderParams(DataParams):
    name: str = "image_folder"
    path: str = Field(description="the folder: <class>/<images>, or train/<class>/... and test/<class>/...")
    image_size: tuple[int, int] = Field((32, 32), description="(height, width) every image is resized to")
    channels: Literal[1, 3] | None = Field(None, description="None: 1 if every image is grayscale, else 3")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="held out when there is no test/ folder")
    train_subset: int | None = Field(None, ge=2, description="class-balanced subset of the train pool")
    root: str | None = Field(None, description="data root for the decoded cache; default $ABLATE_DATA_DIR or ./data")

    @field_validator("image_size", mode="before")
    @classmethod
    def _square(cls, v):
        return (v, v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("image_size")
    @classmethod
    def _sides(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(1 <= s <= 4096 for s in v):
            raise ValueError(f"image sides must be in 1..4096 pixels, got {v}")
        return v


def _where(path: Path) -> str:
    return f"image_folder dataset: {str(path)!r} (data.path)"


def class_files(folder: Path, classes: list[str] | None = None) -> dict[str, list[Path]]:
    """class name -> its image files (sorted); hidden entries skipped."""
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    out = {d.name: sorted(f for f in d.rglob("*") if f.suffix.lower() in SUFFIXES and f.is_file()) for d in subdirs}
    if classes is not None:
        unknown = sorted(set(out) - set(classes))
        if unknown:
            raise AblateError(f"{_where(folder)} has classes {unknown} that the train folder lacks")
    empty = [c for c, files in out.items() if not files]
    if empty:
        raise AblateError(f"{_where(folder)}: class folder(s) {empty} hold no image files ({', '.join(sorted(SUFFIXES))})")
    return out


def layout(path: Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]] | None]:
    """(train pool, test or None); raises AblateError on an empty, single-class or unreadable folder."""
    if not path.is_dir():
        raise AblateError(f"{_where(path)} is not a folder")
    try:
        split = (path / POOL).is_dir() and (path / TEST).is_dir()
        pool = class_files(path / POOL if split else path)
        if split:
            for extra in EXTRA_POOL:
                if (path / extra).is_dir():
                    for c, files in class_files(path / extra, list(pool)).items():
                        pool[c] = pool[c] + files
        test = class_files(path / TEST, list(pool)) if split else None
    except OSError as exc:
        raise AblateError(f"{_where(path)} cannot be read ({exc})") from exc
    if not pool:
        raise AblateError(f"{_where(path)} has no class subfolders with images (expected {path}/<class>/<images>)")
    check_classes(_where(path), {c: len(files) for c, files in pool.items()})
    return pool, test


def fingerprint(params: ImageFolderParams, files: list[Path]) -> str:
    """What the decoded cache depends on: every file's name, size and mtime, and the decode settings."""
    h = hashlib.sha256(repr((params.image_size, params.channels, params.test_fraction)).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(params.path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def decode(files: list[Path], size: tuple[int, int], channels: int | None) -> np.ndarray:
    """(N, H, W, C) uint8: each file opened once, converted and resized with PIL."""
    from PIL import Image

    def opened(f: Path):
        try:
            return Image.open(f)
        except Exception as exc:
            raise AblateError(f"image_folder dataset: cannot read image {str(f)!r} ({type(exc).__name__}: {exc})") \
                from exc

    def mode(f: Path) -> str:
        with opened(f) as im:  # the header only
            return im.mode

    if channels is None:
        channels = 1 if all(mode(f) in GRAY_MODES for f in files) else 3
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(files), size[0], size[1], channels), dtype=np.uint8)
    for i, f in enumerate(files):
        with opened(f) as im:
            try:
                pixels = np.asarray(im.convert(mode).resize((size[1], size[0]), Image.BILINEAR), dtype=np.uint8)
            except Exception as exc:
                raise AblateError(f"image_folder dataset: cannot decode image {str(f)!r} ({exc})") from exc
        out[i] = pixels.reshape(size[0], size[1], channels)
    return out


def build_cache(params: ImageFolderParams, target: Path) -> None:
    """Decode the folder and write the npz dataset's format (x/y train and test, class names), atomically."""
    pool, test = layout(Path(params.path))
    names = sorted(pool)
    files = [f for c in names for f in pool[c]]
    labels = np.array([i for i, c in enumerate(names) for _ in pool[c]], dtype=np.int64)
    x = decode(files + ([f for c in names for f in test.get(c, [])] if test else []), params.image_size,
               params.channels)
    if test is None:
        import torch

        keep, held = (t.numpy() for t in stratified_split(torch.from_numpy(labels), params.test_fraction,
                                                          TEST_SPLIT_SEED))
        arrays = {"x_train": x[keep], "y_train": labels[keep], "x_test": x[held], "y_test": labels[held]}
    else:
        y_test = np.array([i for i, c in enumerate(names) for _ in test.get(c, [])], dtype=np.int64)
        arrays = {"x_train": x[: len(files)], "y_train": labels, "x_test": x[len(files):], "y_test": y_test}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}.partial.npz")  # workers may race: publish atomically
    np.savez(partial, class_names=np.array(names), **arrays)
    os.replace(partial, target)


def _fingerprint(params: ImageFolderParams) -> str:
    pool, test = layout(Path(params.path))
    return fingerprint(params, [f for group in (pool, test or {}) for c in sorted(group) for f in group[c]])


@DATASETS.register()
class ImageFolder(Dataset):
    name = "image_folder"
    kind = "image"
    Params = ImageFolderParams
    summary = "a folder of images, one subfolder per class; decoded once (PIL), resized, cached as uint8"

    @classmethod
    def check(cls, params: DataParams) -> list[tuple[str, str, object]]:
        try:
            layout(Path(params.path))  # type: ignore[attr-defined]
        except AblateError as e:
            return [("data.path", str(e), params.path)]  # type: ignore[attr-defined]
        return []

    @classmethod
    def image_size_of(cls, params: DataParams) -> tuple[int, int] | None:
        return params.image_size  # type: ignore[attr-defined]

    @classmethod
    def revision(cls, params: DataParams) -> str:
        """The folder's fingerprint, so a worker's cache loads an edited folder again."""
        return _fingerprint(params)  # type: ignore[arg-type]

    @classmethod
    def load(cls, params: DataParams) -> Data:
        p: ImageFolderParams = params  # type: ignore[assignment]
        cache = data_root(p.root) / "image_folder" / f"{Path(p.path).resolve().name}-{_fingerprint(p)}.npz"
        if not cache.is_file():
            build_cache(p, cache)
        fields = {k: getattr(p, k) for k in ("val_fraction", "batch_size", "split_seed", "train_subset")}
        return Npz.load(Npz.Params(name="npz", path=str(cache), **fields))
