"""What the design record says about the terms: a fraction's aliasing, the estimable terms, each factor's
levels, and the effects a fraction can estimate.

The parent run records the design's alias chains (design record `aliases`) and the terms its arms can
separate (`estimable`). Only the estimable terms are fitted, through the one OLS fit (stats/ols.py).
"""

from __future__ import annotations

import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.ols import TERM_COLUMNS, Coding, coding_for, fit_terms

COLUMNS = [*TERM_COLUMNS, "aliased_with"]


def _record(results: Results, key: str, default):
    value = results.study.design_record.get(key, default)
    return value if isinstance(value, type(default)) else default


def aliasing(results: Results) -> dict:
    """The recorded alias structure ({} when the design is not a fraction)."""
    return _record(results, "aliases", {})


def level_order(results: Results) -> dict[str, list[str]]:
    """factor -> level labels in level order, for the factors that list levels (empty: none do)."""
    levels = _record(results, "levels", {})
    return {str(k): [str(x) for x in v] for k, v in levels.items() if isinstance(v, list)}


def codings(results: Results) -> dict[str, Coding]:
    """How each factor enters the OLS: a +-1/2 column, or its levels' dummies against the reference."""
    order = level_order(results)
    return {f: coding_for(f, order.get(f)) for f in results.study.factors}


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
    fit = fit_terms(cells, metric, terms, codings(results))
    return pd.DataFrame(columns=COLUMNS) if fit is None else fit.terms
