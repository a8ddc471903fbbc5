"""Datasets: registered loaders that return in-memory tensors plus a spec; importing registers them all.

May import: ablate.bounded (budgets for what a file may allocate), ablate.errors, ablate.params, ablate.registry (nothing of models, regularizers or training).
"""

from ablate.data import (  # noqa: F401  (registers every dataset)
    ag_news,
    image_folder,
    images,
    npz,
    synthetic_text,
    text,
    torchvision,
)
from ablate.data.base import DATASETS, Data, DataParams, Dataset, DataSpec, stand_in

__all__ = ["DATASETS", "Data", "DataParams", "DataSpec", "Dataset", "stand_in"]
