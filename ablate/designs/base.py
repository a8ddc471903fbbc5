"""The design extension point: a design is a registered class with typed Params that chooses arms.

Shaped like a regularizer (ablate/regularizers/base.py): `name`, a `Params` model for the options a study's
`design:` mapping may give, and methods with sensible defaults. A design also says what its cells can
answer (`analyses`, read by the report instead of the design's name) and what the report needs to know
about its arms (`record`). Adding a design = one file in this package + one import in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from pydantic import BaseModel

from ablate.designs.terms import estimable_terms
from ablate.errors import Problems
from ablate.params import StrictModel
from ablate.registry import Registry
from ablate.study import Arm, Factor, arm_name, level_label

# The fields of the single options model designs had before each declared its own Params. A study's hash
# covers its design's canonical form, which keeps these keys (None when a design does not take them) so that
# the hash of every study written before stays what it was.
LEGACY_CANONICAL = {"arms": None, "resolution": None}


class NoParams(StrictModel):
    pass


class Design:
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    summary: ClassVar[str] = ""  # one line for `ablate list`
    # what the report may compute from this design's cells: "vs_baseline" (paired arm-vs-baseline
    # differences), "factorial" (OLS main effects, and interactions where `estimable`), "contribution"
    # (each factor's paired contribution, from the arms `contributions` names)
    analyses: ClassVar[tuple[str, ...]] = ("vs_baseline",)

    def __init__(self, params: BaseModel | None = None):
        self.params = self.Params() if params is None else params

    # a design is a value, as the options model it replaced was: two validations of a file compare equal
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.params == self.params

    def __hash__(self) -> int:
        return hash((type(self), self.params))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    @classmethod
    def problems(cls, factors: tuple[Factor, ...], params: BaseModel) -> Problems:
        """Rules the options must keep given the study's factors, as (field path, rule, given value)."""
        return []

    def arms(self, factors: tuple[Factor, ...]) -> list[Arm]:  # pragma: no cover
        raise NotImplementedError

    def count(self, factors: tuple[Factor, ...], limit: int | None = None) -> int:
        """How many arms arms() lists (or any number above `limit`, when there are more), found without
        listing them where that could be large, so the cell cap is checked before a huge design is built
        (6 factors of 100 levels are 10^12 arms)."""
        return len(self.arms(factors))

    def too_many(self, factors: tuple[Factor, ...], seeds: int, max_cells: int) -> str | None:
        """'N arms x S seeds = C' when the cells would exceed max_cells, else None; counted, never listed.
        A design may stop counting past the limit: then it is 'more than L arms x S seeds'."""
        limit = max_cells // seeds
        count = self.count(factors, limit)
        if count <= limit:
            return None
        if count * seeds > max_cells + seeds:
            return f"{count} arms x {seeds} seeds = {count * seeds}"
        return f"more than {limit} arms x {seeds} seeds"

    def contributions(self, factors: tuple[Factor, ...]) -> dict[str, tuple[list[str], list[str]]]:
        """factor -> (the factors on with it, the factors on without it): the pair of arms whose paired
        difference is that factor's contribution (the "contribution" analysis)."""
        return {}

    def record(self, factors: tuple[Factor, ...], arms: list[Arm]) -> dict[str, object]:
        """What the report needs to know about the design, as JSON-able values for the parent run.

        `estimable`: the terms the report may fit; `analyses`: what the report may compute; `levels`: each
        multi-level factor's labels in level order (so plots order them as the file did); `contributions`:
        per factor, the factor sets of the two arms whose paired difference is its contribution.
        """
        out: dict[str, object] = {"estimable": estimable_terms(factors, arms), "analyses": list(self.analyses)}
        if "contribution" in self.analyses:
            out["contributions"] = {k: [list(a), list(b)] for k, (a, b) in self.contributions(factors).items()}
        levels = {f.name: [level_label(f, i) for i in range(len(f.levels))] for f in factors if not f.two_level}
        if levels:
            out["levels"] = levels
        return out

    def describe(self, factors: tuple[Factor, ...], arms: list[Arm]) -> list[str]:
        """Lines `ablate validate` prints about the design beyond its arms."""
        return []

    def canonical(self) -> dict:
        """What of the design defines the results (the study hash covers it)."""
        return {"name": self.name, **LEGACY_CANONICAL, **self.params.model_dump(mode="json")}


DESIGNS: Registry[type[Design]] = Registry("design")


def unique_arms(factors: tuple[Factor, ...], level_rows: Iterable[Iterable[int]]) -> list[Arm]:
    """Arms from level rows, in order, each distinct row once."""
    seen, out = set(), []
    for levels in level_rows:
        levels = tuple(levels)
        if levels not in seen:
            seen.add(levels)
            out.append(Arm(arm_name(factors, levels), levels))
    return out


def top_levels(factors: tuple[Factor, ...]) -> tuple[int, ...]:
    """Each factor at its last level: on, for a two-level factor."""
    return tuple(len(f.levels) - 1 for f in factors)


def only_two_level(design: str, factors: tuple[Factor, ...]) -> Problems:
    """The rule of designs built from +/-1 columns: no factor may list levels."""
    listed = [f.name for f in factors if not f.two_level]
    if not listed:
        return []
    return [("design", f"the {design} design takes two-level (on/off) factors only, but these list levels: "
             f"{', '.join(listed)}", design)]
