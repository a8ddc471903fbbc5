"""The arms a study lists by hand, each a set of factors that are on (a factor on runs at its top level)."""

from __future__ import annotations

from pydantic import Field

from ablate.designs.base import DESIGNS, Design, unique_arms
from ablate.errors import UnknownName
from ablate.params import StrictModel


class ExplicitParams(StrictModel):
    arms: tuple[tuple[str, ...], ...] | None = Field(
        None, description="the arms, each a list of factor names that are on ([] = baseline)")


@DESIGNS.register("explicit")
class Explicit(Design):
    name = "explicit"
    summary = "the arms listed in design.arms, each a list of factors that are on"
    Params = ExplicitParams

    @classmethod
    def problems(cls, factors, params):
        if not params.arms:
            return [("design.arms", "the explicit design needs a non-empty list of arms", params.arms)]
        names = [f.name for f in factors]
        out, seen = [], set()
        for i, arm in enumerate(params.arms):
            for name in arm:
                if name not in names:
                    hint = str(UnknownName("factor", name, names))
                    out.append((f"design.arms.{i}", f"an arm may only list the study's factors: {hint}", name))
            key = frozenset(arm)
            if key in seen:
                out.append((f"design.arms.{i}", "arms must be distinct", list(arm)))
            if len(set(arm)) != len(arm):
                out.append((f"design.arms.{i}", "an arm lists each factor at most once", list(arm)))
            seen.add(key)
        return out

    def count(self, factors, limit=None):
        return len(self.params.arms or ())

    def arms(self, factors):
        index = {f.name: i for i, f in enumerate(factors)}
        rows = []
        for arm in self.params.arms or ():
            levels = [0] * len(factors)
            for name in arm:
                levels[index[name]] = len(factors[index[name]].levels) - 1
            rows.append(levels)
        return unique_arms(factors, rows)
