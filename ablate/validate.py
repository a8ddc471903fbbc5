"""Every rule of a study file, collected with field paths: a raw mapping -> a Study, or a StudyError.

The shapes (ablate/spec.py) say what each section may hold; the rules here span sections and registries (a
regularizer must suit model and data, a design its factors, a tuned setting must exist and be numeric, ...).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ablate import overrides as cli_overrides
from ablate.data import DATASETS
from ablate.designs import DESIGNS
from ablate.errors import Problems, StudyError, UnknownName
from ablate.models import MODELS
from ablate.plugins import study_plugins
from ablate.regularizers import REGULARIZERS, cell_regularizers
from ablate.regularizers.applicability import fit_problems, setting_problems
from ablate.spec import DesignRef, MetricSpec, RawStudy, SeedPlan, problems_from
from ablate.study import Arm, Cell, Factor, Study, content_hash
from ablate.tuning import numeric_kind, replace_setting, setting, target, tune_arm
from ablate.yamlio import read_yaml

MAX_CELLS = 10_000


def load_study(study: str | Path | Mapping, overrides: cli_overrides.Items = (), plugins: Sequence[str] = ()) -> Study:
    """The one way in (CLI and API): a study file or a mapping shaped like one, overrides (`train.epochs=2`, or
    `{"train.epochs": 2}`) applied first -> a Study, or a StudyError naming every problem. `plugins` load beside
    the study's own (relative to the working directory; a file's own `plugins:` to its folder)."""
    path = None if isinstance(study, Mapping) else Path(study)
    raw, source = (copy.deepcopy(dict(study)), "<study>") if path is None else (read_yaml(path), str(path))
    raw = cli_overrides.apply(raw, overrides, source)
    return validate_study(raw, source=cli_overrides.described(source, overrides), plugins=plugins,
                          folder=path and path.parent)


def validate_study(raw: object, source: str = "<study>", plugins: Sequence[str] = (),
                   folder: Path | None = None) -> Study:
    """A parsed study file -> a Study, or a StudyError listing every problem (file, field path, rule, value).
    Its plugins load first (the names they register are resolved below)."""
    problems: Problems = []
    if not isinstance(raw, dict):
        raise StudyError(source, [("", "a study must be a YAML mapping (key: value lines)", raw)])
    loaded = study_plugins(raw.get("plugins", ()), source, plugins, folder=folder)
    try:
        rs = RawStudy.model_validate(raw)
    except ValidationError as e:
        _check_sections(raw, problems)  # report the registry problems too, not only the first layer
        raise StudyError(source, problems_from(e) + problems) from None

    builder, model = _entry(MODELS, rs.model, "model", problems)
    dataset, data = _entry(DATASETS, rs.data, "data", problems)
    problems.extend(data_problems := dataset.check(data) if data is not None else [])  # the files, before any store
    factors = {n: _factor(n, v, f"factors.{n}", problems) for n, v in rs.factors.items()}
    always = tuple((n, lv.levels[-1]) for n, v in rs.always.items()
                   if (lv := _factor(n, v, f"always.{n}", problems, two_level_only=True)))
    for name in rs.always:
        if name in rs.factors:
            problems.append((f"always.{name}", "a regularizer is either a factor or always on, not both", name))
    if builder and dataset:
        _check_fit(builder, dataset, rs, problems)
        if model is not None and data is not None and not data_problems:
            problems.extend(builder.check_data(model, dataset, data))
    # a factor whose own settings failed stands in as on/off, so the design judges every name the file gives
    design = _design(rs.design, tuple(f or Factor(n, (None, None)) for n, f in factors.items()), problems)
    if problems:
        raise StudyError(source, problems)

    seeds, seed_max = _seed_plan(rs.seeds, rs.metric, problems)
    study = Study(name=rs.name, description=rs.description, model=model, data=data, train=rs.train,
                  metric=rs.metric, factors=tuple(factors.values()), always=always, design=design,
                  seeds=seeds, tune=rs.tune, source=source, plugins=loaded, seed_max=seed_max)
    study = dataclasses.replace(study, study_hash=content_hash(study.canonical()))
    if _check_arms(study, problems) and study.tune is not None:
        _check_tune(study, problems)
    if problems:
        raise StudyError(source, problems)
    return study


def _check_sections(raw: dict, problems: Problems) -> None:
    for registry, field in ((MODELS, "model"), (DATASETS, "data")):
        if isinstance(raw.get(field), dict):
            _entry(registry, raw[field], field, problems)
    for section in ("factors", "always"):
        if isinstance(raw.get(section), dict):
            for name, value in raw[section].items():
                _factor(str(name), value, f"{section}.{name}", problems)
    try:
        ref = DesignRef.model_validate(raw.get("design", {}))
    except ValidationError:
        return  # the first layer already said what is wrong with its shape
    _design(ref, None, problems)


def _design(ref: DesignRef, factors: tuple[Factor, ...] | None, problems: Problems):
    """The named design with its options checked by its own Params, then its rules on the factors (when
    they are known)."""
    try:
        cls = DESIGNS.get(ref.name)
    except UnknownName as e:
        problems.append(("design.name", str(e), ref.name))
        return None
    fields = cls.Params.model_fields
    foreign = [k for k in ref.options if k not in fields]
    for key in foreign:
        takers = [n for n in DESIGNS.names() if key in DESIGNS.get(n).Params.model_fields]
        hint = (f"only the {' and '.join(takers)} design{'s take' if len(takers) > 1 else ' takes'} '{key}'"
                if takers else f"its options: {', '.join(fields) or 'none'}")
        problems.append((f"design.{key}", f"design '{ref.name}' takes no option '{key}' ({hint})",
                         ref.options[key]))
    try:
        params = cls.Params.model_validate({k: v for k, v in ref.options.items() if k not in foreign})
    except ValidationError as e:
        problems.extend(problems_from(e, "design"))
        return None
    if foreign:
        return None
    if factors is not None:
        problems.extend(cls.problems(factors, params))
    return cls(params)


def _entry(registry, spec: dict[str, Any], field: str, problems: Problems):
    name = spec.get("name")
    if not isinstance(name, str):
        problems.append((f"{field}.name", f"a {registry.kind} name is required (one of: "
                         f"{', '.join(registry.names())})", name))
        return None, None
    try:
        entry = registry.get(name)
    except UnknownName as e:
        problems.append((f"{field}.name", str(e), name))
        return None, None
    try:
        return entry, entry.Params.model_validate(spec)
    except ValidationError as e:
        problems.extend(problems_from(e, field))
        return entry, None


def _factor(name: str, value: Any, path: str, problems: Problems, two_level_only: bool = False):
    try:
        reg = REGULARIZERS.get(name)
    except UnknownName as e:
        problems.append((path, str(e), name))
        return None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.append((path, f"the settings of '{name}' must be a mapping (use {{}} for none)", value))
        return None
    listed = {k: v for k, v in value.items() if isinstance(v, list)}
    if listed:
        if two_level_only:
            problems.append((f"{path}.{next(iter(listed))}", "`always` takes one setting per regularizer, not a "
                             "list of levels (make it a factor to compare levels)", next(iter(listed.values()))))
            return None
        return _leveled_factor(name, reg, value, listed, path, problems)
    try:
        params = reg.Params.model_validate(value)
    except ValidationError as e:
        problems.extend(problems_from(e, path))
        return None
    return Factor(name, (None, params))


def _is_zero(v: Any) -> bool:
    return v is False or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0)


def _leveled_factor(name: str, reg, value: dict, listed: dict[str, list], path: str, problems: Problems):
    """A factor whose params list values: level i takes the i-th value of every list (scalars repeat).

    A level is *off* (the regularizer absent, as in a two-level factor's off arm) when all its listed values
    are zero (0, 0.0, false) and either the regularizer does not accept them (dropout's p and l2's lambda
    must be positive) or every value given for that level is zero. The off level, if any, becomes level 0,
    so `dropout: {p: [0.0, 0.25, 0.5]}` gives off, 0.25 and 0.5, and `p: [0.25, 0.5]` compares two
    strengths with no off arm.
    """
    lengths = {k: len(v) for k, v in listed.items()}
    if len(set(lengths.values())) > 1:
        problems.append((path, "every listed param must list the same number of levels (level i takes the "
                         "i-th value of each list)", lengths))
        return None
    n = next(iter(lengths.values()))
    if n < 2:
        problems.append((f"{path}.{next(iter(listed))}", "a list of levels needs at least 2 values (use a "
                         "single value for an on/off factor)", next(iter(listed.values()))))
        return None
    levels: list = []
    ok = True
    for i in range(n):
        level_setting = {**value, **{k: v[i] for k, v in listed.items()}}
        zero = all(_is_zero(v[i]) for v in listed.values())
        try:
            params = reg.Params.model_validate(level_setting)
        except ValidationError as e:
            if zero:
                levels.append(None)
                continue
            ok = False
            for p, rule, given in problems_from(e, path):
                key = p[len(path) + 1:].split(".")[0]
                problems.append((f"{p}.{i}" if key in listed else p, f"level {i}: {rule}", given))
            continue
        everything_zero = all(_is_zero(v) for v in level_setting.values())
        levels.append(None if zero and everything_zero else params)
    if not ok:
        return None
    keys = [json.dumps(None if p is None else p.model_dump(mode="json", by_alias=True), sort_keys=True)
            for p in levels]  # each level's setting as canonical JSON: a key order is no difference
    dupes = [i for i, k in enumerate(keys) if keys.count(k) > 1]
    if dupes:
        problems.append((f"{path}.{next(iter(listed))}", f"levels must be distinct (levels {dupes} are the "
                         "same setting)", next(iter(listed.values()))))
        return None
    levels.sort(key=lambda p: p is not None)  # stable: the off level first, the rest in the file's order
    return Factor(name, tuple(levels), varying=tuple(listed))


def _check_fit(builder, dataset, rs: RawStudy, problems: Problems) -> None:
    """Regularizers must apply to the model family and the data kind; the model must take the data."""
    if dataset.kind not in builder.data_kinds:
        problems.append(("model.name", f"model '{builder.name}' takes {sorted(builder.data_kinds)} data, "
                         f"but dataset '{dataset.name}' is {dataset.kind}", builder.name))
    problems.extend(fit_problems(builder, dataset, {"factors": rs.factors, "always": rs.always}))


def _seed_plan(seeds: int | list[int] | SeedPlan, metric: MetricSpec, problems: Problems):
    """(the seeds every arm runs first, the most seeds when added until decided, else None); the margin
    rules: an accuracy-like margin is a fraction (0.005 = half a point), and adding seeds needs a margin."""
    name, given = metric.name, metric.min_effect
    if given is not None and name.endswith("acc") and given >= 1:
        problems.append(("metric.min_effect", f"min_effect is in the metric's units ({name} is a fraction: "
                         "0.005 = half a point), so it must be below 1", given))
    if isinstance(seeds, SeedPlan):
        if metric.resolved_min_effect is None:
            problems.append(("seeds", f"adding seeds until decided needs metric.min_effect ({name} has no "
                             "default)", seeds.model_dump()))
        return tuple(range(seeds.initial)), seeds.max
    return (tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)), None


def _check_arms(study: Study, problems: Problems) -> bool:
    """The cell cap, from the design's arm count before any arm is listed; then the arms themselves."""
    try:
        if n := study.design.too_many(study.factors, study.seed_max or len(study.seeds), MAX_CELLS):
            problems.append(("design", f"a study may have at most {MAX_CELLS} cells (arms x seeds)", n))
            return False
        study.arms()
    except ValueError as e:
        problems.append(("design", str(e), study.design.name))
        return False
    # every factor at its top level at once: the arm where knobs could collide (it need not be in the design)
    top = Cell(study, Arm("all", tuple(len(f.levels) - 1 for f in study.factors)), study.seeds[0])
    problems.extend(setting_problems(MODELS.get(study.model.name), cell_regularizers(top), dict(study.always)))
    return True


def _check_tune(study: Study, problems: Problems) -> None:
    """Every tuned path exists, is numeric, both ends of its range are valid settings, and it is on."""
    spec = study.tune
    names = [f.name for f in study.factors]
    unknown = [n for n in spec.arm if n not in names] if isinstance(spec.arm, tuple) else []
    for name in unknown:
        problems.append(("tune.arm", f"the tune arm lists factors; '{name}' is not one (factors: "
                         f"{', '.join(names)})", name))
    arm = tune_arm(study)
    on = {f.name for f, i in zip(study.factors, arm.levels) if f.levels[i] is not None}
    for path, rng in spec.params.items():
        where = f"tune.params.{path}"
        params, key, why = target(study, path)
        if params is None:
            problems.append((where, why, path))
            continue
        found = setting(params, key)
        if found is None:
            fields = ", ".join(i.alias or n for n, i in type(params).model_fields.items() if n != "name")
            problems.append((where, f"'{key}' is not a setting of {path.rsplit('.', 1)[0]} (its settings: "
                             f"{fields or 'none'})", key))
            continue
        kind = numeric_kind(found[1])
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
                replace_setting(params, key, kind(getattr(rng, end)))
            except ValidationError as e:
                rule = e.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
                problems.append((f"{where}.{end}", f"{end}={getattr(rng, end):g} is not a valid {path}: {rule}",
                                 getattr(rng, end)))
