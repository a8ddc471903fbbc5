"""Model builders; importing registers them all."""

from ablate.models import cnn, transformer  # noqa: F401  (registers "cnn", "transformer")
from ablate.models.base import MODELS, ModelBuilder, ModelParams

__all__ = ["MODELS", "ModelBuilder", "ModelParams"]
