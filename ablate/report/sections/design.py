"""A fraction's design: what is aliased with what, in words and tables, and what could be estimated.

Shown when the design's record holds an alias structure (a fraction); the effects are fitted only for the
estimable terms (stats/aliasing.py).
"""

from __future__ import annotations

import numpy as np

from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.stats.aliasing import aliasing, chain_rows, estimable, estimable_effects
from ablate.report.stats.effects import effects_for_display

TITLE = "Fractional design and aliasing"
RESOLUTION_TEXT = {
    3: "Resolution III: main effects are aliased with two-way interactions. A main effect below is that "
    "factor's own effect only if the interactions in its alias chain are negligible.",
    4: "Resolution IV: main effects are clear of two-way interactions (each is aliased only with "
    "interactions of three or more factors); two-way interactions are aliased with each other, so an "
    "interaction is estimated only when it is alone in its chain.",
}
ROMAN = {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}
HIGH_TEXT = "Resolution V or higher: main effects and two-way interactions are clear of each other."


def resolution_text(resolution: int | None) -> str:
    if resolution is None:
        return "No effect is aliased with another: the arms form a full factorial."
    return RESOLUTION_TEXT.get(resolution, HIGH_TEXT)


def _facts(results: Results, structure: dict, terms: list[str]) -> list[tuple[str, str]]:
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
    return [(k, v) for k, v in facts if v]


def design_section(results: Results) -> Section | None:
    """A fraction's aliasing in words and tables, and the effects it can estimate."""
    structure = aliasing(results)
    if not structure:
        return None
    terms = estimable(results)
    if structure.get("truncated"):
        return Section(
            "design",
            TITLE,
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
    effects, unit, digits = effects_for_display(  # as the verdicts state them: accuracy in points
        estimable_effects(results, terms).assign(aliased_with=lambda d: d["term"].map(aliased).fillna("")),
        results.study.metric,
    )
    return Section(
        "design",
        TITLE,
        "_design.html",
        {
            "facts": _facts(results, structure, terms),
            "statement": resolution_text(structure.get("resolution")),
            "chains": chains,
            "effects": effects.to_dict("records"),
            "metric": f"{results.study.metric}, {unit}" if unit else results.study.metric,
            "digits": digits,
        },
    )
