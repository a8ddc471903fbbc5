"""Model builders; importing registers them all (torchvision and timm are imported only when used).

May import: ablate.data.base (the data spec a model is built for), ablate.errors, ablate.params,
ablate.registry.
"""

from ablate.models import cnn, timm, torchvision, transformer  # noqa: F401  (registers every model)
from ablate.models.base import MODELS, ModelBuilder, ModelParams

__all__ = ["MODELS", "ModelBuilder", "ModelParams"]
