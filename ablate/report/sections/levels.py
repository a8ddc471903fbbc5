"""The metric against each factor's level (factors with levels only)."""

from __future__ import annotations

from ablate.report.figures.levels import levels_figure
from ablate.report.page import Section, figure_block
from ablate.report.results import Results
from ablate.report.stats.levels import level_summary


def levels_section(results: Results) -> Section | None:
    """Metric vs level for every factor with levels; None when every factor is a plain on/off switch."""
    summary = level_summary(results)
    if summary.empty or not summary["n"].any():
        return None
    metric = results.study.metric
    block = figure_block("levels", f"{metric} against each factor's level", levels_figure, summary, metric)
    return Section(
        "levels",
        "Factor levels",
        "_levels.html",
        {"figures": [block], "rows": summary.to_dict("records"), "metric": metric},
    )
