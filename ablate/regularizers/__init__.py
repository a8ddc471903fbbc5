"""Every regularizer family registers itself on import; adding one = a file here + one import line."""

from ablate.regularizers import augment, batchnorm, dropout, penalties, training  # noqa: F401
from ablate.regularizers.base import REGULARIZERS, Params, Regularizer, TrainState, penalized_parameters

__all__ = ["REGULARIZERS", "Params", "Regularizer", "TrainState", "penalized_parameters"]
