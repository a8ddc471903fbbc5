"""The tune phase, without Optuna: the `tune:` block's types, its rules, and tuned values -> a Study.

Tune, then ablate: a few settings (a factor's strength, the learning rate) are searched on one arm (by default
every factor on) against the *validation* metric, the best values are frozen, and only then does every cell of
the ablation run with them. Tuning on validation and judging the ablation on test keeps the tuned strengths
from flattering the arms. The study's identity (its hash) stays that of the file; the frozen values are
recorded beside it. The Optuna side (sampling, pruning, storage) lives in search.py.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from ablate.design import Arm, Factor, arm_name
from ablate.params import StrictModel

if TYPE_CHECKING:
    from ablate.study import Cell, Study

SECTIONS = ("model", "data", "train")  # `<section>.<field>`; factors/always take `<section>.<name>.<field>`
TUNE_METRICS = {"val_acc": "maximize", "val_loss": "minimize"}
Problems = list[tuple[str, str, object]]


class _Strict(StrictModel):
    pass


class ParamRange(_Strict):
    """One searched setting: uniform in [low, high], or log-uniform (log: true) for strengths and rates."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"`low < high` must hold, but got (low={self.low:g}, high={self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, but got low={self.low:g}")
        return self


class TuneSpec(_Strict):
    trials: int = Field(20, ge=1, le=10_000, description="tune trials (pruned ones count)")
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    metric: Literal["val_acc", "val_loss"] = Field("val_acc", description="reported every epoch; the best "
                                                   "epoch's value is the trial's objective")
    arm: Literal["all", "baseline"] | tuple[str, ...] = Field(
        "all", description="the arm tuned on: all factors on (default), baseline, or the factors that are on")
    seed: int | None = Field(None, ge=0, description="tune trials' training seed and the sampler's seed "
                             "(default: one seed past the ablation's, so no ablation cell shares it)")
    epochs: int | None = Field(None, ge=1, le=10_000, description="epochs per tune trial (default train.epochs)")
    startup_trials: int = Field(3, ge=0, le=1000, description="trials run in full before pruning starts")
    warmup_epochs: int = Field(1, ge=0, le=1000, description="epochs before a trial may be pruned")
    params: dict[str, ParamRange] = Field(min_length=1, max_length=32)

    @property
    def direction(self) -> str:
        return TUNE_METRICS[self.metric]


def tune_seed(study: Study) -> int:
    spec = study.tune
    return spec.seed if spec.seed is not None else max(study.seeds) + 1


def tune_arm(study: Study) -> Arm:
    """The arm tuned on; a factor on here runs at its top level (its only on level for a two-level factor)."""
    spec, factors = study.tune, study.factors
    if spec.arm == "all":
        on = {f.name for f in factors}
    elif spec.arm == "baseline":
        on = set()
    else:
        on = set(spec.arm)
    levels = tuple(len(f.levels) - 1 if f.name in on else 0 for f in factors)
    return Arm(arm_name(factors, levels), levels)


def objective(history: list[dict[str, float]], metric: str) -> float:
    """A trial's value: its best epoch on the tune metric (what early stopping with restore keeps)."""
    values = [h[metric] for h in history if math.isfinite(h.get(metric, math.nan))]
    if not values:
        return math.nan
    return max(values) if TUNE_METRICS[metric] == "maximize" else min(values)


# ---------------------------------------------------------------------------------------------------------
# Paths: `train.lr`, `model.width`, `factors.l2.lambda`, `always.early_stopping.patience`
# ---------------------------------------------------------------------------------------------------------
def _field(params: BaseModel, key: str) -> tuple[str, Any] | None:
    """(field name, FieldInfo) of a params model for a key given by name, alias or alias choice."""
    for name, info in type(params).model_fields.items():
        names = {name, info.alias}
        choices = getattr(info.validation_alias, "choices", None) or [info.validation_alias]
        names.update(c for c in choices if isinstance(c, str))
        if key in names:
            return name, info
    return None


def _target(study: Study, path: str) -> tuple[BaseModel | None, str, str]:
    """(the params object a path points into, the key inside it, a reason when it points nowhere)."""
    parts = path.split(".")
    if parts[0] in SECTIONS and len(parts) == 2:
        return getattr(study, parts[0]), parts[1], ""
    if parts[0] in ("factors", "always") and len(parts) == 3:
        pool = ({f.name: f for f in study.factors} if parts[0] == "factors" else dict(study.always))
        if parts[1] not in pool:
            return None, "", f"the study has no {parts[0][:-1] if parts[0] == 'factors' else 'always'} entry " \
                             f"'{parts[1]}' (it has: {', '.join(pool) or 'none'})"
        entry = pool[parts[1]]
        if isinstance(entry, Factor):
            if not entry.two_level:
                return None, "", f"factor '{parts[1]}' lists levels, which the ablation compares; it cannot " \
                                 "also be tuned"
            entry = entry.levels[1]
        return entry, parts[2], ""
    return None, "", ("a tuned setting is `model|data|train.<field>` or `factors|always.<regularizer>.<field>`, "
                      "e.g. train.lr or factors.l2.lambda")


def _numeric(info) -> type | None:
    """int or float for a numeric setting (also `int | None`); None for anything else (bool included)."""
    ann = info.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)] if typing.get_args(ann) else [ann]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def check_tune(study: Study, problems: Problems) -> None:
    """Every tuned path exists, is numeric, both ends of its range are valid settings, and it is on."""
    spec: TuneSpec = study.tune
    names = [f.name for f in study.factors]
    unknown = [n for n in spec.arm if n not in names] if isinstance(spec.arm, tuple) else []
    for name in unknown:
        problems.append(("tune.arm", f"the tune arm lists factors; '{name}' is not one (factors: "
                         f"{', '.join(names)})", name))
    arm = tune_arm(study)
    on = {f.name for f, i in zip(study.factors, arm.levels) if f.levels[i] is not None}
    for path, rng in spec.params.items():
        where = f"tune.params.{path}"
        params, key, why = _target(study, path)
        if params is None:
            problems.append((where, why, path))
            continue
        found = _field(params, key)
        if found is None:
            fields = ", ".join(i.alias or n for n, i in type(params).model_fields.items() if n != "name")
            problems.append((where, f"'{key}' is not a setting of {path.rsplit('.', 1)[0]} (its settings: "
                             f"{fields or 'none'})", key))
            continue
        kind = _numeric(found[1])
        if kind is None:
            problems.append((where, f"only numeric settings can be tuned; {path} is {found[1].annotation}", key))
            continue
        if kind is int and not (float(rng.low).is_integer() and float(rng.high).is_integer()):
            problems.append((where, f"{path} is an integer setting, so low and high must be integers",
                             (rng.low, rng.high)))
            continue
        if path.startswith("factors.") and path.split(".")[1] not in on:
            problems.append((where, f"factor '{path.split('.')[1]}' is off in the tune arm "
                             f"('{arm.name}'), so its setting would not be tried", path))
            continue
        for end in ("low", "high"):
            try:
                _replace(params, key, kind(getattr(rng, end)))
            except ValidationError as e:
                rule = e.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
                problems.append((f"{where}.{end}", f"{end}={getattr(rng, end):g} is not a valid {path}: {rule}",
                                 getattr(rng, end)))


