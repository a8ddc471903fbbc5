"""`synthetic_text`: an embedded sentiment task where word order matters; no download.

The rule (documented so results can be read against it). A text is 6 to 16 words: neutral filler words
plus one to three *sentiment* words, each drawn from a positive or a negative list, at random places (never
first). The label is the polarity of the **last** sentiment word, like the clause after "but" in a review
("dull at first but brilliant"). With ``negation`` > 0, each sentiment word is preceded by a negator
(``not``/``never``) with that probability, which flips its polarity; only the last word's counts.

A bag of words sees which sentiment words occur but not which comes last: on clean labels a logistic
regression on word counts reaches 84% and gradient-boosted trees 81-82% (1,600 or 20,000 training texts);
with ``negation: 0.3``, 68% and 69-76%. A small Transformer (dim 32, depth 2) reaches ~93% test accuracy
from 1,600 noisy-label texts in 12 epochs on a CPU (negation 0: a few seconds). The labelled pool is small
(``n_train``) and a fraction of its labels is flipped (``label_noise``; test labels stay clean), so an
unregularized model overfits: it memorizes the flipped labels and its val accuracy falls behind.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ablate.data.base import DATASETS, Data, DataParams, Dataset
from ablate.data.text import TextParams, TextSplits, build_text_data

POSITIVE = ("good", "great", "fine", "nice", "superb", "lovely", "brilliant", "pleasant", "charming", "solid")
NEGATIVE = ("bad", "awful", "poor", "dull", "terrible", "boring", "weak", "nasty", "clumsy", "bland")
NEGATORS = ("not", "never")
FILLER = (
    "the", "a", "movie", "film", "plot", "story", "cast", "acting", "was", "is", "and", "but", "really",
    "quite", "its", "ending", "music", "script", "director", "scene", "felt", "seemed", "overall", "this",
    "with", "of", "it", "very", "so", "truly", "somewhat", "pace", "dialogue", "camera", "work", "lead",
)
MIN_WORDS, MAX_WORDS, MAX_SENTIMENT = 6, 16, 3


def generate(n: int, seed: int, negation: float = 0.0) -> tuple[list[str], np.ndarray]:
    """``n`` texts and their clean 0/1 labels (the rule in the module docstring), seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    texts, labels = [], np.empty(n, dtype=np.int64)
    for i in range(n):
        length = int(rng.integers(MIN_WORDS, MAX_WORDS + 1))
        words = [FILLER[j] for j in rng.integers(0, len(FILLER), size=length)]
        k = int(rng.integers(1, MAX_SENTIMENT + 1))
        slots = np.sort(rng.choice(np.arange(1, length), size=k, replace=False)).tolist()
        for s in slots:
            positive = bool(rng.random() < 0.5)
            words[s] = (POSITIVE if positive else NEGATIVE)[int(rng.integers(0, len(POSITIVE)))]
            negated = bool(rng.random() < negation) and s - 1 not in slots
            if negated:
                words[s - 1] = NEGATORS[int(rng.integers(0, len(NEGATORS)))]
        texts.append(" ".join(words))
        labels[i] = int(positive != negated)  # the last sentiment word decides
    return texts, labels


@DATASETS.register()
class SyntheticText(Dataset):
    name = "synthetic_text"
    kind = "text"
    summary = "embedded sentiment task: the last sentiment word decides (a bag of words gets ~84%); no download"

    class Params(TextParams):
        name: str = "synthetic_text"
        max_len: int = Field(16, ge=1, le=4096, description="tokens kept per text (texts have 6..16 words)")
        n_train: int = Field(2000, ge=20, le=1_000_000, description="labelled pool, split into train and val")
        n_test: int = Field(2000, ge=10, le=1_000_000, description="test texts (clean labels)")
        label_noise: float = Field(0.1, ge=0.0, lt=0.5, description="fraction of pool labels flipped")
        negation: float = Field(0.0, ge=0.0, le=1.0, description="chance a negator flips a sentiment word")
        generator_seed: int = Field(0, ge=0, description="fixes the texts themselves")

    @classmethod
    def load(cls, params: DataParams) -> Data:
        return _load_synthetic(params)


def _load_synthetic(params: SyntheticText.Params) -> Data:
    return build_text_data(params, synthetic_splits(params))


def synthetic_splits(params: SyntheticText.Params) -> TextSplits:
    """The texts: a noisy labelled pool (train + val) and a clean test set, both from one generator."""
    import torch

    texts, y = generate(params.n_train + params.n_test, params.generator_seed, params.negation)
    flip = np.random.default_rng(params.generator_seed + 1).random(params.n_train) < params.label_noise
    y_pool = np.where(flip, 1 - y[: params.n_train], y[: params.n_train])
    return TextSplits(
        train=(texts[: params.n_train], torch.from_numpy(y_pool)),
        test=(texts[params.n_train:], torch.from_numpy(y[params.n_train:].copy())),
        class_names=("negative", "positive"),
    )
