"""Datasets: registered loaders that return in-memory tensors plus a spec; importing registers them all."""

from ablate.data import images  # noqa: F401  (registers digits, cifar10, npz)
from ablate.data.base import DATASETS, Data, DataParams, Dataset, DataSpec

__all__ = ["DATASETS", "Data", "DataParams", "DataSpec", "Dataset"]
