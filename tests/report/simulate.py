"""Studies with known answers, as in-memory `Results` (no store): for statistics tests and simulations."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from synthetic import design_record

from ablate.report.results import Results, StudyInfo
from ablate.report.stats import decision, factorial, verdicts
from ablate.report.stats.basis import Basis
from ablate.report.stats.contrast import Estimate

MARGIN = 0.005  # the simulations' practical margin, in test_acc units


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


class FastFactorial:
    """ablate's factorial fit for one design, applied to many metric vectors at once."""

    def __init__(self, factors: list[str], seeds: int):
        self.template = simulate({f: 0.0 for f in factors}, seeds=seeds, noise=0.01)
        analysis = factorial.analyse(self.template)
        fit, cells = analysis.fit, analysis.cells
        self.cells, self.factors = cells, factors
        x = fit.model.x.to_numpy(float)
        self.hat = x @ fit.xtx_inv @ x.T
        self.df = fit.df_resid
        self.contrasts = {f: fit.row_mean(cells[f].astype(bool), cells["arm"])
                          - fit.row_mean(~cells[f].astype(bool), cells["arm"]) for f in factors}
        self.weights = {f: c @ fit.xtx_inv @ x.T for f, c in self.contrasts.items()}
        self.variance = {f: float(c @ fit.xtx_inv @ c) for f, c in self.contrasts.items()}
        for f in factors:  # the contrast reproduces ablate's own estimate
            assert self.weights[f] @ cells["test_acc"].to_numpy() == pytest.approx(analysis.mains[f].estimate)

    def draw(self, rng, n: int, effects: dict[str, float], noise=0.01, seed_sd=0.02) -> np.ndarray:
        seeds = self.cells["seed"].to_numpy(int)
        offsets = rng.normal(0, seed_sd, (n, seeds.max() + 1))[:, seeds]
        shift = sum(v * self.cells[f].to_numpy(float) for f, v in effects.items())
        return 0.8 + offsets + shift + rng.normal(0, noise, (n, len(seeds)))

    def words(self, y: np.ndarray) -> list[dict[str, str]]:
        resid = y - y @ self.hat.T
        s2 = (resid ** 2).sum(axis=1) / self.df
        est = {f: y @ w for f, w in self.weights.items()}
        out = []
        for i in range(len(y)):
            bases = {f: Basis(f, {"": Estimate(est[f][i], np.sqrt(s2[i] * self.variance[f]), self.df)}, "", [])
                     for f in self.factors}
            judged = {f: decision.judge(b, 1.0, MARGIN) for f, b in bases.items()}
            out.append({f: d[0] for f, d in decision.decide(judged, 1.0).items()})
        return out

    def full_path(self, y: np.ndarray) -> dict[str, str]:
        cells = self.template.cells.copy()
        cells.loc[self.cells.index, "test_acc"] = y
        res = dataclasses.replace(self.template, cells=cells)
        return {v.factor: v.status for v in verdicts.factor_verdicts(res)}
