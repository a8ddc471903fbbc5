"""The study at a glance."""

from __future__ import annotations

from ablate.report.page import Section
from ablate.report.results import Results


def overview_section(results: Results) -> Section:
    """What was compared, on what, with how many seeds: the frame for every number below."""
    s = results.study
    facts = [
        ("Results", nothing_finished(results)),
        ("Description", s.description),
        ("Model", s.model),
        ("Dataset", s.dataset),
        ("Design", s.design),
        ("Factors", ", ".join(s.factors)),
        ("Arms", str(len(results.arm_order))),
        ("Seeds", ", ".join(map(str, s.seeds))),
        ("Metric", f"{s.metric} ({s.direction})"),
        ("Cells", f"{len(results.finished)} finished, {len(results.failed)} not finished"),
    ]
    return Section(
        "overview", "Study", "_facts.html", {"facts": [(k, v) for k, v in facts if v], "versions": []}
    )


def nothing_finished(results: Results) -> str:
    """Said first when no cell finished: every table and figure below is empty for that reason, not a bug."""
    if len(results.finished):
        return ""
    if not len(results.ablation):
        return "none yet: no cell of this study has run (start it with `ablate run`)"
    return (f"none: no cell finished ({len(results.failed)} failed or did not finish), so there is nothing to "
            "compare; the failed cells and their reasons are listed below")
