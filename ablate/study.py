"""The typed study: Factor, Arm, Cell and Study, as ablate/validate.py builds them from a study file.

Nothing here checks a rule; a Study exists only once validation passed, and core code downstream trusts
these types. A factor has levels; level 0 of a two-level factor is ``None`` (off) and level 1 its params
(on). An arm is one level index per factor, in the study's factor order, so cells pair across arms by seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from ablate.plugins import Plugin
from ablate.spec import MetricSpec, TrainParams, TuneSpec

NON_DEFINING_TRAIN = {"checkpoint"}  # what is kept of a cell, not how it trains: outside the hash


@dataclass(frozen=True)
class Factor:
    name: str
    levels: tuple[BaseModel | None, ...]  # (None, params) for a two-level on/off factor
    varying: tuple[str, ...] = field(default=(), compare=False)  # the params listed as levels (labels show them)

    @property
    def two_level(self) -> bool:
        return len(self.levels) == 2 and self.levels[0] is None


@dataclass(frozen=True)
class Arm:
    name: str
    levels: tuple[int, ...]  # one level index per factor

    def on(self, factors: tuple[Factor, ...]) -> dict[str, bool]:
        return {f.name: f.levels[i] is not None for f, i in zip(factors, self.levels)}


def arm_name(factors: tuple[Factor, ...], levels: tuple[int, ...]) -> str:
    """`dropout=0.25+l2`, `baseline`: the factors that are on, in name order, so that reordering factors in
    the file never renames an arm (and never makes a finished cell look new)."""
    parts = []
    for f, i in sorted(zip(factors, levels), key=lambda fi: fi[0].name):
        if f.two_level:
            if i == 1:
                parts.append(f.name)
        elif f.levels[i] is not None:  # an off level is left out, as for two-level factors
            parts.append(f"{f.name}={level_label(f, i)}")
    return "+".join(parts) or "baseline"


def level_label(f: Factor, i: int) -> str:
    """'off', or the level's values: only the listed (varying) ones when the factor has levels."""
    p = f.levels[i]
    if p is None:
        return "off"
    dumped = p.model_dump(by_alias=True)
    keys = [k for k in f.varying if k in dumped] or list(dumped)
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    if len(keys) == 1 and f.varying:
        return fmt(dumped[keys[0]])
    return ",".join(f"{k}={fmt(dumped[k])}" if f.varying else fmt(dumped[k]) for k in keys) or "on"


class StudyDesign(Protocol):
    """What a Study needs of its design: an ablate.designs.Design instance (the designs import this module,
    so it names the shape instead of importing the class)."""

    name: str
    params: BaseModel

    def arms(self, factors: tuple[Factor, ...]) -> list[Arm]: ...

    def record(self, factors: tuple[Factor, ...], arms: list[Arm]) -> dict: ...

    def canonical(self) -> dict: ...


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

    def flat_params(self) -> dict[str, object]:
        """Every resolved setting, flattened (reg.dropout.p, model.width, train.lr, seed) for MLflow."""
        s = self.study
        out: dict[str, object] = {"seed": self.seed, "arm": self.arm.name}
        out.update(flatten(s.model.model_dump(), "model"))
        out.update(flatten(s.data.model_dump(), "data"))
        out.update(flatten(s.train.model_dump(), "train"))
        for name, params in self.active().items():
            dumped = params.model_dump(by_alias=True)
            out.update(flatten(dumped, f"reg.{name}") if dumped else {f"reg.{name}": "on"})
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
    design: StudyDesign
    seeds: tuple[int, ...]
    tune: TuneSpec | None = None
    source: str = ""
    # the validated file's content_hash, set once by validation; a study with tuned values substituted
    # (ablate.tuning.apply_tuned) keeps it, so its cells stay under the file's identity
    study_hash: str = ""
    tuned: tuple[tuple[str, float], ...] = ()  # frozen tune-phase values substituted into this study
    plugins: tuple[Plugin, ...] = ()  # the user code it runs (ablate/plugins.py); their content is hashed
    # seeds until decided: `seeds` are the initial ones until the stage-1 decision extends them; None: fixed
    seed_max: int | None = None

    @property
    def possible_seeds(self) -> tuple[int, ...]:
        """Every seed a cell of this study may ever use (all `seed_max` when seeds are added until decided)."""
        return tuple(range(self.seed_max)) if self.seed_max else self.seeds

    def arms(self) -> list[Arm]:
        return self.design.arms(self.factors)

    def design_record(self, arms: list[Arm] | None = None) -> dict:
        """What the report needs to know about the design (JSON-able; the parent run records it)."""
        return self.design.record(self.factors, self.arms() if arms is None else arms)

    def cells(self) -> list[Cell]:
        return [Cell(self, arm, seed) for arm in self.arms() for seed in self.seeds]

    def canonical(self) -> dict:
        """Everything that defines the results (not the description or where they are stored); factors,
        `always` and seeds in a canonical order, since their order in the file changes no result."""
        out = {
            "name": self.name,
            "model": self.model.model_dump(mode="json"),
            "data": self.data.model_dump(mode="json"),
            "train": self.train.model_dump(mode="json", exclude=NON_DEFINING_TRAIN),
            "metric": {"name": self.metric.name, "direction": self.metric.resolved_direction},
            "factors": {f.name: [None if p is None else p.model_dump(mode="json", by_alias=True) for p in f.levels]
                        for f in sorted(self.factors, key=lambda f: f.name)},
            "always": {k: v.model_dump(mode="json", by_alias=True) for k, v in sorted(self.always, key=lambda kv: kv[0])},
            "design": self.design.canonical(),
            "seeds": sorted(self.seeds),
            "tune": self.tune.model_dump(mode="json") if isinstance(self.tune, BaseModel) else self.tune,
            # only a study that adds seeds until decided: the margin then decides which cells run
            **({"sequential": {"max": self.seed_max, "min_effect": self.metric.resolved_min_effect}}
               if self.seed_max else {}),
        }
        if self.plugins:  # only then: a study without plugins keeps the hash it always had
            out["plugins"] = [p.canonical() for p in self.plugins]
        return out


def content_hash(canonical: dict) -> str:
    """SHA-256 of a study's canonical content: its identity in MLflow and Optuna."""
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def flatten(d: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings as dotted keys ({"train": {"lr": 0.1}} -> {"train.lr": 0.1}): MLflow's params, and
    the change guard's field-by-field diff of two canonical studies."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out
