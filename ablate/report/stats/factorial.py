"""Factorial designs: every factor's effect, the estimable two-way interactions, and each level's contrast.

Run when the design's record lists the "factorial" analysis. One OLS fit with the seed block over every
finished cell (stats/ols.py), with the terms the design can estimate; a factor's effect is the contrast
between its estimated marginal means on and off (levels: at each level and at its reference) over the
design's full reference grid, as emmeans computes them: the fit predicts every combination of the factors'
levels and each mean averages them with equal weights, so an arm whose cells all failed does not tilt the
contrast toward the arms that finished. When the finished arms cannot identify a contrast under the
design's model, the term is not estimable and says which arms have no finished cell. A one-seed two-level factorial has no residual, so its effects are
judged by Lenth's pseudo standard error (stats/lenth.py) instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.aliasing import codings, estimable
from ablate.report.stats.contrast import Estimate
from ablate.report.stats.lenth import lenth_estimates, saturated_effects
from ablate.report.stats.margin import study_margin
from ablate.report.stats.ols import Coding, Fit, fit_cells
from ablate.report.stats.pvalues import EFFECT_COLUMNS, with_holm

METHOD = "OLS, factors coded ±1/2 (levels: treatment dummies), seed as block; t CI"
LENTH_METHOD = "one seed: Lenth's pseudo standard error, t with m/3 df"


@dataclass
class Factorial:
    """One study's factorial analysis: the fit (None for Lenth's), each factor's contrasts, and how."""

    method: str
    factors: list[str]
    codings: dict[str, Coding]
    fit: Fit | None = None
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    mains: dict[str, Estimate] = field(default_factory=dict)  # two-level factors: on - off
    interactions: dict[str, Estimate] = field(default_factory=dict)  # 'a:b' of two-level factors
    levels: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # factor -> level -> vs reference
    trends: dict[str, Estimate] = field(default_factory=dict)  # numeric levels: linear trend per step
    lenth: pd.DataFrame | None = None  # one-seed designs: every contrast (term, estimate, aliases)
    missing: list[str] = field(default_factory=list)  # the design's arms with no finished cell
    not_estimable: dict[str, str] = field(default_factory=dict)  # factor or term -> why (the arms missing)

    def unidentified(self) -> str:
        """Why a contrast cannot be read from the finished arms, naming them."""
        arms = ", ".join(self.missing) or "an arm"
        verb = "has" if len(self.missing) <= 1 else "have"
        return f"not estimable: {arms} {verb} no finished cell, and the finished arms cannot separate it"


def _varying(cells: pd.DataFrame, coding: Coding) -> bool:
    column = coding.factor if coding.two_level else f"level:{coding.factor}"
    return column in cells and cells[column].nunique() >= 2


def analyse(results: Results, metric: str | None = None) -> Factorial | None:
    """The factorial analysis of a study whose design supports it; None otherwise or when nothing fits."""
    metric = metric or results.study.metric
    cells = results.finished
    if not results.study.supports("factorial") or cells.empty or metric not in cells:
        return None
    cells = cells[pd.to_numeric(cells[metric], errors="coerce").notna()]
    coding = codings(results)
    factors = [f for f in results.study.factors if _varying(cells, coding[f])]
    if not factors:
        return None
    if cells["seed"].nunique() == 1 and all(coding[f].two_level for f in factors):
        return _lenth(cells, factors, coding, metric)
    wanted = [t for t in estimable(results) if all(p in factors for p in t.split(":"))]
    if not any(":" in t for t in wanted):
        wanted = factors + [f"{a}:{b}" for a, b in itertools.combinations(factors, 2)]
    finished = set(cells["arm"])
    missing = [a for a in results.study.arms if a not in finished]
    fit = fit_cells(cells, metric, wanted, coding)
    if fit is None and not missing:  # a complete design short of residual df: main effects only
        fit = fit_cells(cells, metric, factors, coding)
    elif fit is None:  # arms missing: keep the design's model, read only what the finished arms identify
        fit = fit_cells(cells, metric, wanted, coding, deficient=True)
    if fit is None:
        return None
    out = Factorial(METHOD, factors, coding, fit, cells, missing=missing)
    grid = reference_grid(factors, coding)
    for f in factors:
        _contrasts(out, f, grid)
    for term, columns in fit.model.terms.items():
        if ":" in term and len(columns) == 1:
            c = _unit(fit, columns[0])
            if fit.estimable(c):
                out.interactions[term] = fit.estimate(c)
            else:
                out.not_estimable[term] = out.unidentified()
    return out


def _unit(fit: Fit, column: str) -> np.ndarray:
    c = np.zeros(len(fit.beta))
    c[fit.column(column)] = 1.0
    return c


