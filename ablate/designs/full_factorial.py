"""Every combination of every factor's levels: each main effect and interaction can be estimated."""

from __future__ import annotations

import itertools
import math

from ablate.designs.base import DESIGNS, Design, unique_arms


@DESIGNS.register("full_factorial")
class FullFactorial(Design):
    name = "full_factorial"
    summary = "every combination of every factor's levels"
    analyses = ("vs_baseline", "factorial")

    def count(self, factors, limit=None):
        return math.prod(len(f.levels) for f in factors)

    def arms(self, factors):
        return unique_arms(factors, itertools.product(*(range(len(f.levels)) for f in factors)))
