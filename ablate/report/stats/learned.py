"""Whether a study's cells give a verdict anything to stand on: checked before any verdict is judged.

Zero spread is never evidence of equivalence: a study whose every cell sits at chance (a model that did not
learn), whose every cell has the same value, whose arms all gave the same value on every seed, or whose cells
mostly failed gets no verdict (`no_verdict`, with the reason) instead of helps / hurts / negligible. The reason
goes on the page (a banner), in the terminal, in verdicts.csv and on the parent run (tag `ablate.no_verdict`).
"""

from __future__ import annotations

import math

import numpy as np

from ablate.report.results import Results, computed_once

MAX_FAILED_SHARE = 0.5  # more than half the cells failed: the finished ones are a selected, not a random, part
CHANCE_ACC_TOLERANCE = 0.005  # accuracy within half a point of 1/classes is chance (finite test sets jitter)
CHANCE_LOSS_TOLERANCE = 0.01  # cross-entropy within 1% of ln(classes) is chance


def chance_level(metric: str, classes: int | None) -> tuple[float, str] | None:
    """(the metric's value at chance, 'above'|'below': the side that means learning), where known."""
    if not classes or classes < 2:
        return None
    if metric.endswith("acc"):
        return 1.0 / classes, "above"
    if metric.endswith("loss"):
        return math.log(classes), "below"
    return None


def study_classes(results: Results) -> int | None:
    """The class count the study recorded (`ablate.analysis.classes`), or `ablate analyze --classes`."""
    value = results.study.analysis.get("classes")
    return int(value) if isinstance(value, int | float) and value >= 2 else None


def chance_note(results: Results) -> str:
    """Why the chance check could not be made, or '' when it was."""
    metric = results.study.metric
    if not (metric.endswith("acc") or metric.endswith("loss")):
        return f"the chance check was skipped: {metric} has no chance level"
    if study_classes(results) is None:
        return ("the chance check was skipped: the class count is not recorded (`ablate analyze --classes N` "
                "gives it)")
    return ""


def at_chance(values: np.ndarray, metric: str, classes: int | None) -> np.ndarray | None:
    """Which values are at or past chance (no better than guessing); None where chance is unknown."""
    level = chance_level(metric, classes)
    if level is None:
        return None
    chance, learned = level
    if learned == "above":
        return values <= chance + CHANCE_ACC_TOLERANCE
    return values >= chance * (1 - CHANCE_LOSS_TOLERANCE)


@computed_once
def no_verdict_reason(results: Results) -> str | None:
    """Why this study's cells cannot carry a verdict, or None when they can."""
    metric = results.study.metric
    ablation = results.ablation
    finished = results.finished
    values = finished[metric].to_numpy(dtype=float) if metric in finished else np.array([])
    values = values[np.isfinite(values)]
    total = len(ablation)
    if total and (failed := total - len(values)) / total > MAX_FAILED_SHARE:
        return (f"{failed} of {total} cells did not finish with a {metric} value (more than "
                f"{MAX_FAILED_SHARE:.0%}); the finished ones are not a fair sample. Fix the failures "
                "(see Failures), then `ablate run --retry-failed`")
    if not len(values):
        return f"no cell finished with a {metric} value"
    classes = study_classes(results)
    chance = at_chance(values, metric, classes)
    if chance is not None and chance.all():
        level, _ = chance_level(metric, classes)
        return (f"no cell learned (every cell at chance: {metric} {level:.4f} for {classes} classes); "
                "check the learning rate, the epochs and the labels")
    if len(values) > 1 and np.ptp(values) == 0:
        return (f"every cell has the same {metric} ({values[0]:.4f}): zero variance is no evidence of "
                "equivalence (a model that outputs a constant, or a metric that was not measured)")
    if _arms_identical(results, metric):
        return (f"every arm gave the same {metric} on every seed: the factors changed nothing the metric can "
                "see (were they applied?)")
    return None


def _arms_identical(results: Results, metric: str) -> bool:
    finished = results.finished
    if finished["arm"].nunique() < 2:
        return False
    spread = finished.groupby("seed")[metric].agg(lambda v: np.ptp(v.to_numpy(dtype=float)) if len(v) > 1 else np.nan)
    spread = spread.dropna()
    return bool(len(spread)) and bool((spread == 0).all())
