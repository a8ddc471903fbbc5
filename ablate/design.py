"""Designs choose arms from factors. A design is a registered object with ``arms(factors, spec)``.

A factor has levels; level 0 of a two-level factor is ``None`` (off) and level 1 its params (on). An arm is
one level index per factor, in the study's factor order, so cells pair across arms by seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ablate.errors import UnknownName
from ablate.registry import Registry


@dataclass(frozen=True)
class Factor:
    name: str
    levels: tuple[BaseModel | None, ...]  # (None, params) for a two-level on/off factor

    @property
    def two_level(self) -> bool:
        return len(self.levels) == 2 and self.levels[0] is None


@dataclass(frozen=True)
class Arm:
    name: str
    levels: tuple[int, ...]  # one level index per factor

    def on(self, factors: tuple[Factor, ...]) -> dict[str, bool]:
        return {f.name: f.levels[i] is not None for f, i in zip(factors, self.levels)}


class DesignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "full_factorial"
    arms: tuple[tuple[str, ...], ...] | None = Field(
        None, description="explicit: the arms, each a list of factor names that are on ([] = baseline)"
    )
    resolution: int | None = Field(None, ge=3, le=8, description="fractional: the design's resolution")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DESIGNS:
            raise ValueError(str(UnknownName("design", v, DESIGNS.names())))
        return v


def arm_name(factors: tuple[Factor, ...], levels: tuple[int, ...]) -> str:
    parts = []
    for f, i in zip(factors, levels):
        if f.two_level:
            if i == 1:
                parts.append(f.name)
        else:
            parts.append(f"{f.name}={level_label(f, i)}")
    return "+".join(parts) or "baseline"


def level_label(f: Factor, i: int) -> str:
    p = f.levels[i]
    if p is None:
        return "off"
    vals = list(p.model_dump().values())
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals) or "on"


class Design:
    name: ClassVar[str]
    summary: ClassVar[str] = ""

    def arms(self, factors: tuple[Factor, ...], spec: DesignSpec) -> list[Arm]:  # pragma: no cover
        raise NotImplementedError


DESIGNS: Registry[type[Design]] = Registry("design")


def _arms(factors, level_lists) -> list[Arm]:
    seen, out = set(), []
    for levels in level_lists:
        levels = tuple(levels)
        if levels not in seen:
            seen.add(levels)
            out.append(Arm(arm_name(factors, levels), levels))
    return out


@DESIGNS.register("full_factorial")
class FullFactorial(Design):
    name = "full_factorial"
    summary = "every combination of every factor's levels"

    def arms(self, factors, spec):
        return _arms(factors, itertools.product(*(range(len(f.levels)) for f in factors)))


@DESIGNS.register("loco")
class LeaveOneOut(Design):
    name = "loco"
    summary = "all factors on, then each one left out"

    def arms(self, factors, spec):
        top = tuple(len(f.levels) - 1 for f in factors)
        rows = [top] + [tuple(0 if j == i else t for j, t in enumerate(top)) for i in range(len(factors))]
        return _arms(factors, rows)


@DESIGNS.register("add_one")
class AddOne(Design):
    name = "add_one"
    summary = "the baseline, then each factor alone"

    def arms(self, factors, spec):
        n = len(factors)
        rows = [(0,) * n] + [tuple(len(f.levels) - 1 if j == i else 0 for j, f in enumerate(factors))
                             for i in range(n)]
        return _arms(factors, rows)


@DESIGNS.register("explicit")
class Explicit(Design):
    name = "explicit"
    summary = "the arms listed in design.arms, each a list of factors that are on"

    def arms(self, factors, spec):
        index = {f.name: i for i, f in enumerate(factors)}
        rows = []
        for arm in spec.arms or ():
            levels = [0] * len(factors)
            for name in arm:
                levels[index[name]] = len(factors[index[name]].levels) - 1
            rows.append(levels)
        return _arms(factors, rows)
