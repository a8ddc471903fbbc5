"""Datasets live in memory as tensors; a dataset entry turns typed params into a ``Data`` bundle."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from ablate.errors import AblateError
from ablate.params import StrictModel
from ablate.registry import Registry

if TYPE_CHECKING:  # the declarations import no torch: validation and listings need none
    from torch import Tensor


class DataParams(StrictModel):
    """Fields every dataset accepts; a dataset adds its own by subclassing."""

    name: str
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    batch_size: int = Field(128, ge=1, le=65536)
    split_seed: int = Field(0, ge=0, le=2**32 - 1, description="fixes the train/val split for every cell of the study")


@dataclass(frozen=True)
class DataSpec:
    """What a model builder needs to know about the data."""

    kind: Literal["image", "text"]
    num_classes: int
    in_channels: int = 0  # images
    image_size: tuple[int, int] = (0, 0)  # images (H, W)
    vocab_size: int = 0  # text
    max_len: int = 0  # text
    pad_id: int = 0  # text
    class_names: tuple[str, ...] = ()


@dataclass
class Data:
    """Train/val/test tensors. Images: uint8 NCHW + per-channel mean/std (0-1 scale). Text: int64 ids."""

    spec: DataSpec
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: Tensor | None = None  # (C,) images only
    std: Tensor | None = None


class Dataset:
    """A registered dataset: ``Params`` (subclass of DataParams) and ``load(params) -> Data``."""

    name: ClassVar[str]
    kind: ClassVar[Literal["image", "text"]]
    Params: ClassVar[type[DataParams]] = DataParams
    summary: ClassVar[str] = ""
    image_size: ClassVar[tuple[int, int] | None] = None  # (H, W) where known without loading (validation)
    # shape and sizes known without the files (channels, size, classes, train, test): `ablate plan` probes
    # random tensors of this shape where the data is not on the machine yet
    declared: ClassVar[dict | None] = None

    @classmethod
    def load(cls, params: DataParams) -> Data:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def check(cls, params: DataParams) -> list[tuple[str, str, object]]:
        """Problems (field, rule, value) with the data itself, found at validation, before any store is made
        and whatever the number of workers: a file that is missing, of the wrong kind or malformed. Cheap
        where possible (headers and labels, not every pixel); load() checks again on what it reads."""
        return []

    @classmethod
    def image_size_of(cls, params: DataParams) -> tuple[int, int] | None:
        """(H, W) where known without loading: the class's `image_size`, or what a file's header says."""
        return cls.image_size

    @classmethod
    def revision(cls, params: DataParams) -> Hashable:
        """What a load depends on beside its params (a file's mtime), so a worker's cache.WorkerCache
        loads a rewritten file again; None where the params say it all."""
        return None


MIN_CLASSES = 2  # one class leaves nothing to learn: every cell would score 1.0 and verdicts would mean nothing


def check_classes(where: str, counts: dict) -> None:
    """The one rule every loader applies to the training labels (class -> samples), at validation and at load:
    a classifier needs at least MIN_CLASSES classes with samples. The message gives the count of each."""
    present = {c: n for c, n in counts.items() if n}
    if len(present) >= MIN_CLASSES:
        return
    shown = ", ".join(f"{c!r}: {n}" for c, n in sorted(present.items(), key=lambda kv: str(kv[0]))) or "none"
    kind = "a single class" if len(present) == 1 else "no class"
    raise AblateError(f"{where} has {kind} ({len(present)} class(es) with samples; count per class: {shown}); "
                      f"a classifier needs at least {MIN_CLASSES} classes")


def label_counts(y) -> dict[int, int]:
    """class index -> samples, for a label tensor or array (or any sequence of ints)."""
    from collections import Counter

    return dict(Counter(int(v) for v in (y.tolist() if hasattr(y, "tolist") else y)))


def stand_in(params: DataParams, declared: dict, n: int) -> tuple[Data, tuple[int, int, int]]:
    """Random uint8 images of a dataset's declared shape (n per split), and the split sizes the real data
    would have (train, val, test): `ablate plan` times a study with them where the files are not here yet."""
    import torch

    gen = torch.Generator().manual_seed(0)
    shape = (declared["channels"], *declared["size"])
    x = lambda: torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen)  # noqa: E731
    y = lambda: torch.randint(0, declared["classes"], (n,), generator=gen)  # noqa: E731
    spec = DataSpec(kind="image", num_classes=declared["classes"], in_channels=shape[0], image_size=shape[1:])
    data = Data(spec, x(), y(), x(), y(), x(), y(), torch.full((shape[0],), 0.5), torch.full((shape[0],), 0.25))
    pool = min(declared["train"], getattr(params, "train_subset", None) or declared["train"])
    n_val = round(pool * params.val_fraction)
    return data, (pool - n_val, n_val, declared["test"])


DATASETS: Registry[type[Dataset]] = Registry("dataset")
