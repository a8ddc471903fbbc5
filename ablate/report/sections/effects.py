"""Effects with their uncertainty: the comparison figures and the numbers behind them."""

from __future__ import annotations

from ablate.report.figures.effects import forest_plot, interaction_heatmap, main_effects_plot
from ablate.report.page import Section, figure_block
from ablate.report.results import Results
from ablate.report.stats.effects import effect_table, effects_for_display

# Report order: (id, title, function of (results, effect table))
COMPARISON_FIGURES = [
    ("forest", "Effects versus baseline", forest_plot),
    ("main_effects", "Main effects", main_effects_plot),
    ("interactions", "Interaction heatmap", interaction_heatmap),
]


def effects_section(results: Results) -> Section:
    """Effects with uncertainty: forest plot, main effects, interactions, and the numbers behind them."""
    effects = effect_table(results)
    blocks = [figure_block(fid, title, fn, results, effects) for fid, title, fn in COMPARISON_FIGURES]
    shown, unit, digits = effects_for_display(effects, results.study.metric)
    return Section(
        "effects",
        "Effects and uncertainty",
        "_effects.html",
        {
            "figures": blocks,
            "rows": shown.to_dict("records"),
            "unit": unit or results.study.metric,
            "digits": digits,
            "method_notes": sorted(set(effects["method"])) if len(effects) else [],
        },
    )
