"""The one OLS fit with the seed as a block, and the contrasts, F-tests and ANOVA read from it.

Seeds enter as a block (fixed effect): seed k shares init, data order and augmentation across arms, so the
seed-to-seed spread leaves the residual, which is what pairing buys in a regression. A two-level factor is
one column coded -1/2 (off) / +1/2 (on), so its coefficient is mean(on) - mean(off); a factor with levels
is a categorical term, one treatment dummy per level against its reference (the off level, else the first
listed); an interaction 'a:b' is the product of its factors' columns. Every comparison is a contrast c'b:
se = s * sqrt(c'(X'X)^-1 c), df = residual df (stats/contrast.py turns that into interval, p and TOST).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablate.report.stats.contrast import Estimate

TERM_COLUMNS = ["term", "estimate", "ci_low", "ci_high", "p_value"]


@dataclass(frozen=True)
class Coding:
    """How one factor enters the model: a +-1/2 column (two-level) or dummies against `reference`."""

    factor: str
    labels: tuple[str, ...] = ()  # level labels in level order; empty for a two-level factor
    reference: str = ""

    @property
    def two_level(self) -> bool:
        return not self.labels

    def columns(self, cells: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.two_level:
            return {self.factor: cells[self.factor].astype(float).to_numpy() - 0.5}
        values = cells[f"level:{self.factor}"].astype(str).to_numpy()
        return {f"{self.factor}[{lv}]": (values == lv).astype(float) for lv in self.labels if lv != self.reference}

    def present(self, cells: pd.DataFrame) -> bool:
        return (self.factor if self.two_level else f"level:{self.factor}") in cells


def coding_for(factor: str, labels: list[str] | None) -> Coding:
    """A factor's coding: two-level unless it lists levels; the reference is `off`, else the first level."""
    if not labels:
        return Coding(factor)
    return Coding(factor, tuple(labels), "off" if "off" in labels else labels[0])


@dataclass(frozen=True)
class Model:
    """The design matrix: intercept, seed dummies (first seed as reference), then each term's columns."""

    x: pd.DataFrame
    terms: dict[str, list[str]]  # term -> its column names (in x)
    seed_columns: list[str] = field(default_factory=list)


def build_model(cells: pd.DataFrame, terms: list[str], codings: dict[str, Coding] | None = None,
                seed_block: bool = True) -> Model:
    """The model for `terms` ('a' or 'a:b'); a term naming a factor the cells lack is left out."""
    codings = codings or {}
    x = pd.DataFrame({"const": 1.0}, index=cells.index)
    seeds = []
    if seed_block:
        for seed in sorted(cells["seed"].dropna().unique())[1:]:
            x[f"seed[{seed}]"] = (cells["seed"] == seed).astype(float)
            seeds.append(f"seed[{seed}]")
    out: dict[str, list[str]] = {}
    for term in terms:
        parts = [codings.get(p, Coding(p)) for p in term.split(":")]
        if not all(c.present(cells) for c in parts):
            continue
        columns = {"": np.ones(len(cells))}
        for coding in parts:
            columns = {(f"{k}:{n}" if k else n): v * w for k, v in columns.items()
                       for n, w in coding.columns(cells).items()}
        for name, values in columns.items():
            x[name] = values
        out[term] = list(columns)
    return Model(x, out, seeds)


