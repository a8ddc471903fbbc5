"""Studies with known answers, as in-memory `Results` (no store): for statistics tests and simulations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from synthetic import design_record

from ablate.report.results import Results, StudyInfo


def results_from_cells(
    cells: pd.DataFrame, factors, design="full_factorial", direction="maximize"
) -> Results:
    """Wrap a cells table (arm, seed, factor columns, test_acc) as Results; arm order = first appearance."""
    cells = cells.copy()
    cells["run_id"] = [f"r{i}" for i in range(len(cells))]
    cells["cell_id"] = cells["arm"] + "/" + cells["seed"].astype(str)
    cells["phase"] = "ablate"
    if "status" not in cells:
        cells["status"] = "FINISHED"
    arms = tuple(dict.fromkeys(cells["arm"]))
    study = StudyInfo(
        study="sim",
        run_id="p",
        arms=arms,
        factors=tuple(factors),
        design=design,
        design_record=design_record(design, factors),
        seeds=tuple(sorted(set(cells["seed"]))),
        direction=direction,
    )
    history = pd.DataFrame(columns=["run_id", "arm", "seed", "epoch", "metric", "value"])
    return Results(study=study, cells=cells, history=history, weights={}, params={})


def arm_name(on: dict[str, bool]) -> str:
    return "+".join(f for f, v in on.items() if v) or "baseline"


def simulate(
    effects: dict[str, float],
    seeds: int = 3,
    noise: float = 0.01,
    rng=None,
    design="full_factorial",
    interactions: dict[tuple[str, str], float] | None = None,
    seed_sd: float = 0.02,
) -> Results:
    """metric = 0.8 + seed offset + sum of effects of factors on (+ interactions) + N(0, noise)."""
    rng = rng or np.random.default_rng(0)
    factors = list(effects)
    if design == "full_factorial":
        combos = [
            dict(zip(factors, bits, strict=True))
            for bits in itertools.product([False, True], repeat=len(factors))
        ]
    elif design == "loco":
        combos = [{f: True for f in factors}] + [{f: f != g for f in factors} for g in factors]
    elif design == "add_one":
        combos = [{f: False for f in factors}] + [{f: f == g for f in factors} for g in factors]
    else:
        raise ValueError(design)
    offsets = rng.normal(0, seed_sd, seeds)
    rows = []
    for on in sorted(combos, key=lambda c: sum(c.values())):
        for s in range(seeds):
            y = 0.8 + offsets[s] + sum(effects[f] for f in factors if on[f]) + rng.normal(0, noise)
            y += sum(v for (a, b), v in (interactions or {}).items() if on[a] and on[b])
            rows.append({"arm": arm_name(on), "seed": s, **on, "test_acc": y})
    return results_from_cells(pd.DataFrame(rows), factors, design)