def search_space(study: Study) -> dict[str, tuple[type, float, float, bool]]:
    """path -> (int or float, low, high, log): what search.py hands Optuna's suggest_* calls."""
    out = {}
    for path, rng in study.tune.params.items():
        params, key, _ = _target(study, path)
        kind = _numeric(_field(params, key)[1])
        out[path] = (kind, kind(rng.low), kind(rng.high), rng.log)
    return out


def _replace(params: BaseModel, key: str, value) -> BaseModel:
    """A copy of `params` with one setting changed, validated again (so ranges cannot sneak past rules)."""
    name, info = _field(params, key)
    data = params.model_dump(by_alias=True)
    data.pop(info.alias or name, None)
    data[info.alias or name] = value
    return type(params).model_validate(data)


def apply_tuned(study: Study, values: dict[str, float], epochs: int | None = None) -> Study:
    """The study with tuned values substituted; it keeps the file's hash as its identity.

    Cells built from it log the substituted settings as their params (reg.l2.lambda, train.lr), and the
    frozen values themselves are recorded once on the parent run.
    """
    changes: dict[str, Any] = {}
    factors = {f.name: f for f in study.factors}
    always = dict(study.always)
    sections = {s: getattr(study, s) for s in SECTIONS}
    for path, value in values.items():
        parts = path.split(".")
        if parts[0] in SECTIONS:
            kind = _numeric(_field(sections[parts[0]], parts[1])[1])
            sections[parts[0]] = _replace(sections[parts[0]], parts[1], kind(value))
        elif parts[0] == "factors":
            f = factors[parts[1]]
            kind = _numeric(_field(f.levels[1], parts[2])[1])
            factors[parts[1]] = dataclasses.replace(f, levels=(None, _replace(f.levels[1], parts[2], kind(value))))
        else:
            kind = _numeric(_field(always[parts[1]], parts[2])[1])
            always[parts[1]] = _replace(always[parts[1]], parts[2], kind(value))
    if epochs is not None:
        sections["train"] = _replace(sections["train"], "epochs", epochs)
    changes.update(sections, factors=tuple(factors[f.name] for f in study.factors), always=tuple(always.items()))
    return dataclasses.replace(study, **changes, tuned=tuple(sorted(values.items())), identity=study.study_hash)


def tune_cell(study: Study, values: dict[str, float]) -> Cell:
    """The cell one tune trial trains: the tune arm, the tune seed, the sampled values."""
    from ablate.study import Cell

    tuned = apply_tuned(study, values, epochs=study.tune.epochs)
    return Cell(tuned, tune_arm(study), tune_seed(study))
