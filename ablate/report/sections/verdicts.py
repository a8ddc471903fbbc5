"""The answer in plain words: one verdict per factor, and the error rate that holds for the page."""

from __future__ import annotations

from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.stats.effects import metric_scale
from ablate.report.stats.learned import chance_note, no_verdict_reason
from ablate.report.stats.margin import margin_text
from ablate.report.stats.outliers import outlier_words, outlying_cells, without_cells
from ablate.report.stats.verdicts import factor_verdicts, family_statement


def verdict_section(results: Results) -> Section:
    """The answer in plain words, one line per factor, with the margin and error rate it was judged by."""
    verdicts = factor_verdicts(results)
    n_seeds = int(results.finished["seed"].nunique()) if len(results.finished) else 0
    scale, unit = metric_scale(results.study.metric)
    counts = {s: sum(v.status == s for v in verdicts) for s in ("helps", "hurts", "depends", "negligible",
                                                           "inconclusive")}
    sequential = bool(results.study.seed_decision)
    flagged = outlier_words(results)
    without = None
    if flagged and no_verdict_reason(results) is None:
        alt = factor_verdicts(without_cells(results, outlying_cells(results)["run_id"]))
        without = alt if any(a.status != v.status for a, v in zip(alt, verdicts)) else []
    return Section(
        "verdicts",
        "Verdicts",
        "_verdicts.html",
        {
            "verdicts": verdicts,
            "no_verdict": no_verdict_reason(results),
            "outliers": flagged,
            "without": without,
            "chance_note": chance_note(results),
            "n_seeds": n_seeds,
            "counts": counts,
            "margin": margin_text(results.study, scale, unit),
            "statement": family_statement(verdicts),
            "test": "Stein's two-stage test, with the stage-1 spread: see Seeds until decided" if sequential
            else "the paired t test, or the t test of the factorial fit's contrast (seed block)",
        },
    )
