"""Factors with levels: each level against the reference (paired), the F-test and the trend."""

from __future__ import annotations

from ablate.report.figures.levels import levels_figure
from ablate.report.page import Section, figure_block
from ablate.report.results import Results
from ablate.report.stats.effects import metric_scale
from ablate.report.stats.factorial import analyse
from ablate.report.stats.levels import level_contrasts, level_summary, level_tests
from ablate.report.stats.margin import study_margin


def levels_section(results: Results) -> Section | None:
    """Level contrasts for every factor with levels; None when every factor is a plain on/off switch."""
    summary = level_summary(results)
    if summary.empty or not summary["n"].any():
        return None
    analysis = analyse(results)
    contrasts, tests = level_contrasts(results, analysis), level_tests(results, analysis)
    metric = results.study.metric
    scale, unit = metric_scale(metric)
    margin, _ = study_margin(results.study)
    block = figure_block("levels", f"{metric}: each level against the reference", levels_figure, contrasts,
                         tests, metric, scale, unit, margin)
    shown = contrasts.assign(**{c: contrasts[c] * scale for c in ("estimate", "ci_low", "ci_high")})
    return Section(
        "levels",
        "Factor levels",
        "_levels.html",
        {"figures": [block], "rows": summary.to_dict("records"), "contrasts": shown.to_dict("records"),
         "tests": tests.assign(trend=tests["trend"] * scale, trend_low=tests["trend_low"] * scale,
                               trend_high=tests["trend_high"] * scale).to_dict("records"),
         "metric": metric, "unit": unit or metric, "digits": 2 if unit else 4},
    )
