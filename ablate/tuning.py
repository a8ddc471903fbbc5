"""The tune phase's config side, without Optuna: the tune arm and seed, the search space, tuned values -> a Study.

Tune, then ablate: a few settings (a factor's strength, the learning rate) are searched on one arm (by default
every factor on) against the *validation* metric, the best values are frozen, and only then does every cell of
the ablation run with them. Tuning on validation and judging the ablation on test keeps the tuned strengths
from flattering the arms. The study's identity (its hash) stays that of the file; the frozen values are
recorded beside it. The rules of a `tune:` block live in validate.py; the Optuna side (sampling, pruning,
storage) in the scheduler.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

from pydantic import BaseModel

from ablate.spec import TUNE_METRICS
from ablate.study import Arm, Cell, Factor, Study, arm_name

__all__ = ["SECTIONS", "TUNE_METRICS", "apply_tuned", "objective", "search_space", "setting", "numeric_kind",
           "replace_setting", "target", "tune_arm", "tune_cell", "tune_seed"]

SECTIONS = ("model", "data", "train")  # `<section>.<field>`; factors/always take `<section>.<name>.<field>`


def tune_seed(study: Study) -> int:
    spec = study.tune
    return spec.seed if spec.seed is not None else max(study.possible_seeds) + 1


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
def setting(params: BaseModel, key: str) -> tuple[str, Any] | None:
    """(field name, FieldInfo) of a params model for a key given by name, alias or alias choice."""
    for name, info in type(params).model_fields.items():
        names = {name, info.alias}
        choices = getattr(info.validation_alias, "choices", None) or [info.validation_alias]
        names.update(c for c in choices if isinstance(c, str))
        if key in names:
            return name, info
    return None


def target(study: Study, path: str) -> tuple[BaseModel | None, str, str]:
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


def numeric_kind(info) -> type | None:
    """int or float for a numeric setting (also `int | None`); None for anything else (bool included)."""
    ann = info.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)] if typing.get_args(ann) else [ann]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def search_space(study: Study) -> dict[str, tuple[type, float, float, bool]]:
    """path -> (int or float, low, high, log): what the scheduler hands Optuna's suggest_* calls."""
    out = {}
    for path, rng in study.tune.params.items():
        params, key, _ = target(study, path)
        kind = numeric_kind(setting(params, key)[1])
        out[path] = (kind, kind(rng.low), kind(rng.high), rng.log)
    return out


def replace_setting(params: BaseModel, key: str, value) -> BaseModel:
    """A copy of `params` with one setting changed, validated again (so ranges cannot sneak past rules)."""
    name, info = setting(params, key)
    data = params.model_dump(by_alias=True)
    data.pop(info.alias or name, None)
    data[info.alias or name] = value
    return type(params).model_validate(data)


def apply_tuned(study: Study, values: dict[str, float], epochs: int | None = None) -> Study:
    """The study with tuned values substituted; its study_hash stays the file's, the values go in `tuned`.

    Cells built from it log the substituted settings as their params (reg.l2.lambda, train.lr), and the
    frozen values themselves are recorded once on the parent run.
    """
    factors = {f.name: f for f in study.factors}
    always = dict(study.always)
    sections = {s: getattr(study, s) for s in SECTIONS}
    for path, value in values.items():
        parts = path.split(".")
        if parts[0] in SECTIONS:
            kind = numeric_kind(setting(sections[parts[0]], parts[1])[1])
            sections[parts[0]] = replace_setting(sections[parts[0]], parts[1], kind(value))
        elif parts[0] == "factors":
            f = factors[parts[1]]
            kind = numeric_kind(setting(f.levels[1], parts[2])[1])
            new = replace_setting(f.levels[1], parts[2], kind(value))
            factors[parts[1]] = dataclasses.replace(f, levels=(None, new))
        else:
            kind = numeric_kind(setting(always[parts[1]], parts[2])[1])
            always[parts[1]] = replace_setting(always[parts[1]], parts[2], kind(value))
    if epochs is not None:
        sections["train"] = replace_setting(sections["train"], "epochs", epochs)
    return dataclasses.replace(study, **sections, factors=tuple(factors[f.name] for f in study.factors),
                               always=tuple(always.items()), tuned=tuple(sorted(values.items())))


def tune_cell(study: Study, values: dict[str, float]) -> Cell:
    """The cell one tune trial trains: the tune arm, the tune seed, the sampled values."""
    tuned = apply_tuned(study, values, epochs=study.tune.epochs)
    return Cell(tuned, tune_arm(study), tune_seed(study))
