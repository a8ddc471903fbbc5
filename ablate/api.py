"""The supported Python API (re-exported by ``ablate``): run a study from a notebook or a script, and register
the user's own models, datasets and regularizers (what a plugin file calls).

The register functions wrap the registries and pass through what an entry declares, checking the
declarations a plugin author can get wrong when the plugin is imported (so the error names the plugin's
line), not when a cell runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ablate.orchestrate import RunSummary
    from ablate.study import Study

_UNSET: Any = object()


def load_study(study, overrides=None, plugins: Sequence[str] = ()) -> Study:
    """A study file's path, or a mapping shaped like one, plus overrides: `{"train.epochs": 2}` or
    `["train.epochs=2", "~always.ema"]`, as on the command line (ablate/overrides.py) -> a Study."""
    from ablate import validate
    from ablate.study import Study

    if isinstance(study, Study):
        if overrides:
            raise TypeError("overrides apply to a study file or mapping, not to a loaded Study")
        return study
    return validate.load_study(study if isinstance(study, Mapping) else Path(study), overrides or (), plugins)


def run(study, overrides=None, workers: int = 1, *, plugins: Sequence[str] = (), storage: str | None = None,
        tracking_uri: str | None = None, report: bool = True, reports_dir: str | Path = "reports",
        quiet: bool = False, fresh: bool = False, retry_failed: bool = False) -> RunSummary:
    """Run (or resume) a study, as `ablate run` does, and return its summary (cells, failures, report path).

    `study` is a study file's path or a mapping shaped like one (a Study from load_study also works);
    `overrides` are `{"train.epochs": 2}` or `["train.epochs=2"]`. Works from a notebook or a script with
    workers > 1 and no `if __name__ == "__main__":` guard: worker processes never run the caller's code, so
    what the study uses must come from ablate itself or a plugin (a file or module, not the notebook). With
    workers=N, N cells train at a time: N-1 in worker processes, one in the calling process."""
    from ablate.errors import AblateError
    from ablate.pool import worker_context

    if workers < 0:
        raise AblateError(f"workers must be 0 (coordinate only) or more (given: {workers})")
    worker_context(workers)  # the fork server imports torch & co. while this process validates and sets up
    loaded = load_study(study, overrides, plugins)
    from ablate.orchestrate import run_study

    text = None
    if isinstance(study, str | Path):  # what the parent run keeps: the file, or the effective study
        from ablate.overrides import study_text

        text = study_text(study, overrides or ())
    return run_study(loaded, storage=storage, tracking_uri=tracking_uri, workers=workers, report=report,
                     reports_dir=reports_dir, quiet=quiet, study_text=text, fresh=fresh, retry_failed=retry_failed)


def build_report(study, tracking_uri: str | None = None, reports_dir: str | Path = "reports",
                 plugins: Sequence[str] = ()) -> Path:
    """Rebuild a study's report from MLflow alone (a study name, a study file, or a Study); its index.html."""
    from ablate.orchestrate import report_slug
    from ablate.report import build_report as build
    from ablate.study import Study
    from ablate.tracking import resolve_uri

    if isinstance(study, Study):
        name = study.name
    elif isinstance(study, Mapping) or Path(study).suffix in (".yaml", ".yml") or Path(study).is_file():
        name = load_study(study, plugins=plugins).name
    else:
        name = str(study)
    return build(name, resolve_uri(tracking_uri), Path(reports_dir) / report_slug(name))


def register_model(obj=None, *, name: str | None = None, data_kinds=None, tiny: dict | None = None,
                   summary: str | None = None):
    """Register a model: a builder function ``fn(spec, *, <knobs>, <params>) -> nn.Module`` (its keyword
    parameters named like a regularizer's knob, e.g. ``dropout``, are knobs; the others its settings) or a
    ModelBuilder class. Bare (``@ablate.register_model``) or with options; returns what it was given."""
    from ablate.models import MODELS

    def add(target):
        if isinstance(target, type):
            for key, value in (("data_kinds", data_kinds), ("tiny", tiny), ("summary", summary)):
                if value is not None:
                    setattr(target, key, frozenset(value) if key == "data_kinds" else value)
        return MODELS.register(name, data_kinds=data_kinds, tiny=tiny, summary=summary)(target)

    return add(obj) if obj is not None else add


