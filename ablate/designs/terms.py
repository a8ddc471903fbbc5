"""What a set of two-level or multi-level arms can estimate, and what a two-level design confounds.

Shared by every design's record: `estimable_terms` says which main effects and two-way interactions the
arms separate (so the report never fits what the design cannot), and `alias_structure` lists the alias
chains and defining relation of a two-level design.
"""

from __future__ import annotations

import itertools

from ablate.study import Arm, Factor


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
