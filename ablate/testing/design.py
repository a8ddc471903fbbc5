"""The design contract: on a study of five two-level factors, its arms are distinct and named from their
levels, the baseline is among them when the design's comparisons need it, `record` survives a
JSON round trip and says only what the report can compute, and its canonical form keeps the hashed keys."""

from __future__ import annotations

import itertools
import json

from ablate.designs import DESIGNS
from ablate.designs.base import LEGACY_CANONICAL
from ablate.errors import StudyError
from ablate.study import arm_name
from ablate.testing.base import ContractError, resolve
from ablate.validate import validate_study

FACTORS = {"l2": {"lambda": 1e-3}, "l1": {"lambda": 1e-5}, "dropout": {"p": 0.3}, "spatial_dropout": {"p": 0.1},
           "batchnorm": {}}
ANALYSES = {"vs_baseline", "factorial", "contribution"}  # what the report knows how to compute
STUDY = {"name": "design_contract", "model": {"name": "cnn", "width": 2}, "data": {"name": "digits"},
         "train": {"epochs": 1}, "seeds": 2}


def check_design(design, options: dict | None = None, factors: dict | None = None):
    """Raise ContractError unless the design keeps its contract on `factors` (default: five two-level ones)
    with `options` (its `design:` settings beside the name); returns the validated study."""
    name, cls = resolve(DESIGNS, design, "design")
    factors = dict(FACTORS if factors is None else factors)
    try:
        study = validate_study({**STUDY, "factors": factors, "design": {"name": name, **(options or {})}})
    except StudyError as e:
        raise ContractError(f"design '{name}' with options {options or {}} rejects a valid study: {e}") from e
    if not isinstance(study.design, cls):
        raise ContractError(f"design '{name}': the study's design is {type(study.design).__name__}, not {cls.__name__}")
    arms = study.arms()
    if not arms or len({a.levels for a in arms}) != len(arms):
        raise ContractError(f"design '{name}': `arms` must list distinct arms, got {[a.name for a in arms]}")
    wrong = [a.name for a in arms if a.name != arm_name(study.factors, a.levels)]
    if wrong:
        raise ContractError(f"design '{name}': `arms` must name each arm from its levels (arm_name), not {wrong}")
    if len(study.cells()) != len(arms) * len(study.seeds):
        raise ContractError(f"design '{name}': {len(study.cells())} cells for {len(arms)} arms x "
                            f"{len(study.seeds)} seeds")
    record = study.design_record(arms)
    _check_record(name, cls, record, factors, arms)
    if not all(isinstance(line, str) for line in study.design.describe(study.factors, arms)):
        raise ContractError(f"design '{name}': `describe` must return lines of text")
    canonical = study.design.canonical()
    if canonical.get("name") != name or not set(LEGACY_CANONICAL) <= set(canonical):
        raise ContractError(f"design '{name}': `canonical` must keep 'name' and {sorted(LEGACY_CANONICAL)} (the "
                            f"study hash covers them), got {sorted(canonical)}")
    if not cls.summary:
        raise ContractError(f"design '{name}' needs a `summary` (one line for `ablate list`)")
    return study


def _check_record(name: str, cls, record: dict, factors: dict, arms) -> None:
    try:
        same = json.loads(json.dumps(record)) == record
    except (TypeError, ValueError) as e:
        raise ContractError(f"design '{name}': `record` must be JSON-able ({e})") from e
    if not same:
        raise ContractError(f"design '{name}': `record` changes in a JSON round trip (tuples? non-string keys?)")
    analyses = record.get("analyses", [])
    if not analyses or not set(analyses) <= ANALYSES or list(analyses) != list(cls.analyses):
        raise ContractError(f"design '{name}': `record`'s analyses {analyses} must be its declared `analyses: "
                            f"{list(cls.analyses)}`, some of {sorted(ANALYSES)}")
    # arm-vs-baseline comparisons need the baseline, unless contributions give the comparisons (leave-one-out
    # declares vs_baseline with no baseline arm: the report then compares nothing against a baseline)
    if "vs_baseline" in analyses and "contribution" not in analyses and not any(not any(a.levels) for a in arms):
        raise ContractError(f"design '{name}' declares `analyses: {list(analyses)}`, but `arms` has no baseline "
                            f"(every factor off) to compare against")
    terms = {":".join(c) for k in (1, 2) for c in itertools.combinations(factors, k)}
    if not set(record.get("estimable", [])) <= terms:
        raise ContractError(f"design '{name}': `record`'s estimable terms {record.get('estimable')} must be main "
                            f"effects or two-way interactions of the factors")
    if "contribution" in analyses and set(record.get("contributions", {})) != set(factors):
        raise ContractError(f"design '{name}' declares the 'contribution' analysis, so `contributions` must give a "
                            f"pair of arms for every factor, got {sorted(record.get('contributions', {}))}")
