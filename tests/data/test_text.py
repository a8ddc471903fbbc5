"""Text data: tokenizer and vocabulary (train-only, deterministic), CSV splits, the synthetic rule, ag_news offline."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ablate.cache import WorkerCache
from ablate.data import DATASETS
from ablate.data.synthetic_text import NEGATIVE, NEGATORS, POSITIVE, generate, synthetic_splits
from ablate.data.text import PAD_ID, UNK, UNK_ID, Vocab, read_text_csv, tokenize
from ablate.errors import AblateError

CACHE = WorkerCache()  # what a worker process holds: one load per params


def _load(name, **params):
    cls = DATASETS.get(name)
    return CACHE.dataset(cls.Params(name=name, **params))


def _csv(tmp_path, rows, name="d.csv.gz", **cols):
    path = tmp_path / name
    pd.DataFrame(rows, **cols).to_csv(path, index=False)
    return path


def test_tokenize_lowercases_and_splits_words_and_punctuation():
    assert tokenize("Don't STOP, it's great!") == ["don't", "stop", ",", "it's", "great", "!"]
    assert tokenize("Don't", lowercase=False) == ["Don't"]
    assert tokenize("   ") == []


def test_vocab_round_trip_unknowns_and_deterministic_order():
    train = [tokenize(t) for t in ["the cat sat", "the dog sat", "a cat"]]
    vocab = Vocab.build(train)
    assert vocab.itos[:2] == ("<pad>", UNK) and vocab.itos[2:] == ("cat", "sat", "the", "a", "dog")  # count, then a-z
    ids = vocab.encode([tokenize("the dog sat"), tokenize("the zebra sat !")], max_len=5)
    assert ids.dtype == torch.int64 and ids.shape == (2, 5)
    assert vocab.decode(ids[0]) == ["the", "dog", "sat"] and ids[0, 3:].tolist() == [PAD_ID, PAD_ID]
    assert vocab.decode(ids[1]) == ["the", UNK, "sat", UNK] and ids[1, 1] == UNK_ID
    assert vocab.encode([tokenize("the the the the the the")], max_len=3).tolist() == [[4, 4, 4]]  # truncated
    assert Vocab.build(train, min_freq=2).itos[2:] == ("cat", "sat", "the")
    assert len(Vocab.build(train, max_vocab=4)) == 4


def test_text_csv_with_split_column_builds_vocab_on_train_only(tmp_path):
    rows = {"text": ["good film", "bad film", "great plot", "awful plot", "zebra good", "unseenword"],
            "label": ["pos", "neg", "pos", "neg", "pos", "neg"],
            "split": ["train", "train", "train", "train", "dev", "test"]}
    d = _load("text_csv", path=str(_csv(tmp_path, rows)), max_len=4)
    assert d.spec.kind == "text" and d.spec.class_names == ("neg", "pos") and d.spec.num_classes == 2
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (4, 1, 1)
    assert d.y_train.tolist() == [1, 0, 1, 0] and d.x_train.shape == (4, 4) and d.x_train.dtype == torch.int64
    assert d.x_val[0, 0] == UNK_ID and d.x_test[0, 0] == UNK_ID  # dev/test words unseen in train are <unk>
    assert d.spec.vocab_size == 2 + 6  # good film bad great plot awful


def test_text_csv_without_split_is_stratified_seeded_and_cached(tmp_path):
    rows = {"text": [f"w{i % 10} v{i % 7}" for i in range(200)], "label": [i % 4 for i in range(200)]}
    path = str(_csv(tmp_path, rows, name="plain.csv"))
    d = _load("text_csv", path=path, val_fraction=0.25, test_fraction=0.2)
    assert len(d.y_test) == 40 and len(d.y_val) == 40 and len(d.y_train) == 120
    for y in (d.y_train, d.y_val, d.y_test):
        assert torch.bincount(y, minlength=4).tolist() == [len(y) // 4] * 4
    assert _load("text_csv", path=path, val_fraction=0.25, test_fraction=0.2) is d
    other = _load("text_csv", path=path, val_fraction=0.25, test_fraction=0.2, split_seed=1)
    assert torch.equal(other.y_test, d.y_test) and not torch.equal(other.y_val, d.y_val)
    splits = read_text_csv(Path(path), test_fraction=0.2)  # the test rows never move with split_seed
    assert splits.val is None and splits.test[0] == read_text_csv(Path(path), test_fraction=0.2).test[0]
    assert len(splits.test[0]) == 40 and len(splits.train[0]) == 160


def test_text_csv_reads_class_names_beside_the_file(tmp_path):
    path = _csv(tmp_path, {"text": list("abcdefgh"), "label": [0, 1] * 4}, name="s.csv.gz")
    (tmp_path / "s.labels.txt").write_text("negative\npositive\n")
    assert _load("text_csv", path=str(path), val_fraction=0.5).spec.class_names == ("negative", "positive")


@pytest.mark.parametrize("rows,match", [
    ({"sentence": ["a"], "label": [0]}, r"lacks column\(s\) text \(needs text, label"),
    ({"text": ["a", "b"], "label": [0, 1], "split": ["train", "holdout"]}, r"split' holds \['holdout'\]"),
    ({"text": ["a", "b"], "label": [0, 1], "split": ["test", "dev"]}, "no 'train' rows"),
])
def test_text_csv_errors_name_the_file_and_the_rule(tmp_path, rows, match):
    path = _csv(tmp_path, rows)
    with pytest.raises(AblateError, match=match) as err:
        _load("text_csv", path=str(path))
    assert str(path) in str(err.value)
    with pytest.raises(AblateError, match="does not exist"):
        _load("text_csv", path=str(tmp_path / "missing.csv"))


def test_synthetic_rule_last_sentiment_word_decides():
    texts, labels = generate(500, seed=7, negation=0.3)
    assert 0.4 < labels.mean() < 0.6
    for text, label in zip(texts, labels, strict=True):
        words = text.split()
        last = max(i for i, w in enumerate(words) if w in POSITIVE + NEGATIVE)
        positive = words[last] in POSITIVE
        negated = words[last - 1] in NEGATORS
        assert label == int(positive != negated), text
    again = generate(500, seed=7, negation=0.3)
    assert again[0] == texts and np.array_equal(again[1], labels)


def test_synthetic_text_dataset_shapes_noise_and_clean_test():
    d = _load("synthetic_text", n_train=400, n_test=300, label_noise=0.2, val_fraction=0.25)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (300, 100, 300)
    assert d.x_train.shape == (300, 16) and d.spec.max_len == 16 and d.spec.num_classes == 2
    texts, clean = generate(700, 0)
    assert np.array_equal(d.y_test.numpy(), clean[400:])  # test labels are the rule's, untouched
    splits = synthetic_splits(DATASETS.get("synthetic_text").Params(n_train=400, n_test=300, label_noise=0.2))
    assert splits.train[0] == texts[:400] and splits.test[0] == texts[400:]
    flipped = float((splits.train[1] != torch.from_numpy(clean[:400])).float().mean())
    assert 0.15 < flipped < 0.25


def test_ag_news_offline_errors_are_clear_and_fast(tmp_path, monkeypatch):
    with pytest.raises(AblateError, match="data.download is false") as err:
        _load("ag_news", root=str(tmp_path), download=False)
    assert "ag_news.csv.gz" in str(err.value) and "text_csv" in str(err.value)
    monkeypatch.setitem(sys.modules, "datasets", None)  # the optional extra is not installed
    with pytest.raises(AblateError, match=r"pip install 'ablate\[text\]'"):
        _load("ag_news", root=str(tmp_path))


def test_ag_news_reads_a_prepared_csv_without_the_network(tmp_path):
    folder = tmp_path / "ag_news"
    folder.mkdir()
    rows = {"text": [f"story {i} about topic {i % 4}" for i in range(40)], "label": [i % 4 for i in range(40)],
            "split": ["train"] * 32 + ["test"] * 8}
    _csv(folder, rows, name="ag_news.csv.gz")
    (folder / "ag_news.labels.txt").write_text("World\nSports\nBusiness\nSci/Tech\n")
    d = _load("ag_news", root=str(tmp_path), download=False, train_subset=16)
    assert d.spec.class_names == ("World", "Sports", "Business", "Sci/Tech")
    assert len(d.y_train) + len(d.y_val) == 16 and len(d.y_test) == 8


def test_a_text_csv_with_one_class_is_refused_at_validation_with_its_count(tmp_path):
    """Before: it passed validation and every cell reported test_acc 1.0."""
    path = _csv(tmp_path, {"text": [f"t {i}" for i in range(30)], "label": ["pos"] * 30})
    cls = DATASETS.get("text_csv")
    (field, rule, _), = cls.check(cls.Params(name="text_csv", path=str(path)))
    assert field == "data.path" and str(path) in rule
    assert "single class (1 class(es) with samples; count per class: 0: " in rule and "at least 2" in rule
