"""AG News topics (120k train / 7.6k test): fetched once through Hugging Face `datasets` into the data root
as one CSV (text, label, split) plus class names; later loads need neither the network nor `datasets`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from ablate.data.base import DATASETS, Data, DataParams, Dataset
from ablate.data.text import TextParams, build_text_data, check_text_csv, read_text_csv
from ablate.errors import AblateError

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
    def check(cls, params: DataParams) -> list[tuple[str, str, object]]:
        from ablate.data.images import data_root

        csv = data_root(params.root) / "ag_news" / "ag_news.csv.gz"  # type: ignore[attr-defined]
        return check_text_csv(csv, params, "data.root") if os.path.lexists(csv) else []  # absent: downloaded

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
