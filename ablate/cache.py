"""WorkerCache: what one worker process keeps from cell to cell, held by the worker loop and passed to fit.

A worker trains many cells of one study, and three things are the same for all of them: the loaded dataset
(read and split once, not once per cell), its copy on the device (a CIFAR-sized host->device copy once per
process), and torch.compile's compiled module for a network structure (its warm-up, 9-30 s on a CPU, paid
once per shape). The cache is a plain object, created by whoever runs cells and handed to `fit(cache=...)`,
so nothing is kept in module state; `fit` without one makes a fresh one (nothing shared, nothing stale).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import torch
from torch import Tensor, nn

from ablate.data import DATASETS, Data, DataParams

V = TypeVar("V")
SPLITS = ("train", "val", "test")


def _bounded(store: dict, key: Hashable, make: Callable[[], V], limit: int) -> V:
    """store[key], made on a miss; the oldest entry goes first once `limit` are held."""
    if key not in store:
        value = make()  # made before anything is evicted: a load that raises changes nothing
        if len(store) >= limit:
            store.pop(next(iter(store)))
        store[key] = value
    return store[key]


@dataclass
class WorkerCache:
    """Per worker process: datasets by their frozen params, their device copies, compiled modules.

    Callers treat the cached tensors as read-only: every cell of the worker shares them.
    """

    MAX_DATASETS: ClassVar[int] = 4
    MAX_DEVICE_COPIES: ClassVar[int] = 2
    MAX_COMPILED: ClassVar[int] = 4

    datasets: dict[Hashable, Data] = field(default_factory=dict)
    device_copies: dict[tuple, tuple[Data, dict[str, Tensor], dict[str, Tensor]]] = field(default_factory=dict)
    compiled: dict[tuple, tuple[nn.Module, nn.Module]] = field(default_factory=dict)

    def dataset(self, params: DataParams) -> Data:
        """The dataset's Data, loaded once for the same params (and, for a file, the same file version:
        `Dataset.revision`, e.g. its mtime, so a rewritten file is loaded again)."""
        entry = DATASETS.get(params.name)
        key = (params.name, params, entry.revision(params))
        if key in self.datasets:
            return self.datasets[key]
        data = entry.load(params)
        # keyed as it stands after the load, which may have created the file (a download)
        return _bounded(self.datasets, (params.name, params, entry.revision(params)), lambda: data,
                        self.MAX_DATASETS)

    def on_device(self, data: Data, device: torch.device) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The splits on the device, copied once per dataset rather than once per cell."""

        def move() -> tuple[Data, dict[str, Tensor], dict[str, Tensor]]:
            to = lambda t: t.to(device, non_blocking=True)  # noqa: E731
            return (data, {k: to(getattr(data, f"x_{k}")) for k in SPLITS},
                    {k: to(getattr(data, f"y_{k}")) for k in SPLITS})

        # the entry holds `data`, so its id stays its own while the entry lives
        _, x, y = _bounded(self.device_copies, (id(data), str(device)), move, self.MAX_DEVICE_COPIES)
        return x, y

    def compiled_module(self, model: nn.Module, device: torch.device, channels_last: bool,
                        built_with: str = "") -> tuple[nn.Module, nn.Module]:
        """(model, compiled net). Cells whose networks have the same structure share one compiled module:
        the new cell's freshly initialised weights (and buffers) are copied into it. `built_with` names the
        settings the network was built from: a knob a module keeps as a plain attribute (timm's drop_rate,
        a plugin's functional dropout) is invisible in repr(model), and must not share a module."""
        key = (type(model).__qualname__, repr(model), built_with, str(device), channels_last)
        if key not in self.compiled:
            return _bounded(self.compiled, key, lambda: (model, torch.compile(model)), self.MAX_COMPILED)
        shared, net = self.compiled[key]
        shared.load_state_dict(model.state_dict())
        for p in shared.parameters():
            p.grad = None
        return shared, net
