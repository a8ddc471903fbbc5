"""Contract checks for plugin authors (and ablate's own tests), after scikit-learn's ``check_estimator``.

Each check takes a registered name (or the registered class or function) and raises ``ContractError`` (an
AssertionError) naming the entry, the hook or method at fault and the declaration it breaks::

    import ablate.testing

    ablate.testing.check_regularizer("my_shrink")          # "on" changes what `changes` declares, on every model
    ablate.testing.check_model("my_mlp")                   # builds, (batch, classes) logits, backward, deterministic
    ablate.testing.check_dataset("my_blobs", {"size": 6})  # dtypes, shapes, label ranges, a seeded split
    ablate.testing.check_design("my_design")               # distinct arms, baseline, record round-trips

``ablate validate --check-plugins STUDY`` runs them on every entry the study's plugins register.

May import: ablate.cache, ablate.data, ablate.designs, ablate.errors, ablate.loop, ablate.models,
ablate.plugins, ablate.regularizers, ablate.study, ablate.train, ablate.validate (it trains one step, as a
worker does, but records nothing: no tracking, no scheduler).
"""

from __future__ import annotations

from ablate.testing.base import ContractError
from ablate.testing.dataset import check_data, check_dataset
from ablate.testing.design import check_design
from ablate.testing.model import check_model
from ablate.testing.plugins import check_plugins
from ablate.testing.regularizer import check_regularizer

__all__ = ["ContractError", "check_data", "check_dataset", "check_design", "check_model", "check_plugins",
           "check_regularizer"]
