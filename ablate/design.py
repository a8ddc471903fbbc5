"""Designs choose arms from factors. A design is a registered object with ``arms(factors, spec)``.

A factor has levels; level 0 of a two-level factor is ``None`` (off) and level 1 its params (on). An arm is
one level index per factor, in the study's factor order, so cells pair across arms by seed.

Besides choosing arms, this module says what a set of arms can estimate (`estimable_terms`) and which
effects a two-level fraction confounds (`alias_structure`), so the report never fits what the design
cannot separate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from ablate.errors import UnknownName
from ablate.params import StrictModel
from ablate.registry import Registry


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


class DesignSpec(StrictModel):
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


class Design:
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    # what the report may compute from this design's cells: paired arm-vs-baseline differences always;
    # "factorial" (OLS main effects and interactions), "contribution" (each factor's paired contribution)
    analyses: ClassVar[tuple[str, ...]] = ("vs_baseline",)

    def arms(self, factors: tuple[Factor, ...], spec: DesignSpec) -> list[Arm]:  # pragma: no cover
        raise NotImplementedError

    def contributions(self, factors: tuple[Factor, ...]) -> dict[str, tuple[list[str], list[str]]]:
        """factor -> (the factors on with it, the factors on without it): the pair of arms whose paired
        difference is that factor's contribution (the "contribution" analysis)."""
        return {}


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
    analyses = ("vs_baseline", "factorial")

    def arms(self, factors, spec):
        return _arms(factors, itertools.product(*(range(len(f.levels)) for f in factors)))


@DESIGNS.register("loco")
class LeaveOneOut(Design):
    name = "loco"
    summary = "all factors on, then each one left out"
    analyses = ("vs_baseline", "contribution")

    def contributions(self, factors):
        every = [f.name for f in factors]
        return {f.name: (every, [g for g in every if g != f.name]) for f in factors}

    def arms(self, factors, spec):
        top = tuple(len(f.levels) - 1 for f in factors)
        rows = [top] + [tuple(0 if j == i else t for j, t in enumerate(top)) for i in range(len(factors))]
        return _arms(factors, rows)


@DESIGNS.register("add_one")
class AddOne(Design):
    name = "add_one"
    summary = "the baseline, then each factor alone"
    analyses = ("vs_baseline", "contribution")

    def contributions(self, factors):
        return {f.name: ([f.name], []) for f in factors}

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


@DESIGNS.register("fractional")
class Fractional(Design):
    name = "fractional"
    summary = "a two-level fractional factorial of the given resolution, fewest runs, baseline included"
    analyses = ("vs_baseline", "factorial")

    def arms(self, factors, spec):
        return _arms(factors, fractional_rows(factors, spec.resolution or 4))


