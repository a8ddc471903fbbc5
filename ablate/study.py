"""Study files: YAML -> a frozen, typed, validated Study; the design -> arms; arms x seeds -> cells.

Validation happens here, once, at the boundary. Every problem is collected (not just the first) and reported
with the file, the field path, the rule and the value given. Core code downstream trusts these types.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from ablate.design import DESIGNS, Arm, DesignSpec, Factor, design_record, level_label
from ablate.errors import UnknownName
from ablate.models import MODELS
from ablate.params import StrictModel
from ablate.regularizers import REGULARIZERS, Regularizer
from ablate.tune import TuneSpec
from ablate.yamlio import read_yaml

FINAL_METRICS = {
    "test_acc": "maximize", "test_loss": "minimize", "best_val_acc": "maximize", "ece": "minimize",
    "val_acc": "maximize", "val_loss": "minimize", "gap_acc": "minimize",
}
MAX_CELLS = 10_000


class _Strict(StrictModel):
    pass


class TrainParams(_Strict):
    epochs: int = Field(10, ge=1, le=10_000)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=100.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool | None = Field(None, description="None: on for models that prefer it (the CNN)")
    eval_batch_size: int = Field(1024, ge=1, le=1_000_000)
    compile: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"


class MetricSpec(_Strict):
    name: str = "test_acc"
    direction: Literal["maximize", "minimize"] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FINAL_METRICS:
            raise ValueError(str(UnknownName("metric", v, list(FINAL_METRICS))))
        return v

    @property
    def resolved_direction(self) -> str:
        return self.direction or FINAL_METRICS[self.name]


class RawStudy(_Strict):
    """The file's shape; names inside model/data/factors are resolved against the registries afterwards."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    model: dict[str, Any]
    data: dict[str, Any]
    train: TrainParams = TrainParams()
    metric: MetricSpec = MetricSpec()
    factors: dict[str, Any] = Field(min_length=1, max_length=64)
    always: dict[str, Any] = Field(default_factory=dict, max_length=64)
    design: DesignSpec = DesignSpec()
    seeds: int | list[int] = 3
    tune: TuneSpec | None = None

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int):
            if not 1 <= v <= 1000:
                raise ValueError("seeds must be a count in 1..1000 or a list of distinct non-negative ints")
            return v
        if not v or len(set(v)) != len(v) or any(not 0 <= s < 2**31 for s in v):
            raise ValueError("a seed list must be non-empty, distinct, and each seed in 0..2147483647")
        return v

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        """The name becomes an MLflow experiment, an Optuna study and a directory: one visible line."""
        if not v.strip() or any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("a study name must be visible text on one line (no control characters)")
        return v


@dataclass(frozen=True)
class Cell:
    """One (arm, seed): the unit that is trained exactly once."""

    study: Study
    arm: Arm
    seed: int

    @property
    def cell_id(self) -> str:
        return f"{self.arm.name}/seed{self.seed}"

    def active(self) -> dict[str, BaseModel]:
        """The regularizers this cell trains with, name -> params (the arm's factors plus `always`)."""
        on = {f.name: f.levels[i] for f, i in zip(self.study.factors, self.arm.levels) if f.levels[i] is not None}
        return {**on, **dict(self.study.always)}

    def level_labels(self) -> dict[str, str]:
        """Each multi-level factor's level label in this cell (on/off factors need none)."""
        return {f.name: level_label(f, i) for f, i in zip(self.study.factors, self.arm.levels) if not f.two_level}

    def regularizers(self) -> list[Regularizer]:
        return [REGULARIZERS.get(name)(params) for name, params in self.active().items()]

    def flat_params(self) -> dict[str, object]:
        """Every resolved setting, flattened (reg.dropout.p, model.width, train.lr, seed) for MLflow."""
        s = self.study
        out: dict[str, object] = {"seed": self.seed, "arm": self.arm.name}
        out.update(_flatten("model", s.model.model_dump()))
        out.update(_flatten("data", s.data.model_dump()))
        out.update(_flatten("train", s.train.model_dump()))
        for name, params in self.active().items():
            dumped = params.model_dump(by_alias=True)
            out.update(_flatten(f"reg.{name}", dumped) if dumped else {f"reg.{name}": "on"})
        return out


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    model: BaseModel
    data: BaseModel
    train: TrainParams
    metric: MetricSpec
    factors: tuple[Factor, ...]
    always: tuple[tuple[str, BaseModel], ...]
    design: DesignSpec
    seeds: tuple[int, ...]
    tune: TuneSpec | None = None
    source: str = ""
    tuned: tuple[tuple[str, float], ...] = ()  # frozen tune-phase values substituted into this study
    identity: str = ""  # the file's hash, kept by a study with tuned values substituted (ablate.tune)

    @property
    def model_family(self) -> str:
        return MODELS.get(self.model.name).family

    def arms(self) -> list[Arm]:
        return DESIGNS.get(self.design.name)().arms(self.factors, self.design)

    def design_record(self, arms: list[Arm] | None = None) -> dict:
        """What the report needs to know about the design (JSON-able; the parent run records it)."""
        return design_record(self.factors, self.arms() if arms is None else arms, self.design.name)

    def cells(self) -> list[Cell]:
        return [Cell(self, arm, seed) for arm in self.arms() for seed in self.seeds]

    def canonical(self) -> dict:
        """Everything that defines the results (not the description or where they are stored)."""
        return {
            "name": self.name,
            "model": self.model.model_dump(mode="json"),
            "data": self.data.model_dump(mode="json"),
            "train": self.train.model_dump(mode="json"),
            "metric": {"name": self.metric.name, "direction": self.metric.resolved_direction},
            "factors": {f.name: [None if p is None else p.model_dump(mode="json", by_alias=True) for p in f.levels]
                        for f in self.factors},
            "always": {k: v.model_dump(mode="json", by_alias=True) for k, v in self.always},
            "design": self.design.model_dump(mode="json"),
            "seeds": list(self.seeds),
            "tune": self.tune.model_dump(mode="json") if isinstance(self.tune, BaseModel) else self.tune,
        }

    @property
    def study_hash(self) -> str:
        if self.identity:
            return self.identity
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; raises StudyError naming every problem found."""
    path = Path(path)
    raw = read_yaml(path)
    return validate_study(raw, source=str(path))


def validate_study(raw: object, source: str = "<study>") -> Study:
    from ablate.validate import build_study  # the field-by-field checks live beside their rules

    return build_study(raw, source)


def _flatten(prefix: str, d: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(_flatten(key, v))
        else:
            out[key] = v
    return out


def problems_from(err: ValidationError, prefix: str = "") -> list[tuple[str, str, object]]:
    """Turn pydantic's errors into (field path, rule, given value) triples."""
    out = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = e["msg"]
        ctx_err = (e.get("ctx") or {}).get("error")
        if isinstance(ctx_err, UnknownName):
            msg = str(ctx_err)
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append((loc, msg, e.get("input")))
    return out
