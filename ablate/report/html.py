"""The report: one self-contained HTML file (figures inline, no network) plus CSV tables beside it.

The page is a list of sections, each a (builder -> Section) pair rendered by its own partial template, so
later phases (statistics, a tune phase) add a builder to `DEFAULT_SECTIONS` instead of editing the page.
Jinja2 autoescaping is on: study names, descriptions and failure reasons are user text and must never
become markup.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jinja2
import pandas as pd
from matplotlib.figure import Figure

from ablate.report import plots, stats
from ablate.report.results import Results, load_results, log_report_artifacts

TEMPLATES = Path(__file__).parent / "templates"


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
    """Figure -> base64 PNG text; the figure is dropped afterwards (reports draw dozens of them)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def summary_section(results: Results) -> Section:
    """What was studied and where it ran: enough to reproduce it or to distrust it."""
    s = results.study
    facts = [
        ("Description", s.description),
        ("Study hash", s.study_hash),
        ("Design", s.design),
        ("Factors", ", ".join(s.factors)),
        ("Arms", str(len(results.arm_order))),
        ("Seeds", ", ".join(map(str, s.seeds))),
        ("Metric", f"{s.metric} ({s.direction})"),
        ("Model", s.model),
        ("Dataset", s.dataset),
        ("Precision", s.precision),
        ("Cells", f"{len(results.finished)} finished, {len(results.failed)} not finished"),
        ("Git commit", s.git_commit),
        ("Created", s.created),
        ("Machine", s.machine),
        ("Tracking store", redact_uri(results.tracking_uri)),
        ("Parent run id", s.run_id),
    ]
    return Section(
        "summary",
        "Study summary and provenance",
        "_summary.html",
        {"facts": [(k, v) for k, v in facts if v], "versions": sorted(s.versions.items())},
    )


def leaderboard_section(results: Results) -> Section:
    """Arms ranked by the study metric; the table a reader checks first."""
    board = stats.leaderboard(results)
    metric = results.study.metric
    columns = [
        ("rank", "#", 0),
        ("arm", "arm", None),
        ("n_seeds", "seeds", 0),
        ("n_failed", "failed", 0),
        (f"{metric}_mean", f"{metric} mean", 4),
        (f"{metric}_std", f"{metric} std", 4),
        ("gap_acc_final", "train−val acc gap", 4),
        ("overfit_ratio_final", "val/train loss", 3),
        ("l2_norm_final", "final L2 norm", 3),
        ("epochs_run", "epochs run", 1),
    ]
    columns = [c for c in columns if c[0] in board]
    return Section(
        "leaderboard",
        "Leaderboard",
        "_leaderboard.html",
        {
            "columns": columns,
            "rows": board.to_dict("records"),
            "metric": metric,
            "direction": results.study.direction,
            "palette": _css_palette(results),
        },
    )


def training_section(results: Results) -> Section:
    """The seed's four plots for every arm: what each regularizer does to training, not just the score."""
    blocks = [FigureBlock(fid, title, figure_png(fn(results))) for fid, title, fn in plots.TRAINING_FIGURES]
    return Section("training", "Training dynamics", "_figures.html", {"figures": blocks})


def failures_section(results: Results) -> Section:
    """Cells that did not finish, with the reason the run recorded: a silent gap would bias the means."""
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


DEFAULT_SECTIONS: list[SectionBuilder] = [
    summary_section,
    leaderboard_section,
    training_section,
    failures_section,
]


def _css_palette(results: Results) -> dict[str, str]:
    palette = plots.arm_palette(results.arm_order)
    return {arm: "#" + "".join(f"{round(255 * c):02x}" for c in rgb) for arm, rgb in palette.items()}


def redact_uri(uri: str) -> str:
    """Drop a password from a store URL (postgresql://user:secret@host) before it lands in a shared file."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _format_number
    return env


def _format_number(value: Any, digits: int | None = 4) -> str:
    """Numbers for humans: fixed decimals, a dash for missing (never 'nan')."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "–"
    if digits is None or isinstance(value, str):
        return str(value)
    return f"{float(value):.{digits}f}"


def render_report(
    results: Results, out_dir: str | Path, sections: list[SectionBuilder] | None = None
) -> Path:
    """Write index.html and summary.csv for already-loaded results (no MLflow access; testable)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    built = [s for s in (builder(results) for builder in (sections or DEFAULT_SECTIONS)) if s is not None]
    html = _environment().get_template("report.html").render(study=results.study, sections=built)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    stats.leaderboard(results).to_csv(out / "summary.csv", index=False)
    return index


def build_report(
    study_name: str,
    tracking_uri: str,
    out_dir: str | Path,
    sections: list[SectionBuilder] | None = None,
    log_artifacts: bool = True,
) -> Path:
    """Rebuild a study's report from MLflow alone and attach it to the study's parent run."""
    results = load_results(study_name, tracking_uri)
    index = render_report(results, out_dir, sections)
    if log_artifacts:
        files = [index] + sorted(p for p in index.parent.glob("*.csv"))
        log_report_artifacts(tracking_uri, results.study.run_id, files)
    return index
