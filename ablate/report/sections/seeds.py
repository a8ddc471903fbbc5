"""Seeds until decided: the recorded stage-1 decision (Stein's two-stage procedure) and what it bought."""

from __future__ import annotations

from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.stats.effects import metric_scale


def seeds_section(results: Results) -> Section | None:
    """How many seeds the study added after its initial ones, and why; None for fixed-seed studies."""
    plan, decision = results.study.seed_plan, results.study.seed_decision
    if not plan and not decision:
        return None
    scale, unit = metric_scale(results.study.metric)
    ran = int(results.finished["seed"].nunique()) if len(results.finished) else 0
    rows = [{"comparison": key, "estimate": c.get("estimate", float("nan")) * scale,
             "se": c.get("se", float("nan")) * scale, "df": c.get("df"), "needed": c.get("needed"),
             "decided": c.get("decided", False)}
            for key, c in ((decision or {}).get("comparisons") or {}).items() if isinstance(c, dict)]
    return Section(
        "seeds",
        "Seeds until decided",
        "_seeds.html",
        {"plan": plan, "decision": decision, "ran": ran, "rows": rows, "unit": unit or results.study.metric,
         "margin": (decision or {}).get("min_effect", float("nan")) * scale},
    )
