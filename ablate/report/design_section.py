"""The design section of a fractional factorial: what is aliased with what, and what could be estimated.

The parent run records the design's alias chains (design record `aliases`) and the terms its arms can
separate (`estimable`, from ablate.design.estimable_terms). This section states the aliasing in words and
fits only the estimable terms: an OLS over finished cells, factors coded -1/2 (off) and +1/2 (on) so a
coefficient reads in metric units (a main effect is mean(on) - mean(off)), seeds as a block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results

COLUMNS = ["term", "estimate", "ci_low", "ci_high", "p_value", "aliased_with"]
RESOLUTION_TEXT = {
    3: "Resolution III: main effects are aliased with two-way interactions. A main effect below is that "
    "factor's own effect only if the interactions in its alias chain are negligible.",
    4: "Resolution IV: main effects are clear of two-way interactions (each is aliased only with "
    "interactions of three or more factors); two-way interactions are aliased with each other, so an "
    "interaction is estimated only when it is alone in its chain.",
}
ROMAN = {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}
HIGH_TEXT = "Resolution V or higher: main effects and two-way interactions are clear of each other."


def _record(results: Results, key: str, default):
    value = results.study.design_record.get(key, default)
    return value if isinstance(value, type(default)) else default


def aliasing(results: Results) -> dict:
    """The recorded alias structure ({} when the design is not a fraction)."""
    return _record(results, "aliases", {})


def estimable(results: Results) -> list[str]:
    """Terms ('a', 'a:b') the design can estimate; the factors' main effects when nothing was recorded."""
    return _record(results, "estimable", []) or list(results.study.factors)


def resolution_text(resolution: int | None) -> str:
    if resolution is None:
        return "No effect is aliased with another: the arms form a full factorial."
    return RESOLUTION_TEXT.get(resolution, HIGH_TEXT)


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
    """OLS over the estimable terms only, ±1/2 coding, seed block; 95% t intervals."""
    import statsmodels.api as sm

    metric = metric or results.study.metric
    cells = results.finished
    if cells.empty or metric not in cells:
        return pd.DataFrame(columns=COLUMNS)
    cells = cells[pd.to_numeric(cells[metric], errors="coerce").notna()]
    x = pd.DataFrame({"const": 1.0}, index=cells.index)
    for seed in sorted(cells["seed"].dropna().unique())[1:]:
        x[f"seed[{seed}]"] = (cells["seed"] == seed).astype(float)
    for term in terms:
        parts = term.split(":")
        if all(p in cells for p in parts):
            x[term] = np.prod([cells[p].astype(float) - 0.5 for p in parts], axis=0)
    y = cells[metric].astype(float).to_numpy()
    if np.linalg.matrix_rank(x.to_numpy()) < x.shape[1] or len(y) <= x.shape[1]:
        return pd.DataFrame(columns=COLUMNS)
    fit = sm.OLS(y, x.to_numpy()).fit()
    ci = fit.conf_int(0.05)
    rows = [
        {
            "term": t,
            "estimate": float(fit.params[i]),
            "ci_low": float(ci[i, 0]),
            "ci_high": float(ci[i, 1]),
            "p_value": float(fit.pvalues[i]),
        }
        for i, t in enumerate(x.columns)
        if t in terms
    ]
    return pd.DataFrame(rows, columns=COLUMNS[:-1])


def design_section(results: Results):
    """A fractional design's aliasing in words and tables, and the effects it can estimate."""
    from ablate.report.sections import Section

    structure = aliasing(results)
    if not structure:
        return None
    terms = estimable(results)
    if structure.get("truncated"):
        return Section(
            "design",
            "Fractional design and aliasing",
            "_design.html",
            {
                "facts": [("Aliasing", "too long for a tag: see the parent run's design.json")],
                "statement": "",
                "chains": [],
                "effects": [],
                "metric": results.study.metric,
            },
        )
    chains = chain_rows(structure, terms)
    aliased = {r["term"]: r["aliased_with"] for r in chains}
    from ablate.report.verdicts import effects_for_display

    effects, unit, digits = effects_for_display(  # as the verdicts state them: accuracy in points
        estimable_effects(results, terms).assign(aliased_with=lambda d: d["term"].map(aliased).fillna("")),
        results.study.metric,
    )
    n = len(results.study.factors)
    facts = [
        (
            "Design",
            f"2^({n}-{n - int(np.log2(structure['runs']))}) fraction: {structure['runs']} arms instead "
            f"of {2**n}"
            if structure.get("runs")
            else "",
        ),
        ("Resolution", ROMAN.get(structure.get("resolution"), str(structure.get("resolution") or "full"))),
        (
            "Defining relation",
            "I = " + " = ".join(structure["defining_relation"]) if structure.get("defining_relation") else "",
        ),
        ("Estimated terms", ", ".join(terms)),
    ]
    return Section(
        "design",
        "Fractional design and aliasing",
        "_design.html",
        {
            "facts": [(k, v) for k, v in facts if v],
            "statement": resolution_text(structure.get("resolution")),
            "chains": chains,
            "effects": effects.to_dict("records"),
            "metric": f"{results.study.metric}, {unit}" if unit else results.study.metric,
            "digits": digits,
        },
    )
