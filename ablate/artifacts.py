"""What a cell leaves beside its metrics, as plain values for the logger: the dataset it read, its resolved
config, and its checkpoint. No MLflow here (tracking/ writes these); torch only for the weights.

The checkpoint is a state_dict (`checkpoint/state_dict.pt`, loadable with `torch.load(weights_only=True)`)
plus what rebuilds the network around it (`checkpoint/model.json`: model name and knobs, the data spec, the
regularizers' architectural settings). Not `mlflow.pytorch.log_model`: that pickles the module's class, so a
plugin's or user's model class must be importable wherever it is loaded, an unpickled file can run code, and
for these small networks it costs ~10x the bytes and the time (conda/pip environment files, signature).
`rebuild()` is the one-line way back: the model registry builds the network, the state_dict fills it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

import torch
from torch import nn

from ablate.data import DATASETS, Data, DataParams, DataSpec
from ablate.loop import merged
from ablate.models import MODELS
from ablate.records import CHECKPOINT_MODEL, CHECKPOINT_STATE
from ablate.regularizers import cell_regularizers
from ablate.study import Cell

SPLITS = ("train", "val", "test")
WEIGHTS = ("best", "last", "none")


# ------------------------------------------------------------------------------------------------- dataset
def tensor_digest(data: Data) -> str:
    """SHA-256 (first 16 hex digits) of every split's inputs and labels: the data the cell really saw, so two
    runs with equal digests trained and tested on identical tensors (0.13 s for all of CIFAR-10)."""
    h = hashlib.sha256()
    for split in SPLITS:
        for t in (getattr(data, f"x_{split}"), getattr(data, f"y_{split}")):
            t = t.detach().cpu().contiguous()
            h.update(f"{split}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(memoryview(t.view(torch.uint8).numpy()).cast("B") if t.numel() else b"")
    return h.hexdigest()[:16]


def dataset_source(params: DataParams) -> tuple[str, dict]:
    """(source type, source) as MLflow shows them: the file or data root read, or where the data is made."""
    if path := getattr(params, "path", None):
        return "local", {"uri": Path(path).resolve().as_uri()}
    if "root" in type(params).model_fields:
        from ablate.data.images import data_root

        return "local", {"uri": data_root(getattr(params, "root", None)).resolve().as_uri(), "dataset": params.name}
    return "code", {"dataset": params.name, "note": DATASETS.get(params.name).summary}


def dataset_facts(params: DataParams, data: Data) -> dict:
    """Name, digest, source and profile (split sizes, classes, input shape) of the cell's dataset."""
    source_type, source = dataset_source(params)
    spec = data.spec
    profile = {f"{s}_size": len(getattr(data, f"y_{s}")) for s in SPLITS}
    profile.update(num_classes=spec.num_classes, kind=spec.kind, input_shape=list(data.x_train.shape[1:]))
    schema = {"inputs": {"dtype": str(data.x_train.dtype).removeprefix("torch."),
                         "shape": [-1, *data.x_train.shape[1:]]}, "targets": {"classes": spec.num_classes}}
    return {"name": params.name, "digest": tensor_digest(data), "source_type": source_type,
            "source": json.dumps(source), "profile": json.dumps(profile), "schema": json.dumps(schema)}


def log_dataset(logger, params: DataParams, data: Data) -> None:
    """Give the logger the dataset's facts, if it records inputs (a plain Logger need not)."""
    if (log := getattr(logger, "log_dataset", None)) is not None:
        log(dataset_facts(params, data))


# ------------------------------------------------------------------------------------------------- config
def cell_config(cell: Cell) -> dict:
    """The cell's resolved config (`config.json` on its run): everything needed to train it again."""
    s = cell.study
    return {
        "study": s.name, "study_hash": s.study_hash, "cell_id": cell.cell_id, "arm": cell.arm.name,
        "seed": cell.seed, "factors": cell.arm.on(s.factors), "levels": cell.level_labels(),
        "model": s.model.model_dump(mode="json"), "data": s.data.model_dump(mode="json"),
        "train": s.train.model_dump(mode="json"),
        "regularizers": {n: p.model_dump(mode="json", by_alias=True) for n, p in cell.active().items()},
        "tuned": dict(s.tuned),
    }


# ------------------------------------------------------------------------------------------------- checkpoint
def _copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Keeper:
    """Which weights a cell's checkpoint holds (`train.checkpoint`), watched while fit runs.

    `best`: the lowest-val_loss epoch's (early stopping's criterion; where early stopping restored its best
    epoch, those are the weights fit ended with); `last`: the last epoch's, before any restore; `none`: no
    checkpoint. Unset: the weights the test metrics were measured on (best where early stopping restores its
    best epoch, else last), so the checkpoint reproduces the run's test_acc. Copies are made only when the
    choice needs them (best without a restore: one device copy per improving epoch).
    """

    def __init__(self, mode: str | None):
        self.mode = mode
        self.best_loss, self.best_epoch, self.best = float("inf"), 0, None
        self.last, self.last_epoch = None, 0

    def observe(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> None:
        self.last_epoch = epoch
        if self.mode == "best" and metrics["val_loss"] < self.best_loss:
            self.best_loss, self.best_epoch, self.best = metrics["val_loss"], epoch, _copy(model)

    def before_restore(self, model: nn.Module) -> None:
        """Called before the train-end hooks, which may load another epoch's weights."""
        if self.mode == "last":
            self.last = _copy(model)

    def outputs(self, cell: Cell, model: nn.Module, spec: DataSpec, restored: int | None) -> dict[str, object]:
        """The checkpoint's artifacts ({} for `none`): state_dict bytes and model.json."""
        if self.mode == "none":
            return {}
        if self.mode == "last":
            which, epoch, state = "last", self.last_epoch, self.last
        elif self.mode == "best" and restored is None:
            which, epoch, state = "best", self.best_epoch, self.best
        else:  # best with a restore, or unset: the weights fit ended with
            which, epoch, state = ("best", restored, None) if restored else ("last", self.last_epoch, None)
        state = {k: v.detach().cpu().contiguous() for k, v in (state or model.state_dict()).items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return {CHECKPOINT_STATE: buffer.getvalue(), CHECKPOINT_MODEL: model_record(cell, spec, which, epoch)}


def model_record(cell: Cell, spec: DataSpec, which: str, epoch: int) -> dict:
    """What rebuild() needs to make the network the state_dict belongs to (and what it is)."""
    kwargs = merged(cell_regularizers(cell), "model")  # as train.build_model passes them
    return {"format": "state_dict", "weights": which, "epoch": epoch, "cell_id": cell.cell_id,
            "model": cell.study.model.model_dump(mode="json"), "data_spec": dataclasses.asdict(spec),
            "model_kwargs": kwargs, "load": f"{__name__}.rebuild(model_json, state_dict_path)"}


def rebuild(model_json: dict | str | Path, state_dict_path: str | Path, device: str = "cpu") -> nn.Module:
    """The cell's network with its checkpointed weights, in eval mode (plugins must be loaded first)."""
    if not isinstance(model_json, dict):
        model_json = json.loads(Path(model_json).read_text(encoding="utf-8"))
    builder = MODELS.get(model_json["model"]["name"])
    spec_fields = {k: tuple(v) if isinstance(v, list) else v for k, v in model_json["data_spec"].items()}
    model = builder.build(builder.Params.model_validate(model_json["model"]), DataSpec(**spec_fields),
                          **model_json["model_kwargs"])
    model.load_state_dict(torch.load(state_dict_path, map_location=device, weights_only=True))
    return model.to(device).eval()
