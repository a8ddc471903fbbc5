"""A regular two-level fractional factorial: the fewest runs that keep a given resolution, baseline included.

The report fits main effects (and the interactions the fraction separates) and states the aliasing, which
the record carries (`aliases`: chains and defining relation from designs/terms.alias_structure).
"""

from __future__ import annotations

import functools
import itertools

from pydantic import Field

from ablate.designs.base import DESIGNS, Design, only_two_level, unique_arms
from ablate.designs.terms import alias_structure
from ablate.params import StrictModel
from ablate.study import Factor


class FractionalParams(StrictModel):
    resolution: int | None = Field(None, ge=3, le=8, description="the design's resolution (default 4)")


@DESIGNS.register("fractional")
class Fractional(Design):
    name = "fractional"
    summary = "a two-level fractional factorial of the given resolution, fewest runs, baseline included"
    Params = FractionalParams
    analyses = ("vs_baseline", "factorial")

    @classmethod
    def problems(cls, factors, params):
        return only_two_level(cls.name, factors)

    def count(self, factors, limit=None):
        runs = fraction_runs(len(factors), self.params.resolution or 4, limit)
        return runs if runs is not None else limit + 1

    def arms(self, factors):
        return unique_arms(factors, fractional_rows(factors, self.params.resolution or 4))

    def record(self, factors, arms):
        return {**super().record(factors, arms), "aliases": alias_structure(factors, arms)}

    def describe(self, factors, arms):
        a = alias_structure(factors, arms)
        return [f"fractional design, resolution {a['resolution'] or 'full'}: {len(arms)} of "
                f"{2 ** len(factors)} arms; defining relation I = {' = '.join(a['defining_relation']) or '(none)'}"]


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


WORK_CAP = 300_000_000  # defining-relation words built over one search (numpy: well under a second)


def fraction_runs(k: int, resolution: int, limit: int | None = None) -> int | None:
    """The runs of the fraction fractional_rows builds, or None when it has more than `limit` (found
    without searching past that size: a fraction of 40 factors at resolution 6 is a long search)."""
    if k <= 1:
        return 2 ** k
    for p in range(max(1, k.bit_length()), k + 1):
        if limit is not None and 2 ** p > limit:
            return None
        if p == k or fraction_generators_at(k, p, resolution) is not None:
            return 2 ** p
    return 2 ** k


def fraction_generators(k: int, resolution: int, budget: int = 200_000) -> tuple[int, list[int]]:
    """(p, generators) of a 2^(k-p) fraction with the fewest runs 2^p that keeps at least `resolution`, and
    at those runs the highest resolution there is: 8 factors at resolution III take 16 runs, and 16 runs
    hold a resolution IV design, which costs nothing more and frees every main effect from two-way
    interactions. Factors p..k-1 are products of base factors 0..p-1, each generator a bit mask over the
    base factors; the defining relation's shortest word must keep the resolution's number of letters.
    p = k (no generators) is the full factorial. A search that exceeds `budget` steps at some p goes on
    to p + 1 (more runs, never a lower resolution)."""
    for p in range(max(1, k.bit_length()), k):
        found = fraction_generators_at(k, p, resolution, budget)
        if found is None:
            continue
        for better in range(resolution + 1, k + 1):  # the same runs, a higher resolution where one exists
            if better >= 4 and k > 2 ** (p - 1):  # resolution IV holds at most 2^(p-1) factors in 2^p runs
                break
            try:
                higher = fraction_generators_at(k, p, better, budget // 10)
            except ValueError:  # too large to search: the resolution asked for is what there is
                break
            if higher is None:
                break
            found = higher
        return p, list(found)
    return k, []


@functools.lru_cache(maxsize=256)
def fraction_generators_at(k: int, p: int, resolution: int, budget: int = 200_000) -> tuple[int, ...] | None:
    """The generators of a 2^(k-p) fraction of at least `resolution`, or None (none found within budget).
    Cached: a study lists its arms several times, and the search is the same pure function each time.
    Raises ValueError past WORK_CAP (a design too large to search in seconds)."""
    candidates = sorted((m for m in range(1, 2 ** p) if m.bit_count() >= max(2, resolution - 1)),
                        key=lambda m: (-m.bit_count(), m))
    found = _search_generators(candidates, p, k - p, resolution, [0, budget, 0], 0, [], [])
    return None if found is None else tuple(found)


SMALL_RELATION = 32  # below this many words, plain ints are faster than numpy's per-call overhead


def _added_words(word: int, relation, resolution: int):
    """The words `word` adds to the defining relation, or None when one is shorter than `resolution`. A
    small relation is a list of ints, a large one a uint64 array (a study of 20 factors makes millions)."""
    if isinstance(relation, list):
        added = [word ^ w for w in relation]
        if added and min(w.bit_count() for w in added) < resolution:
            return None
        return [word, *added]
    import numpy as np

    added = np.uint64(word) ^ relation
    if int(np.bitwise_count(added).min()) < resolution:
        return None
    return np.concatenate((np.array([word], dtype=np.uint64), added))


def _grown(relation, added):
    if isinstance(relation, list) and len(relation) + len(added) < SMALL_RELATION:
        return relation + added
    import numpy as np

    return np.concatenate((np.asarray(relation, dtype=np.uint64), np.asarray(added, dtype=np.uint64)))


def _search_generators(candidates: list[int], p: int, extra: int, resolution: int, steps: list[int], start: int,
                       chosen: list[int], relation) -> list[int] | None:
    """Depth-first: add generators from candidates[start:] while every word of the defining relation (the
    products of the generator words, `relation`) keeps at least `resolution` letters."""
    if len(chosen) == extra:
        return chosen
    for i in range(start, len(candidates)):
        steps[0] += 1
        if steps[0] > steps[1]:
            return None
        word = candidates[i] | 1 << (p + len(chosen))  # the generator times its new factor
        steps[2] += len(relation) + 1
        if steps[2] > WORK_CAP:
            raise ValueError(f"a regular fraction of {p + extra} factors is too large to search for (try fewer "
                             "factors, a lower resolution, or the plackett_burman design)")
        if word.bit_count() < resolution or (added := _added_words(word, relation, resolution)) is None:
            continue
        found = _search_generators(candidates, p, extra, resolution, steps, i + 1, chosen + [candidates[i]],
                                   _grown(relation, added))
        if found is not None or steps[0] > steps[1]:
            return found
    return None
