"""Plackett-Burman: a two-level screening design of N runs (a multiple of 4 above the factor count).

For k on/off factors it runs N >= k + 1 arms instead of 2^k, and every main effect is estimated from all
of them (the columns are balanced and orthogonal). The price: each two-way interaction is correlated with
main effects (partially, |r| = 1/3 at N = 12; completely at some main effects when N is a power of 2, where
the design is a regular resolution-III fraction), so the design estimates main effects only, under the
assumption that interactions are small. That is what it is for: screening many regularizers to find the
few worth a full factorial.
"""

from __future__ import annotations

import itertools

from ablate.designs.base import DESIGNS, Design, only_two_level, unique_arms
from ablate.study import Factor


@DESIGNS.register("plackett_burman")
class PlackettBurman(Design):
    name = "plackett_burman"
    summary = "a two-level screening design: N runs (a multiple of 4 >= factors + 1), main effects only"
    analyses = ("vs_baseline", "factorial")

    @classmethod
    def problems(cls, factors, params):
        if len(factors) < 2:
            return [("design", "a Plackett-Burman screen needs at least 2 factors (for one, use "
                     "full_factorial)", cls.name)]
        return only_two_level(cls.name, factors)

    def count(self, factors, limit=None):
        return pb_runs(len(factors))

    def arms(self, factors):
        return unique_arms(factors, pb_rows(len(factors)))

    def record(self, factors, arms):
        out = super().record(factors, arms)
        out["estimable"] = [f.name for f in factors]  # main effects only, by the design's assumption
        out["aliasing"] = interaction_aliasing(factors, arms)
        return out

    def describe(self, factors, arms):
        a = interaction_aliasing(factors, arms)
        return [f"plackett_burman design: {len(arms)} of {2 ** len(factors)} arms; main effects only: {a['statement']}"]


def pb_runs(k: int) -> int:
    """Runs for k factors: the smallest multiple of 4 above k that pyDOE3's pbdesign builds (2^e, 12 * 2^e or
    20 * 2^e runs; Hadamard matrices of other orders, such as 28 or 36, are not built there)."""
    n = 4 * (k // 4 + 1)
    while not any(n % base == 0 and _power_of_two(n // base) for base in (1, 12, 20)):
        n += 4
    return n


def _power_of_two(m: int) -> bool:
    return m >= 1 and m & (m - 1) == 0


def pb_rows(k: int) -> list[tuple[int, ...]]:
    """Level rows (0 = off, 1 = on) of the Plackett-Burman design for k factors: k columns of pyDOE3's
    pbdesign for pb_runs(k) runs, each column's sign flipped so one run is all off (the baseline arm, which
    paired comparisons need; a sign flip relabels a factor's levels and keeps the columns orthogonal)."""
    import numpy as np
    from pyDOE3 import pbdesign

    matrix = np.asarray(pbdesign(pb_runs(k) - 1), dtype=int)[:, :k]
    matrix = matrix * -matrix[0]  # row 0 becomes all -1: the baseline
    return sorted({tuple(int(v > 0) for v in row) for row in matrix}, key=lambda r: (sum(r), r))


def interaction_aliasing(factors: tuple[Factor, ...], arms) -> dict[str, object]:
    """How the two-way interactions load on the main effects: the largest |correlation| between an
    interaction's +/-1 column and a main effect's over the arms, and that in words."""
    import numpy as np

    signs = np.array([[1 if i else -1 for i in a.levels] for a in arms], dtype=float)
    worst = 0.0
    for a, b in itertools.combinations(range(len(factors)), 2):
        pair = signs[:, a] * signs[:, b]
        worst = max(worst, float(np.abs(signs.T @ pair).max()) / len(arms))
    kind = "not" if worst < 1e-9 else "completely" if worst > 1 - 1e-9 else "partially"
    statement = (f"two-way interactions are {kind} aliased with main effects (largest |correlation| "
                 f"{worst:.2g}), so each main effect assumes the interactions are negligible")
    return {"runs": len(arms), "interactions": kind, "max_abs_correlation": round(worst, 4),
            "statement": statement}
