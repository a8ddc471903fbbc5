"""Add one: the baseline, then each factor alone; a factor's contribution is what adding it alone gives."""

from __future__ import annotations

from ablate.designs.base import DESIGNS, Design, unique_arms


@DESIGNS.register("add_one")
class AddOne(Design):
    name = "add_one"
    summary = "the baseline, then each factor alone"
    analyses = ("vs_baseline", "contribution")

    def contributions(self, factors):
        return {f.name: ([f.name], []) for f in factors}

    def count(self, factors, limit=None):
        return len(factors) + 1  # at most: two rows coincide only for a study of one factor

    def arms(self, factors):
        n = len(factors)
        rows = [(0,) * n] + [tuple(len(f.levels) - 1 if j == i else 0 for j, f in enumerate(factors))
                             for i in range(n)]
        return unique_arms(factors, rows)
