"""A fraction's aliasing, read from the design record, and the effects it can estimate.

The parent run records the design's alias chains (design record `aliases`) and the terms its arms can
separate (`estimable`). Only the estimable terms are fitted, through the one OLS fit (stats/ols.py).
"""

from __future__ import annotations

import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.ols import TERM_COLUMNS, fit_terms

COLUMNS = [*TERM_COLUMNS, "aliased_with"]


def _record(results: Results, key: str, default):
    value = results.study.design_record.get(key, default)
    return value if isinstance(value, type(default)) else default


def aliasing(results: Results) -> dict:
    """The recorded alias structure ({} when the design is not a fraction)."""
    return _record(results, "aliases", {})


def estimable(results: Results) -> list[str]:
    """Terms ('a', 'a:b') the design can estimate; the factors' main effects when nothing was recorded."""
    return _record(results, "estimable", []) or list(results.study.factors)


def chain_rows(structure: dict, terms: list[str]) -> list[dict]:
    """One row per alias chain that holds a main effect or two-way interaction."""
    rows = []
    for chain in structure.get("chains", []):
        names = [t.lstrip("-") for t in chain]
        low = [t for t in names if t.count(":") <= 1]
        if not low:
            continue
        head = next((t for t in names if t in terms), None)
        others = " = ".join(t for t in chain if t.lstrip("-") != head) if head else ""
        rows.append({"term": head or " = ".join(low), "estimated": head is not None, "aliased_with": others})
    return rows


def estimable_effects(results: Results, terms: list[str], metric: str | None = None) -> pd.DataFrame:
    """The estimable terms only, ±1/2 coding, seed block, 95% t intervals (empty when not identifiable)."""
    metric = metric or results.study.metric
    cells = results.finished
    if cells.empty or metric not in cells:
        return pd.DataFrame(columns=COLUMNS)
    fit = fit_terms(cells, metric, terms)
    return pd.DataFrame(columns=COLUMNS) if fit is None else fit.terms