def reference_grid(factors: list[str], coding: dict[str, Coding]) -> pd.DataFrame:
    """Every combination of the factors' levels (two-level: off/on; levels: their labels), one row each."""
    values = [[False, True] if coding[f].two_level else list(coding[f].labels) for f in factors]
    columns = [f if coding[f].two_level else f"level:{f}" for f in factors]
    return pd.DataFrame(list(itertools.product(*values)), columns=columns)


def _contrasts(out: Factorial, factor: str, grid: pd.DataFrame) -> None:
    """A factor's contrasts between its marginal means over the grid: on - off, or each level - the
    reference, and the trend; none (the factor not estimable) when the finished arms cannot identify one."""
    fit, coding = out.fit, out.codings[factor]
    if coding.two_level:
        on = grid[factor].astype(bool)
        c = fit.grid_mean(grid[on], out.codings) - fit.grid_mean(grid[~on], out.codings)
        if fit.estimable(c):
            out.mains[factor] = fit.estimate(c)
        else:
            out.not_estimable[factor] = out.unidentified()
        return
    values = grid[f"level:{factor}"].astype(str)
    present = list(coding.labels)
    rows = {lv: fit.grid_mean(grid[values == lv], out.codings) for lv in present}
    contrasts = {lv: rows[lv] - rows[coding.reference] for lv in present if lv != coding.reference}
    if not all(fit.estimable(c) for c in contrasts.values()):
        out.not_estimable[factor] = out.unidentified()
        return
    out.levels[factor] = {lv: fit.estimate(c) for lv, c in contrasts.items()}
    numbers = _numeric(present)
    if numbers is not None and len(present) >= 3:
        index = np.arange(len(present), dtype=float)
        w = (index - index.mean()) / ((index - index.mean()) ** 2).sum()  # least-squares slope per step
        out.trends[factor] = fit.estimate(sum(wi * rows[lv] for wi, lv in zip(w, present)))


def _numeric(labels: list[str]) -> list[float] | None:
    """Level labels as numbers ('off' = 0) when every one is a number (ordered strengths)."""
    try:
        return [0.0 if lv == "off" else float(lv) for lv in labels]
    except ValueError:
        return None


def _lenth(cells: pd.DataFrame, factors: list[str], coding: dict[str, Coding], metric: str) -> Factorial | None:
    effects = saturated_effects(cells, factors, metric)
    estimates = lenth_estimates(effects, len(cells))
    if not estimates:
        return None
    out = Factorial(LENTH_METHOD, factors, coding, None, cells, lenth=effects)
    out.mains = {f: estimates[f] for f in factors if f in estimates}
    out.interactions = {t: e for t, e in estimates.items() if t.count(":") == 1}
    return out


def factorial_effects(results: Results, metric: str | None = None) -> pd.DataFrame:
    """The factorial effects table: main effects and two-way interactions (one Holm family), then each
    multi-level factor's levels against its reference (a family per factor) and its trend; empty when the
    design is not factorial."""
    metric = metric or results.study.metric
    analysis = analyse(results, metric)
    if analysis is None:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    margin = study_margin(results.study)[0] if metric == results.study.metric else None
    method = analysis.method
    terms = [("main_effect", t, "averaged over the other factors", e) for t, e in analysis.mains.items()]
    terms += [("interaction", t, "change in one's effect with the other on", e)
              for t, e in analysis.interactions.items()]
    parts = [with_holm([{"analysis": a, "term": t, "reference": r, "method": method, **e.row(margin)}
                        for a, t, r, e in terms], f"factorial terms ({len(terms)})", margin)]
    for factor, levels in analysis.levels.items():
        ref = f"{factor}={analysis.codings[factor].reference}"
        rows = [{"analysis": "level", "term": f"{factor}={lv}", "reference": ref, "method": method, **e.row(margin)}
                for lv, e in levels.items()]
        parts.append(with_holm(rows, f"levels of {factor} ({len(rows)})", margin))
        if factor in analysis.trends:
            trend = {"analysis": "trend", "term": factor, "reference": "linear trend per level step",
                     "method": method, **analysis.trends[factor].row(margin)}
            parts.append(with_holm([trend], f"trend of {factor}", margin))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=EFFECT_COLUMNS)


def interaction_matrix(effects: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Factor x factor table of interaction estimates (diagonal: main effects) for the heatmap."""
    matrix = pd.DataFrame(np.nan, index=factors, columns=factors)
    for row in effects.itertuples():
        if row.analysis == "main_effect" and row.term in matrix.index:
            matrix.loc[row.term, row.term] = row.estimate
        elif row.analysis == "interaction":
            a, b = row.term.split(":")
            if a in matrix.index and b in matrix.index:
                matrix.loc[a, b] = matrix.loc[b, a] = row.estimate
    return matrix