def register_dataset(obj=None, *, name: str | None = None, summary: str | None = None):
    """Register a dataset: a loader function (its keyword parameters are its settings; it returns
    ``(x_train, y_train, x_test, y_test)`` images and labels, see ablate/data/function.py) or a Dataset class
    (``Params``, ``kind`` and ``load(params) -> Data``). Returns what it was given."""
    from ablate.data import DATASETS, Dataset
    from ablate.data.function import function_dataset

    def add(target):
        if isinstance(target, type):
            if not issubclass(target, Dataset):
                raise TypeError(f"{target.__name__}: a dataset class subclasses ablate.data.Dataset")
            if summary is not None:
                target.summary = summary
            DATASETS.register(name)(target)
        else:
            DATASETS.register()(function_dataset(target, name, summary))
        return target

    return add(obj) if obj is not None else add


def register_regularizer(cls=None, *, name: str | None = None, applies_to=_UNSET, changes=None, example=None,
                         data_kinds=None, summary: str | None = None, order: int | None = None):
    """Register a Regularizer subclass (its ``Params``, its hooks). It must declare ``changes`` (what "on"
    changes: keys of ablate.regularizers.CHANGES; the contract tests check it), an ``example`` of valid
    settings, and, if it sets model knobs (model_kwargs), the knobs in ``applies_to``; keywords given here
    set those declarations. Returns the class."""
    def add(target):
        declared = {"name": name, "changes": changes, "example": example, "data_kinds": data_kinds,
                    "summary": summary, "order": order}
        for key, value in declared.items():
            if value is not None:
                setattr(target, key, frozenset(value) if key in ("changes", "data_kinds") else value)
        if applies_to is not _UNSET:
            target.applies_to = None if applies_to is None else frozenset(applies_to)
        _check_regularizer(target)
        from ablate.models.base import KNOBS
        from ablate.regularizers import REGULARIZERS

        KNOBS.update(target.applies_to or ())
        return REGULARIZERS.register()(target)

    return add(cls) if cls is not None else add


def _check_regularizer(cls) -> None:
    from pydantic import BaseModel, ValidationError

    from ablate.regularizers import CHANGES, Regularizer

    label = getattr(cls, "__name__", repr(cls))
    if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
        raise TypeError(f"{label}: a regularizer subclasses ablate.regularizers.Regularizer")
    if not isinstance(cls.__dict__.get("name", getattr(cls, "name", None)), str):
        raise TypeError(f"{label}: a regularizer needs a `name` (the key a study's factors use)")
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, BaseModel)):
        raise TypeError(f"regularizer '{cls.name}': Params must be a pydantic model (ablate.regularizers.Params)")
    unknown = sorted(set(cls.changes) - set(CHANGES))
    if not cls.changes or unknown:
        raise TypeError(f"regularizer '{cls.name}' must declare `changes`, what switching it on changes: some of "
                        f"{sorted(CHANGES)}" + (f" (not {unknown})" if unknown else ""))
    try:
        reg = cls(cls.Params.model_validate(cls.example))
    except ValidationError as e:
        raise TypeError(f"regularizer '{cls.name}': its `example` {cls.example!r} is not valid Params ({e})") from None
    knobs = set(reg.model_kwargs())
    if knobs != set(cls.applies_to or ()):
        raise TypeError(f"regularizer '{cls.name}' sets model knobs {sorted(knobs)} (model_kwargs, with its example), "
                        f"so it must declare exactly those: applies_to={sorted(knobs) or None}")
    if knobs and "model" not in cls.changes:
        raise TypeError(f"regularizer '{cls.name}' sets model knobs, so its `changes` must include 'model'")
    if not cls.summary:
        cls.summary = (inspect.getdoc(cls) or "").strip().split("\n")[0]
