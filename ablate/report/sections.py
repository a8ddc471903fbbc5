"""The parts of the report page, in order. Each builder turns `Results` into a `Section` (or None to skip).

A later phase adds a part by writing one builder and listing it in `DEFAULT_SECTIONS` (e.g. a tune
section for a study with a tune phase), never by editing the page template.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ablate.report import plots, plots_stats, stats
from ablate.report.design_section import design_section
from ablate.report.levels import levels_section
from ablate.report.results import Results
from ablate.report.tune_section import tune_section
from ablate.report.verdicts import effect_table, effects_for_display, factor_verdicts, metric_scale


@dataclass
class FigureBlock:
    """A rendered figure: the PNG travels inside the page as base64, so the file opens offline."""

    id: str
    title: str
    png_base64: str
    caption: str = ""


@dataclass
class Section:
    """One titled part of the page; `template` names its partial in templates/, `context` feeds it."""

    id: str
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)


SectionBuilder = Callable[[Results], "Section | None"]


def figure_png(fig: Figure, dpi: int = 100) -> str:
    """Figure -> base64 PNG text."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _block(fid: str, title: str, fn, *args) -> FigureBlock:
    """Render one figure; its docstring's first sentence (why the figure exists) becomes the caption."""
    caption = (fn.__doc__ or "").strip().split("\n")[0]
    return FigureBlock(fid, title, figure_png(fn(*args)), caption)


def css_palette(results: Results) -> dict[str, str]:
    """The figures' arm colors as CSS hex, so table swatches match the plots."""
    palette = plots.arm_palette(results.arm_order)
    return {arm: "#" + "".join(f"{round(255 * c):02x}" for c in rgb) for arm, rgb in palette.items()}


def overview_section(results: Results) -> Section:
    """What was compared, on what, with how many seeds: the frame for every number below."""
    s = results.study
    facts = [
        ("Description", s.description),
        ("Model", s.model),
        ("Dataset", s.dataset),
        ("Design", s.design),
        ("Factors", ", ".join(s.factors)),
        ("Arms", str(len(results.arm_order))),
        ("Seeds", ", ".join(map(str, s.seeds))),
        ("Metric", f"{s.metric} ({s.direction})"),
        ("Cells", f"{len(results.finished)} finished, {len(results.failed)} not finished"),
    ]
    return Section(
        "overview", "Study", "_facts.html", {"facts": [(k, v) for k, v in facts if v], "versions": []}
    )


def verdict_section(results: Results) -> Section:
    """The answer in plain words, one line per factor."""
    verdicts = factor_verdicts(results)
    n_seeds = int(results.finished["seed"].nunique()) if len(results.finished) else 0
    return Section(
        "verdicts",
        "Verdicts",
        "_verdicts.html",
        {"verdicts": verdicts, "n_seeds": n_seeds, "low_power": n_seeds < stats.MIN_SEEDS_FOR_POWER},
    )


def leaderboard_section(results: Results) -> Section:
    """Arms ranked by the study metric with intervals; every column sorts on click."""
    board = stats.leaderboard(results)
    m = results.study.metric
    scale, unit = metric_scale(m)
    columns = [
        ("rank", "#", 0, 1),
        ("arm", "arm", None, 1),
        ("n_seeds", "seeds", 0, 1),
        ("n_failed", "failed", 0, 1),
        (f"{m}_mean", f"{m} mean", 4, 1),
        (f"{m}_std", "std", 4, 1),
        ("ci", "95% CI", 4, 1),
        ("diff_vs_baseline", f"Δ vs baseline{' (' + unit + ')' if unit else ''}", 2, scale),
        ("p_holm", "p (Holm)", 3, 1),
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
            "palette": css_palette(results),
        },
    )


def effects_section(results: Results) -> Section:
    """Effects with uncertainty: forest plot, main effects, interactions, and the numbers behind them."""
    effects = effect_table(results)
    blocks = [
        _block(fid, title, fn, results, effects) for fid, title, fn, _ in plots_stats.COMPARISON_FIGURES
    ]
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


def training_section(results: Results) -> Section:
    """What each regularizer does to training, not just to the score."""
    blocks = [_block(fid, title, fn, results) for fid, title, fn in plots.TRAINING_FIGURES]
    blocks += [_block(fid, title, fn, results) for fid, title, fn, _ in plots_stats.DIAGNOSTIC_FIGURES]
    return Section("training", "Training dynamics", "_figures.html", {"figures": blocks})


def cells_section(results: Results) -> Section:
    """Every cell with its MLflow run id, so any number above can be traced to its run."""
    order = {arm: i for i, arm in enumerate(results.arm_order)}
    cells = results.ablation.assign(_o=lambda d: d["arm"].map(order)).sort_values(["_o", "seed"])
    epochs = stats.epochs_run(results)
    metric = results.study.metric
    rows = [
        {
            "arm": r["arm"],
            "seed": r["seed"],
            "status": r["status"],
            "metric": r.get(metric, np.nan),
            "epochs": epochs.get(r["run_id"], np.nan),
            "seconds": r.get("duration_s"),
            "run_id": r["run_id"],
            "failure": r.get("failure") or "",
        }
        for r in cells.to_dict("records")
    ]
    return Section(
        "cells",
        f"Cells and MLflow runs ({len(rows)})",
        "_cells.html",
        {"rows": rows, "metric": metric, "palette": css_palette(results)},
    )


def failures_section(results: Results) -> Section:
    """Cells that did not finish, with the recorded reason: a silent gap would bias the means."""
    failed = results.failed.sort_values(["arm", "seed"])
    rows = [
        {
            "arm": r.arm,
            "seed": r.seed,
            "status": r.status,
            "failure": r.failure or "(no reason recorded)",
            "run_id": r.run_id,
        }
        for r in failed.itertuples()
    ]
    return Section("failures", f"Failed cells ({len(rows)})", "_failures.html", {"rows": rows})


def provenance_section(results: Results) -> Section:
    """Where and from what the numbers came: enough to reproduce them or to distrust them."""
    from ablate.uri import redact_uri

    s = results.study
    facts = [
        ("Study hash", s.study_hash),
        ("Git commit", s.git_commit),
        ("Created", s.created),
        ("Machine", s.machine),
        ("Precision", s.precision),
        ("Tracking store", redact_uri(results.tracking_uri)),
        ("Parent run id", s.run_id),
        ("Statistics", f"{stats.PAIRED_METHOD}; per-arm CI: bootstrap (BCa where defined)"),
    ]
    return Section(
        "provenance",
        "Provenance",
        "_facts.html",
        {"facts": [(k, v) for k, v in facts if v], "versions": sorted(s.versions.items())},
    )


DEFAULT_SECTIONS: list[SectionBuilder] = [
    overview_section,
    verdict_section,
    leaderboard_section,
    effects_section,
    design_section,  # fractional designs only: the aliasing, and the effects the fraction can estimate
    levels_section,  # factors with levels only: the metric against each level
    tune_section,  # studies with a tune phase only: the search, importances and the frozen values
    training_section,
    cells_section,
    failures_section,
    provenance_section,
]
