"""The arms ranked, with intervals; every column sorts on click."""

from __future__ import annotations

from ablate.report.figures.style import css_palette
from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.stats.effects import metric_scale
from ablate.report.stats.leaderboard import leaderboard


def leaderboard_section(results: Results) -> Section:
    """Arms ranked by the study metric with intervals; every column sorts on click."""
    board = leaderboard(results)
    m = results.study.metric
    scale, unit = metric_scale(m)
    columns = [
        ("rank", "#", 0, 1),
        ("arm", "arm", None, 1),
        ("n_seeds", "seeds", 0, 1),
        ("n_failed", "failed", 0, 1),
        (f"{m}_mean", f"{m} mean", 4, 1),
        (f"{m}_std", "std", 4, 1),
        ("ci", "95% t CI", 4, 1),
        ("diff_vs_baseline", f"Δ vs baseline{' (' + unit + ')' if unit else ''}", 2, scale),
        ("p_holm", "p (Holm)", 3, 1),
        ("p_beats_baseline", "P(beats baseline)", 2, 1),
        ("p_best", "P(best)", 2, 1),
        ("gap_acc_final", "train−val gap", 3, 1),
        ("l2_norm_final", "final L2 norm", 2, 1),
        ("epochs_run", "epochs run", 1, 1),
    ]
    columns = [c for c in columns if c[0] in board or c[0] == "ci"]
    rows = [
        {
            **{key: row[key] * factor for key, _, _, factor in columns if key in row},
            "ci": (row[f"{m}_ci_low"], row[f"{m}_ci_high"]),
        }
        for row in board.to_dict("records")
    ]
    return Section(
        "leaderboard",
        "Leaderboard",
        "_leaderboard.html",
        {
            "columns": [(k, label, d) for k, label, d, _ in columns],
            "rows": rows,
            "metric": m,
            "direction": results.study.direction,
            "palette": css_palette(results.arm_order),
        },
    )
