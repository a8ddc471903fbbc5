"""The parts of the report page, in order. Each builder turns `Results` into a `Section` (or None to skip).

A part is added by writing one builder (one file here) and listing it in `DEFAULT_SECTIONS`, never by
editing the page template.

May import: ablate.report.page, ablate.report.results, ablate.report.stats, ablate.report.figures,
ablate.uri (links to the runs).
"""

from __future__ import annotations

from ablate.report.page import SectionBuilder
from ablate.report.sections.cells import cells_section
from ablate.report.sections.design import design_section
from ablate.report.sections.diagnostics import diagnostics_section
from ablate.report.sections.effects import effects_section
from ablate.report.sections.failures import failures_section
from ablate.report.sections.leaderboard import leaderboard_section
from ablate.report.sections.levels import levels_section
from ablate.report.sections.overview import overview_section
from ablate.report.sections.provenance import provenance_section
from ablate.report.sections.seeds import seeds_section
from ablate.report.sections.training import training_section
from ablate.report.sections.tune import tune_section
from ablate.report.sections.verdicts import verdict_section

DEFAULT_SECTIONS: list[SectionBuilder] = [
    overview_section,
    verdict_section,
    seeds_section,  # seeds until decided only: the recorded stage-1 decision
    leaderboard_section,
    effects_section,
    design_section,  # fractions only: the aliasing, and the effects the fraction can estimate
    levels_section,  # factors with levels only: each level against the reference
    diagnostics_section,  # factorial designs: ANOVA with the seed block, or Lenth's method for one seed
    tune_section,  # studies with a tune phase only: the search, importances and the frozen values
    training_section,
    cells_section,
    failures_section,
    provenance_section,
]

# The statistics alone (`ablate analyze`: results from anywhere, no curves, no MLflow runs)
STATISTICS_SECTIONS: list[SectionBuilder] = [
    overview_section,
    verdict_section,
    leaderboard_section,
    effects_section,
    design_section,
    levels_section,
    diagnostics_section,
]
