"""The practical margin `min_effect`: the smallest difference in the metric that matters, in its own units.

A verdict of *negligible* needs one (an effect inside +-min_effect, shown by an equivalence test), and an
inconclusive verdict says how many seeds would detect it. A study sets `metric.min_effect`; otherwise the
metric's default below applies and the report says it was the default.
"""

from __future__ import annotations

from ablate.report.results import StudyInfo
from ablate.spec import default_min_effect  # one table of defaults, for the study file and the report

__all__ = ["default_min_effect", "study_margin", "margin_text"]


def study_margin(study: StudyInfo) -> tuple[float | None, bool]:
    """(min_effect, whether it is the metric's default) for the study's metric."""
    if study.min_effect is not None and study.min_effect > 0:
        return float(study.min_effect), False
    return default_min_effect(study.metric), True


def margin_text(study: StudyInfo, scale: float = 1.0, unit: str = "") -> str:
    """How the page states the margin it judged by."""
    value, default = study_margin(study)
    if value is None:
        return f"no practical margin (min_effect) for {study.metric}: no factor can be called negligible"
    shown = f"±{value * scale:g}{' ' + unit if unit else ''} {study.metric}"
    return f"{shown} ({'the default for ' + study.metric if default else 'metric.min_effect'})"
