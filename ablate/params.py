"""The base of every pydantic model a study file fills in: unknown keys are errors, values are frozen, a
YAML `true`/`false` is never taken as a number (pydantic's lax mode reads `batch_size: true` as 1), every
float is finite (`.inf` and `.nan` are YAML floats too) and no whole number leaves the int64 range (torch,
numpy and every store take int64; `split_seed: 1e23` would fail later, in every cell)."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _accepts_bool(annotation: object) -> bool:
    if annotation is bool:
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) or typing.get_origin(annotation) is \
            typing.Annotated:
        return any(_accepts_bool(a) for a in args)
    if typing.get_origin(annotation) is typing.Literal:
        return any(isinstance(a, bool) for a in args)
    return annotation in (object, typing.Any)


INT64_MAX = 2**63 - 1


def _accepts_float(annotation: object) -> bool:
    if annotation is float:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated, list, tuple):
        return any(_accepts_float(a) for a in typing.get_args(annotation))
    return annotation in (object, typing.Any)


def _numeric(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated, list, tuple):
        return any(_numeric(a) for a in typing.get_args(annotation))
    return False


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is None or not _numeric(field.annotation) or _accepts_bool(field.annotation):
            return value
        flat = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, bool) for v in flat):
            raise ValueError("expected a number, not true/false")
        whole = lambda v: isinstance(v, int) or (isinstance(v, float) and not _accepts_float(field.annotation))  # noqa: E731
        if any(whole(v) and abs(v) > INT64_MAX for v in flat if isinstance(v, (int, float))):
            raise ValueError(f"a whole number must lie within +-{INT64_MAX} (int64)")
        return value
