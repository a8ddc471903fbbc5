"""Leave one out: every factor on, then each one left out; a factor's contribution is what removing it costs."""

from __future__ import annotations

from ablate.designs.base import DESIGNS, Design, top_levels, unique_arms


@DESIGNS.register("loco")
class LeaveOneOut(Design):
    name = "loco"
    summary = "all factors on, then each one left out"
    analyses = ("vs_baseline", "contribution")

    def contributions(self, factors):
        every = [f.name for f in factors]
        return {f.name: (every, [g for g in every if g != f.name]) for f in factors}

    def count(self, factors, limit=None):
        return len(factors) + 1  # at most: two rows coincide only for a study of one factor

    def arms(self, factors):
        top = top_levels(factors)
        rows = [top] + [tuple(0 if j == i else t for j, t in enumerate(top)) for i in range(len(factors))]
        return unique_arms(factors, rows)