@dataclass(frozen=True)
class Fit:
    """An OLS fit: coefficients, (X'X)^-1, residual variance and df, and what it was fitted over."""

    model: Model
    y: np.ndarray
    beta: np.ndarray
    xtx_inv: np.ndarray
    sigma2: float
    df_resid: float
    n: int
    seeds: int
    arms: int

    def column(self, name: str) -> int:
        return list(self.model.x.columns).index(name)

    def estimate(self, c: np.ndarray) -> Estimate:
        """c'b with se = s sqrt(c'(X'X)^-1 c); a seed adds (arms - 1) residual df to a balanced design."""
        se = float(np.sqrt(max(self.sigma2 * float(c @ self.xtx_inv @ c), 0.0)))
        return Estimate(float(c @ self.beta), se, self.df_resid, self.n, seeds=self.seeds,
                        df_per_seed=max(self.arms - 1, 1))

    def coefficient(self, name: str) -> Estimate:
        c = np.zeros(len(self.beta))
        c[self.column(name)] = 1.0
        return self.estimate(c)

    def row_mean(self, mask: pd.Series, arms: pd.Series) -> np.ndarray:
        """The mean model row over the distinct arms among the cells in `mask` (each arm once, however
        many of its seeds finished), seed columns zeroed: that set of arms' least-squares mean with every
        seed on the same footing, so the difference of two is a seed-free contrast (c'b)."""
        index = self.model.x.index
        mask = mask.reindex(index, fill_value=False).astype(bool).to_numpy()
        x, labels = self.model.x.to_numpy(dtype=float)[mask], arms.reindex(index).to_numpy()[mask]
        row = np.mean([x[labels == a].mean(axis=0) for a in dict.fromkeys(labels)], axis=0)
        row[[self.column(s) for s in self.model.seed_columns]] = 0.0
        return row

    def grid_mean(self, grid: pd.DataFrame, codings: dict[str, Coding]) -> np.ndarray:
        """The mean model row over the reference-grid cells in `grid` (factor columns as cells hold them),
        seed columns zero: their estimated marginal mean as emmeans computes it (predict each grid cell from
        the fit, average with equal weights), whichever arms finished."""
        model = build_model(grid.assign(seed=0), list(self.model.terms), codings, seed_block=False)
        return model.x.reindex(columns=self.model.x.columns, fill_value=0.0).to_numpy(dtype=float).mean(axis=0)

    def estimable(self, c: np.ndarray) -> bool:
        """Whether c'b is identified by the fitted cells: c lies in the row space of X (always, at full rank)."""
        x = self.model.x.to_numpy(dtype=float)
        return bool(np.allclose(c @ np.linalg.pinv(x) @ x, c, atol=1e-8 * max(1.0, float(np.abs(c).max()))))

    def wald(self, columns: list[str]) -> tuple[float, float, float]:
        """F test that the named coefficients are all zero: (F, numerator df, p)."""
        from scipy import stats as sps

        idx = [self.column(c) for c in columns]
        b, v = self.beta[idx], self.sigma2 * self.xtx_inv[np.ix_(idx, idx)]
        f = float(b @ np.linalg.pinv(v) @ b) / len(idx) if self.sigma2 > 0 else np.inf
        return f, float(len(idx)), float(sps.f.sf(f, len(idx), self.df_resid))


def fit_model(model: Model, y: np.ndarray, arms: int, seeds: int, deficient: bool = False) -> Fit | None:
    """Least squares; None when the columns are not identified (unless `deficient`: then a generalized
    inverse, and only the contrasts Fit.estimable allows may be read) or leave no residual df."""
    x = model.x.to_numpy(dtype=float)
    rank = int(np.linalg.matrix_rank(x))
    if (rank < x.shape[1] and not deficient) or len(y) <= rank:
        return None
    xtx_inv = np.linalg.inv(x.T @ x) if rank == x.shape[1] else np.linalg.pinv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    resid = y - x @ beta
    df = float(len(y) - rank)
    return Fit(model, y, beta, xtx_inv, float(resid @ resid) / df, df, int(len(y)), seeds, arms)


def fit_cells(cells: pd.DataFrame, metric: str, terms: list[str], codings: dict[str, Coding] | None = None,
              seed_block: bool = True, deficient: bool = False) -> Fit | None:
    """Fit `terms` over the cells with a finite metric value."""
    cells = cells[pd.to_numeric(cells[metric], errors="coerce").notna()]
    if cells.empty:
        return None
    model = build_model(cells, terms, codings, seed_block)
    arms = int(cells["arm"].nunique()) if "arm" in cells else 1
    return fit_model(model, cells[metric].astype(float).to_numpy(), arms, int(cells["seed"].nunique()), deficient)


def rss(model: Model, y: np.ndarray, drop: set[str]) -> tuple[float, int]:
    """Residual sum of squares and rank of the model without the columns in `drop`."""
    x = model.x.drop(columns=list(drop)).to_numpy(dtype=float)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    return float(resid @ resid), int(np.linalg.matrix_rank(x))


@dataclass(frozen=True)
class TermFit:
    """The fitted one-column terms (TERM_COLUMNS, in the order asked), the cells used and the residual
    degrees of freedom (what the tests' power rests on)."""

    terms: pd.DataFrame
    n: int
    df_resid: float


def fit_terms(cells: pd.DataFrame, metric: str, terms: list[str],
              codings: dict[str, Coding] | None = None) -> TermFit | None:
    """Fit `terms` with 95% t intervals (one row per single-column term); None when the cells cannot
    identify them with a residual to spare (rank-deficient design, or no more cells than columns)."""
    fit = fit_cells(cells, metric, terms, codings)
    if fit is None:
        return None
    rows = []
    for term, columns in fit.model.terms.items():
        if len(columns) == 1:
            est = fit.coefficient(columns[0])
            low, high = est.interval()
            rows.append({"term": term, "estimate": est.estimate, "ci_low": low, "ci_high": high,
                         "p_value": est.p_value()})
    return TermFit(pd.DataFrame(rows, columns=TERM_COLUMNS), fit.n, fit.df_resid)
