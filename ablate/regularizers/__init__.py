"""Regularizers: every family registers itself on import; adding one = a file here + one import line.

May import: ablate.data.base, ablate.data.text (the data spec and token ids a hook sees), ablate.models.base
(the knobs an architectural regularizer sets), ablate.params, ablate.registry.
"""

from ablate.regularizers import (  # noqa: F401
    augment,
    batchnorm,
    cutmix,
    cutout,
    dropout,
    ema,
    label_smoothing,
    max_norm,
    mixup,
    penalties,
    sam,
    training,
    transformer,
)
from ablate.regularizers.applicability import applies_note
from ablate.regularizers.base import CHANGES, REGULARIZERS, Context, Params, Regularizer, penalized_parameters

__all__ = ["CHANGES", "REGULARIZERS", "Context", "Params", "Regularizer", "applies_note", "cell_regularizers",
           "penalized_parameters"]


def cell_regularizers(cell) -> list[Regularizer]:
    """The regularizers a cell (ablate.study.Cell) trains with, made from its settings: here, not on the
    Cell, so the typed study stays a plain description that imports no registry."""
    return [REGULARIZERS.get(name)(params) for name, params in cell.active().items()]
