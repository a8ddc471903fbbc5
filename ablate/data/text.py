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
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import Field
from torch import Tensor

from ablate.data.base import DATASETS, Data, DataParams, Dataset, DataSpec
from ablate.data.split import balanced_subset, stratified_split
from ablate.errors import AblateError

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
        path = Path(params.path)  # type: ignore[attr-defined]
        if not path.is_file():
            raise AblateError(f"text_csv dataset: file {str(path)!r} does not exist (data.path)")
        return _load_csv(params)

    @classmethod
    def revision(cls, params: DataParams) -> int | None:
        from ablate.data.images import _mtime_ns

        return _mtime_ns(Path(params.path))  # type: ignore[attr-defined]  # a rewritten file is reloaded


def _load_csv(params: TextCsv.Params) -> Data:
    splits = read_text_csv(Path(params.path), params.test_fraction)
    return build_text_data(params, splits, params.train_subset)


def read_text_csv(path: Path, test_fraction: float = 0.2) -> TextSplits:
    """Read and check the CSV; labels (ints or strings) map to 0..K-1 in sorted order."""
    import pandas as pd

    where = f"text_csv dataset: {str(path)!r}"
    try:
        df = pd.read_csv(path, keep_default_na=False, dtype={"text": str})
    except Exception as exc:
        raise AblateError(f"{where}: cannot read it as CSV ({exc})") from exc
    missing = [c for c in ("text", "label") if c not in df.columns]
    if missing:
        raise AblateError(f"{where} lacks column(s) {', '.join(missing)} (needs text, label; optional split; "
                          f"has {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise AblateError(f"{where} has no rows")
    labels, names = _label_ids(df["label"], path)
    split = _split_column(df, where)
    texts = df["text"].astype(str).tolist()

    def part(mask) -> tuple[list[str], Tensor]:
        idx = [i for i, m in enumerate(mask) if m]
        return [texts[i] for i in idx], labels[idx]

    if split is not None and not (split == "train").any():
        raise AblateError(f"{where}: the split column has no 'train' rows")
    pool = part(split == "train") if split is not None else (texts, labels)
    test = part(split == "test") if split is not None and (split == "test").any() else None
    val = part(split == "val") if split is not None and (split == "val").any() else None
    if test is None:
        keep, held = stratified_split(pool[1], test_fraction, TEST_SPLIT_SEED)
        test = ([pool[0][i] for i in held.tolist()], pool[1][held])
        pool = ([pool[0][i] for i in keep.tolist()], pool[1][keep])
    return TextSplits(train=pool, test=test, val=val, class_names=names)


def _label_ids(col, path: Path) -> tuple[Tensor, tuple[str, ...]]:
    import pandas as pd

    if pd.api.types.is_integer_dtype(col):
        values = sorted(set(col.tolist()))
        sidecar = _sidecar_names(path)
        if values and values[0] >= 0 and sidecar and len(sidecar) > values[-1]:
            return torch.tensor(col.to_numpy(), dtype=torch.int64), tuple(sidecar)
    else:
        col = col.astype(str)
        values = sorted(set(col.tolist()))
    index = {v: i for i, v in enumerate(values)}
    return torch.tensor([index[v] for v in col.tolist()], dtype=torch.int64), tuple(str(v) for v in values)


def _sidecar_names(path: Path) -> list[str] | None:
    stem = path.name.removesuffix(".gz").removesuffix(".csv")
    f = path.with_name(f"{stem}.labels.txt")
    return [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()] if f.is_file() else None


def _split_column(df, where: str):
    if "split" not in df.columns:
        return None
    raw = df["split"].astype(str).str.strip().str.lower()
    bad = sorted(set(raw) - set(SPLIT_NAMES))
    if bad:
        raise AblateError(f"{where}: column 'split' holds {bad[:5]}; allowed values are train, dev (or val, "
                          f"validation), test")
    return raw.map(SPLIT_NAMES).to_numpy()


# ---------------------------------------------------------------- ag_news

AG_NEWS_HF = "fancyzhx/ag_news"  # the maintained copy of the original "ag_news" on the Hugging Face hub
AG_NEWS_CLASSES = ("World", "Sports", "Business", "Sci/Tech")


@DATASETS.register()
class AgNews(Dataset):
    name = "ag_news"
    kind = "text"
    summary = "AG News topics (120k train / 7.6k test), fetched once via Hugging Face datasets (extra 'text')"

    class Params(TextParams):
        name: str = "ag_news"
        root: str | None = Field(None, description="data root; default $ABLATE_DATA_DIR or ./data")
        train_subset: int | None = Field(None, ge=2, description="class-balanced subset of the train set")
        download: bool = Field(True, description="fetch into the data root when absent")

    @classmethod
    def load(cls, params: DataParams) -> Data:
        from ablate.data.images import data_root

        csv = data_root(params.root) / "ag_news" / "ag_news.csv.gz"  # type: ignore[attr-defined]
        if not csv.is_file():
            _download_ag_news(csv, params.download)  # type: ignore[attr-defined]
        return _load_ag_news(params, csv)

    @classmethod
    def revision(cls, params: DataParams) -> int | None:
        from ablate.data.images import _mtime_ns, data_root

        return _mtime_ns(data_root(params.root) / "ag_news" / "ag_news.csv.gz")  # type: ignore[attr-defined]


def _load_ag_news(params: AgNews.Params, csv: Path) -> Data:
    return build_text_data(params, read_text_csv(csv), params.train_subset)


def _download_ag_news(csv: Path, download: bool) -> None:
    """Fetch through `datasets` and store one CSV (text, label, split) + class names; later loads need neither."""
    import socket

    from ablate.data.images import DOWNLOAD_TIMEOUT_SECONDS

    help_ = (f"Put a CSV with columns text,label,split (train/test) at {csv.resolve()} (set data.root or "
             f"$ABLATE_DATA_DIR to use another root), or use the 'text_csv' dataset with your own copy")
    if not download:
        raise AblateError(f"ag_news: {csv.resolve()} does not exist and data.download is false. {help_}.")
    try:
        import datasets
    except ImportError:
        raise AblateError(f"ag_news: downloading needs the Hugging Face 'datasets' library, the optional extra "
                          f"'text' (pip install 'ablate[text]'). {help_}.") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        ds = datasets.load_dataset(AG_NEWS_HF, cache_dir=str(csv.parent / "hf"))
        frames = [ds[s].to_pandas().assign(split=s)[["text", "label", "split"]] for s in ("train", "test")]
    except Exception as exc:
        raise AblateError(f"ag_news: not in {csv.parent.resolve()} and downloading '{AG_NEWS_HF}' failed "
                          f"({type(exc).__name__}: {exc}). {help_}.") from exc
    finally:
        socket.setdefaulttimeout(previous)
    import pandas as pd

    csv.parent.mkdir(parents=True, exist_ok=True)
    csv.with_name("ag_news.labels.txt").write_text("\n".join(AG_NEWS_CLASSES) + "\n", encoding="utf-8")
    partial = csv.with_name(f".{csv.name}.{os.getpid()}.partial")  # workers may race: publish atomically
    pd.concat(frames, ignore_index=True).to_csv(partial, index=False, compression="gzip")
    os.replace(partial, csv)
