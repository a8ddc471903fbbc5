"""Datasets: registered loaders that return in-memory tensors plus a spec; importing registers them all."""

from ablate.data import image_folder, images, synthetic_text, text, torchvision  # noqa: F401  (registers every dataset)
from ablate.data.base import DATASETS, Data, DataParams, Dataset, DataSpec

__all__ = ["DATASETS", "Data", "DataParams", "DataSpec", "Dataset"]
