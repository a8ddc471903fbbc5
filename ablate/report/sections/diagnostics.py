"""Design diagnostics: the ANOVA of the factorial fit with the seed block, what pairing bought, and for
one-seed factorials Lenth's pseudo standard error with the half-normal plot."""

from __future__ import annotations

import numpy as np

from ablate.report.figures.halfnormal import half_normal_plot
from ablate.report.page import Section, figure_block
from ablate.report.results import Results
from ablate.report.stats.anova import anova_table, pairing
from ablate.report.stats.effects import metric_scale
from ablate.report.stats.factorial import analyse
from ablate.report.stats.lenth import margins


def diagnostics_section(results: Results) -> Section | None:
    """The factorial fit's ANOVA table and pairing efficiency, or Lenth's analysis; None for designs with
    no factorial fit."""
    analysis = analyse(results)
    if analysis is None:
        return None
    metric = results.study.metric
    scale, unit = metric_scale(metric)
    ctx = {"metric": metric, "anova": [], "pairing": None, "lenth": None, "figures": [], "method": analysis.method}
    if analysis.fit is not None:
        ctx["anova"] = anova_table(analysis.fit).to_dict("records")
        paired = pairing(analysis.fit)
        if paired is not None:
            ctx["pairing"] = {"with": paired.ms_with, "without": paired.ms_without,
                              "efficiency": paired.efficiency if np.isfinite(paired.efficiency) else None}
    if analysis.lenth is not None:
        pse, me, sme = margins(analysis.lenth["estimate"])
        shown = analysis.lenth.assign(estimate=analysis.lenth["estimate"] * scale,
                                      aliases=analysis.lenth["aliases"].map(" = ".join))
        ctx["lenth"] = {"pse": pse * scale, "me": me * scale, "sme": sme * scale, "m": len(shown),
                        "unit": unit, "effects": shown.sort_values("estimate", key=abs, ascending=False)
                        .to_dict("records")}
        ctx["figures"] = [figure_block("half-normal", "Half-normal plot of the effects", half_normal_plot,
                                       analysis.lenth, pse, me, metric, scale, unit)]
    return Section("diagnostics", "Design diagnostics", "_diagnostics.html", ctx)
