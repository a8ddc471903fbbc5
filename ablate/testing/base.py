"""What every contract check shares: the error it raises and how it finds the entry it was given."""

from __future__ import annotations

import importlib.util

from ablate.cache import WorkerCache

CACHE = WorkerCache()  # the tiny data every check of a model reads: loaded once per process


class ContractError(AssertionError):
    """An entry breaks its contract. An AssertionError, so pytest shows it as a failed assertion; the message
    names the entry, the hook or method at fault and the declaration it breaks."""


def resolve(registry, entry: object, kind: str) -> tuple[str, object]:
    """(name, registered entry) for a registered name, or for the registered object itself (a class, or the
    function a plugin registered with ablate.register_model/register_dataset). Checks run an entry as a study
    does, by name, so an unregistered one is an error saying how to register it."""
    if isinstance(entry, str):
        return entry, registry.get(entry)
    for name, registered in registry.entries().items():
        if registered is entry or getattr(registered, "fn", None) is entry:
            return name, registered
    label = getattr(entry, "__name__", repr(entry))
    raise ContractError(f"{kind} {label} is not registered: register it first (ablate.register_{kind}), the "
                        f"checks run it by name as a study does")


def usable_model(name: str) -> bool:
    """False for a library model whose optional package is not installed (timm)."""
    return name != "timm" or importlib.util.find_spec("timm") is not None
