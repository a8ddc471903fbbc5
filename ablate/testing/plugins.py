"""`ablate validate --check-plugins`: every entry a study's plugins register, through its contract."""

from __future__ import annotations

from ablate.plugins import registered_by
from ablate.testing.base import ContractError
from ablate.testing.dataset import check_dataset
from ablate.testing.model import check_model
from ablate.testing.regularizer import check_regularizer, models_for


def check_plugins(study) -> list[str]:
    """One line per broken contract among the entries the study's plugins registered (empty: all hold), each
    prefixed with the plugin as the study names it. A regularizer is checked on the study's model where it
    applies to the model's tiny data (else on the first registered model it applies to), a dataset with the study's settings where
    the study uses it (else its defaults)."""
    failures = []
    for plugin in study.plugins:
        for kind, name in registered_by(plugin):
            try:
                if kind == "regularizer":
                    usable = models_for(name)
                    check_regularizer(name, model=study.model.name if study.model.name in usable else
                                      next(iter(usable), None))
                elif kind == "model":
                    check_model(name)
                elif kind == "dataset":
                    same = study.data.name == name
                    check_dataset(name, study.data.model_dump(exclude={"name"}) if same else None)
            except ContractError as e:
                failures.append(f"{plugin.given}: {e}")
            except Exception as e:  # a check that could not even run is a broken contract too, said once
                failures.append(f"{plugin.given}: {kind} '{name}': checking it raised {type(e).__name__}: {e}")
    return failures
