"""The answer in plain words."""

from __future__ import annotations

from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.stats.pvalues import MIN_SEEDS_FOR_POWER
from ablate.report.stats.verdicts import factor_verdicts


def verdict_section(results: Results) -> Section:
    """The answer in plain words, one line per factor."""
    verdicts = factor_verdicts(results)
    n_seeds = int(results.finished["seed"].nunique()) if len(results.finished) else 0
    return Section(
        "verdicts",
        "Verdicts",
        "_verdicts.html",
        {"verdicts": verdicts, "n_seeds": n_seeds, "low_power": n_seeds < MIN_SEEDS_FOR_POWER},
    )
