"""Text datasets, held in memory as int64 token ids padded to ``max_len``.

Tokenizing is deliberately simple and deterministic: lower-case (optional), a regex split into words (with
inner apostrophes) and single punctuation marks. The vocabulary is built on the *train* split only (val and
test words it never saw become ``<unk>``), most frequent first, ties broken alphabetically, so the same
data always gives the same ids. Ids 0 and 1 are always ``<pad>`` and ``<unk>``.

A worker keeps each load in its cache.WorkerCache (as for images); the tensors are shared between cells
and must be treated as read-only.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from ablate.data.base import DATASETS, Data, DataParams, Dataset, DataSpec
from ablate.data.files import csv_rows
from ablate.data.split import balanced_subset, check_sizes, stratified_split
from ablate.errors import AblateError

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import Tensor

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TOKEN_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
TEST_SPLIT_SEED = 0  # a test split drawn from the data is fixed across studies, like an official one


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    return TOKEN_RE.findall(text.lower() if lowercase else text)


@dataclass(frozen=True)
class Vocab:
    itos: tuple[str, ...]

    @functools.cached_property
    def stoi(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_vocab: int | None = None) -> Vocab:
        """Words seen at least ``min_freq`` times, most frequent first; ``max_vocab`` counts the two specials."""
        counts = Counter(tok for toks in token_lists for tok in toks)
        counts.pop(PAD, None), counts.pop(UNK, None)
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_vocab is not None:
            words = words[: max(0, max_vocab - 2)]
        return cls((PAD, UNK, *words))

    def encode(self, token_lists: Sequence[Sequence[str]], max_len: int) -> Tensor:
        """(N, max_len) int64: ids left-aligned, truncated at max_len, padded with PAD_ID."""
        import torch

        out = torch.full((len(token_lists), max_len), PAD_ID, dtype=torch.int64)
        stoi = self.stoi
        for row, toks in enumerate(token_lists):
            ids = [stoi.get(t, UNK_ID) for t in toks[:max_len]]
            if ids:
                out[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out

    def decode(self, ids: Tensor) -> list[str]:
        """One row of ids back to tokens, pads dropped."""
        return [self.itos[i] for i in ids.tolist() if i != PAD_ID]


class TextParams(DataParams):
    max_len: int = Field(64, ge=1, le=4096, description="tokens kept per text (longer ones are truncated)")
    min_freq: int = Field(1, ge=1, le=1_000_000, description="train-split count a word needs to get an id")
    max_vocab: int = Field(30_000, ge=3, le=10_000_000, description="vocabulary size cap, <pad> and <unk> included")
    lowercase: bool = True


@dataclass(frozen=True)
class TextSplits:
    """Raw texts and integer labels; ``val`` None = draw it from train with val_fraction/split_seed."""

    train: tuple[list[str], Tensor]
    test: tuple[list[str], Tensor]
    val: tuple[list[str], Tensor] | None = None
    class_names: tuple[str, ...] = ()


def build_text_data(params: TextParams, splits: TextSplits, train_subset: int | None = None) -> Data:
    """Subset, split, build the vocabulary on train only, and encode everything to padded id tensors."""
    import torch

    texts, y = splits.train
    if train_subset is not None:
        keep = balanced_subset(y, train_subset, params.split_seed).tolist()
        texts, y = [texts[i] for i in keep], y[keep]
    if splits.val is None:
        tr, va = stratified_split(y, params.val_fraction, params.split_seed)
        (x_tr, y_tr), (x_va, y_va) = ([texts[i] for i in tr.tolist()], y[tr]), ([texts[i] for i in va.tolist()], y[va])
    else:
        (x_tr, y_tr), (x_va, y_va) = (texts, y), splits.val
    x_te, y_te = splits.test
    check_sizes("text dataset", y, params.val_fraction, params.split_seed, len(y_te), None,
                None if splits.val is None else len(y_va))
    toks = {k: [tokenize(t, params.lowercase) for t in v] for k, v in (("tr", x_tr), ("va", x_va), ("te", x_te))}
    vocab = Vocab.build(toks["tr"], params.min_freq, params.max_vocab)
    all_y = torch.cat([y_tr, y_va, y_te])
    num_classes = max(int(all_y.max()) + 1 if all_y.numel() else 0, len(splits.class_names))
    spec = DataSpec(kind="text", num_classes=num_classes, vocab_size=len(vocab), max_len=params.max_len,
                    pad_id=PAD_ID, class_names=tuple(splits.class_names))
    enc = {k: vocab.encode(v, params.max_len) for k, v in toks.items()}
    return Data(spec, enc["tr"], y_tr.long().contiguous(), enc["va"], y_va.long().contiguous(),
                enc["te"], y_te.long().contiguous())


# ---------------------------------------------------------------- text_csv

SPLIT_NAMES = {"train": "train", "dev": "val", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@DATASETS.register()
class TextCsv(Dataset):
    name = "text_csv"
    kind = "text"
    summary = "any CSV (.csv or .csv.gz) with text and label columns, optional split (train/dev/test)"

    class Params(TextParams):
        name: str = "text_csv"
        path: str = Field(description="the CSV file; a '<stem>.labels.txt' beside it names the classes")
        test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="held out when there are no test rows")
        train_subset: int | None = Field(None, ge=2, description="class-balanced subset of the train rows")

    @classmethod
    def load(cls, params: DataParams) -> Data:
        return _load_csv(params)

    @classmethod
    def check(cls, params: DataParams) -> list[tuple[str, str, object]]:
        return check_text_csv(Path(params.path), params, "data.path")  # type: ignore[attr-defined]

    @classmethod
    def revision(cls, params: DataParams) -> int | None:
        from ablate.data.images import _mtime_ns

        return _mtime_ns(Path(params.path))  # type: ignore[attr-defined]  # a rewritten file is reloaded


def _load_csv(params: TextCsv.Params) -> Data:
    splits = read_text_csv(Path(params.path), params.test_fraction)
    return build_text_data(params, splits, params.train_subset)


def check_text_csv(path: Path, params: TextParams, field: str) -> list[tuple[str, str, object]]:
    """The whole file parsed and its splits sized (no tokenizing): a malformed CSV fails validation."""
    try:
        splits = read_text_csv(path, getattr(params, "test_fraction", 0.2))
        check_sizes(f"text_csv dataset: {str(path)!r}", splits.train[1], params.val_fraction, params.split_seed,
                    len(splits.test[1]), getattr(params, "train_subset", None),
                    None if splits.val is None else len(splits.val[1]))
    except AblateError as e:
        return [(field, str(e), str(path))]
    return []


def read_text_csv(path: Path, test_fraction: float = 0.2) -> TextSplits:
    """Read and check the CSV strictly (files.csv_rows); labels (ints or strings) map to 0..K-1, sorted."""
    where = f"text_csv dataset: {str(path)!r}"
    names, rows = csv_rows(path, "text_csv dataset")
    missing = [c for c in ("text", "label") if c not in names]
    if missing:
        raise AblateError(f"{where} lacks column(s) {', '.join(missing)} (needs text, label; optional split; "
                          f"has {', '.join(names)})")
    if not rows:
        raise AblateError(f"{where} has no rows")
    col = {n: i for i, n in enumerate(names)}
    texts = [r[col["text"]] for _, r in rows]
    labels, classes = _label_ids([r[col["label"]] for _, r in rows], path)
    split = _split_column([r[col["split"]] for _, r in rows], where) if "split" in col else None

    def part(name: str | None) -> tuple[list[str], Tensor]:
        idx = [i for i in range(len(rows)) if split is None or split[i] == name]
        return [texts[i] for i in idx], labels[idx]

    if split is not None and "train" not in split:
        raise AblateError(f"{where}: the split column has no 'train' rows")
    pool = part("train" if split is not None else None)
    test = part("test") if split is not None and "test" in split else None
    val = part("val") if split is not None and "val" in split else None
    if test is None:
        keep, held = stratified_split(pool[1], test_fraction, TEST_SPLIT_SEED)
        test = ([pool[0][i] for i in held.tolist()], pool[1][held])
        pool = ([pool[0][i] for i in keep.tolist()], pool[1][keep])
    return TextSplits(train=pool, test=test, val=val, class_names=classes)


INT_LABEL = re.compile(r"\s*[-+]?\d{1,18}\s*")


def _label_ids(col: list[str], path: Path) -> tuple[Tensor, tuple[str, ...]]:
    """Integer labels keep their values when a '<stem>.labels.txt' names every class; otherwise (strings,
    or integers without names) the distinct values, sorted, become 0..K-1."""
    import torch

    if all(INT_LABEL.fullmatch(v) for v in col):
        ints = [int(v) for v in col]
        values = sorted(set(ints))
        sidecar = _sidecar_names(path)
        if values[0] >= 0 and sidecar and len(sidecar) > values[-1]:
            return torch.tensor(ints, dtype=torch.int64), tuple(sidecar)
        index = {v: i for i, v in enumerate(values)}
        return torch.tensor([index[v] for v in ints], dtype=torch.int64), tuple(str(v) for v in values)
    values = sorted(set(col))
    index = {v: i for i, v in enumerate(values)}
    return torch.tensor([index[v] for v in col], dtype=torch.int64), tuple(values)


def _sidecar_names(path: Path) -> list[str] | None:
    stem = path.name.removesuffix(".gz").removesuffix(".csv")
    f = path.with_name(f"{stem}.labels.txt")
    return [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()] if f.is_file() else None


def _split_column(col: list[str], where: str) -> list[str]:
    raw = [v.strip().lower() for v in col]
    bad = sorted(set(raw) - set(SPLIT_NAMES))
    if bad:
        raise AblateError(f"{where}: column 'split' holds {bad[:5]}; allowed values are train, dev (or val, "
                          f"validation), test")
    return [SPLIT_NAMES[v] for v in raw]
