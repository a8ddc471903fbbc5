"""Model builders; importing registers them all (torchvision and timm are imported only when used)."""

from ablate.models import cnn, timm, torchvision, transformer  # noqa: F401  (registers every model)
from ablate.models.base import MODELS, ModelBuilder, ModelParams

__all__ = ["MODELS", "ModelBuilder", "ModelParams"]