def fractional_rows(factors: tuple[Factor, ...], resolution: int) -> list[tuple[int, ...]]:
    """Level rows (0 = off, 1 = on) of a regular two-level fraction with the fewest runs of at least
    `resolution`.

    The generators are searched here (fraction_generators): pyDOE3's fracfact_by_res is not minimal (7 factors
    at resolution III: 16 runs, where 8 do) and sometimes falls short of the resolution asked (7 or 8 factors
    at V: 32 runs of resolution IV). pyDOE3's fracfact builds the matrix from the generators. Flipping a
    column's sign relabels that factor's two levels, which keeps the design's word lengths (so its resolution
    and alias chains); the columns are flipped so that one run is all -1: the all-off baseline arm is always
    in the design, which paired comparisons against the baseline need. The full factorial, which has every
    resolution, is what remains when no fraction has fewer runs.
    """
    import numpy as np
    from pyDOE3 import fracfact

    not_two = [f.name for f in factors if not f.two_level]
    if not_two:
        raise ValueError(f"the fractional design takes two-level (on/off) factors only, but these list "
                         f"levels: {', '.join(not_two)}")
    n = len(factors)
    base, generators = fraction_generators(n, resolution)
    if not generators:
        return [tuple(r) for r in itertools.product((0, 1), repeat=n)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [letters[j] for j in range(base)]
    words += ["".join(letters[j] for j in range(base) if g >> j & 1) for g in generators]
    matrix = np.asarray(fracfact(" ".join(words)), dtype=int)
    matrix = matrix * -matrix[0]  # row 0 becomes all -1: the baseline
    return sorted({tuple(int(v > 0) for v in row) for row in matrix}, key=lambda r: (sum(r), r))


def fraction_generators(k: int, resolution: int, budget: int = 200_000) -> tuple[int, list[int]]:
    """(p, generators) of a 2^(k-p) fraction of at least `resolution` with the fewest runs 2^p: factors p..k-1
    are products of base factors 0..p-1, each generator a bit mask over the base factors. Searched depth
    first, longest generators first; the defining relation's shortest word must keep `resolution` letters.
    p = k (no generators) is the full factorial. A search that exceeds `budget` steps at some p goes on to
    p + 1 (more runs, never a lower resolution)."""
    for p in range(max(1, k.bit_length()), k):
        candidates = sorted((m for m in range(1, 2 ** p) if m.bit_count() >= max(2, resolution - 1)),
                            key=lambda m: (-m.bit_count(), m))
        found = _search_generators(candidates, p, k - p, resolution, [0, budget], 0, [], [])
        if found is not None:
            return p, found
    return k, []


def _search_generators(candidates: list[int], p: int, extra: int, resolution: int, steps: list[int], start: int,
                       chosen: list[int], relation: list[int]) -> list[int] | None:
    """Depth-first: add generators from candidates[start:] while every word of the defining relation (the
    products of the generator words, `relation`) keeps at least `resolution` letters."""
    if len(chosen) == extra:
        return chosen
    for i in range(start, len(candidates)):
        steps[0] += 1
        if steps[0] > steps[1]:
            return None
        word = candidates[i] | 1 << (p + len(chosen))  # the generator times its new factor
        added = [word] + [word ^ w for w in relation]
        if min(w.bit_count() for w in added) < resolution:
            continue
        found = _search_generators(candidates, p, extra, resolution, steps, i + 1, chosen + [candidates[i]],
                                   relation + added)
        if found is not None or steps[0] > steps[1]:
            return found
    return None


def _term_columns(factors: tuple[Factor, ...], arms: list[Arm], order: int) -> dict[tuple[str, ...], list]:
    """Each term up to `order` as its +/-1 contrast over the arms (two-level factors: -1 off, +1 on)."""
    import numpy as np

    signs = np.array([[1 if i else -1 for i in a.levels] for a in arms], dtype=int)
    out: dict[tuple[str, ...], list] = {}
    for k in range(1, order + 1):
        for combo in itertools.combinations(range(len(factors)), k):
            out[tuple(factors[j].name for j in combo)] = signs[:, list(combo)].prod(axis=1)
    return out


def alias_structure(factors: tuple[Factor, ...], arms: list[Arm], max_order: int = 3) -> dict:
    """Which effects a two-level design confounds: alias chains over terms up to `max_order` factors.

    Two terms are aliased when their contrasts over the arms are equal (or opposite): the data cannot tell
    them apart, and an estimate of one is an estimate of their sum (or difference). The defining relation
    lists the words aliased with the mean ('I'); its shortest word's length is the resolution.
    """
    import numpy as np

    if not all(f.two_level for f in factors):
        return {"two_level": False, "chains": [], "defining_relation": [], "resolution": None}
    n = len(factors)
    # the defining relation needs words of any length (a resolution-IV word has 4 letters); 2^16 terms at most
    columns = _term_columns(factors, arms, n if n <= 16 else min(max_order, n))
    chains: dict[bytes, list[str]] = {}
    defining = []
    for term, col in columns.items():
        name = ":".join(term)
        if np.all(col == col[0]):
            defining.append(("" if col[0] == 1 else "-") + name)
            continue
        if len(term) > max_order:
            continue
        key = (col * col[0]).tobytes()  # sign-free: A = -BCE is still an alias of A
        sign = "" if not chains.get(key) or col[0] == columns[_first(chains[key])][0] else "-"
        chains.setdefault(key, []).append(sign + name)
    aliased = [c for c in chains.values() if len(c) > 1]
    words = [len(w.lstrip("-").split(":")) for w in defining]
    return {"two_level": True, "runs": len(arms), "max_order": max_order,
            "defining_relation": defining, "resolution": min(words) if words else None,
            "chains": aliased}


def _first(chain: list[str]) -> tuple[str, ...]:
    return tuple(chain[0].lstrip("-").split(":"))


def estimable_terms(factors: tuple[Factor, ...], arms: list[Arm]) -> list[str]:
    """Main effects and two-way interactions ('a', 'a:b') that the arms can separate from each other.

    A term is estimable when its contrast columns are linearly independent of the intercept and of every
    other candidate term's columns (main effects are judged against the main-effects model alone, since
    a design that cannot separate interactions still estimates main effects under the usual assumption that
    interactions are small). Multi-level factors enter with one treatment column per non-reference level.
    """
    import numpy as np

    def dummies(j: int) -> np.ndarray:
        idx = np.array([a.levels[j] for a in arms])
        return np.stack([(idx == lv).astype(float) for lv in range(1, len(factors[j].levels))], axis=1)

    if not arms:
        return []
    n = len(factors)
    mains = {factors[j].name: dummies(j) for j in range(n)}
    pairs = {f"{factors[a].name}:{factors[b].name}":
             np.stack([mains[factors[a].name][:, i] * mains[factors[b].name][:, k]
                       for i in range(mains[factors[a].name].shape[1])
                       for k in range(mains[factors[b].name].shape[1])], axis=1)
             for a, b in itertools.combinations(range(n), 2)}
    keep = _separable(mains, len(arms))
    candidates = {**{t: mains[t] for t in keep}, **pairs}
    return keep + [t for t in _separable(candidates, len(arms)) if ":" in t and all(p in keep for p in t.split(":"))]


def _separable(columns: dict, rows: int) -> list[str]:
    """Terms whose coefficients the model intercept + all `columns` identifies.

    One SVD: a coefficient is identified exactly when every vector in the null space of the design matrix
    is zero on it (otherwise some other combination of columns reproduces it). This stays fast for the 64
    factors and 2,000 interactions a study may have, where a rank test per term would not.
    """
    import numpy as np

    names = list(columns)
    x = np.hstack([np.ones((rows, 1))] + [columns[t] for t in names])
    _, sv, vt = np.linalg.svd(x, full_matrices=True)
    tol = sv.max() * max(x.shape) * np.finfo(float).eps if sv.size else 0.0
    null = vt[int((sv > tol).sum()):]  # rows span the null space of x
    out, start = [], 1
    for t in names:
        width = columns[t].shape[1]
        if null.size == 0 or np.abs(null[:, start:start + width]).max() < 1e-8:
            out.append(t)
        start += width
    return out


def design_record(factors: tuple[Factor, ...], arms: list[Arm], design: str) -> dict[str, object]:
    """What the report needs to know about the design, as JSON-able values for the parent run.

    `levels`: each multi-level factor's labels in level order (so plots order them as the file did);
    `estimable`: the terms the report may fit; `aliases`: a fraction's alias chains (fractional only);
    `analyses`: what the report may compute; `contributions`: per factor, the factor sets of the two arms
    whose paired difference is its contribution.
    """
    entry = DESIGNS.get(design)()
    out: dict[str, object] = {"estimable": estimable_terms(factors, arms), "analyses": list(entry.analyses)}
    if "contribution" in entry.analyses:
        out["contributions"] = {k: [list(a), list(b)] for k, (a, b) in entry.contributions(factors).items()}
    levels = {f.name: [level_label(f, i) for i in range(len(f.levels))] for f in factors if not f.two_level}
    if levels:
        out["levels"] = levels
    if design == "fractional":
        out["aliases"] = alias_structure(factors, arms)
    return out
