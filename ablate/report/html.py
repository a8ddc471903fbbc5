"""The report: one self-contained HTML file (figures inline, no network) plus CSV tables beside it.

The page is a list of sections (`sections.DEFAULT_SECTIONS`), each rendered by its own partial template.
Jinja2 autoescaping is on: study names, descriptions and failure reasons are user text and never become
markup. As a second fence, a Content-Security-Policy allows no network at all and only the page's own
inline script (by hash), so even a string that slipped past escaping could not run.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from ablate.report.answer import Answer
from ablate.report.figure_pool import parallel_figures
from ablate.report.page import Section, SectionBuilder
from ablate.report.results import Results, load_results
from ablate.report.sections import DEFAULT_SECTIONS
from ablate.report.stats.effects import effect_table
from ablate.report.stats.leaderboard import leaderboard
from ablate.report.stats.verdicts import factor_verdicts, verdict_table
from ablate.uri import redact_uri

TEMPLATES = Path(__file__).parent / "templates"
__all__ = ["build_report", "render_report", "redact_uri", "Section", "DEFAULT_SECTIONS"]


@functools.cache
def _environment() -> jinja2.Environment:
    """One environment a process: jinja2 keeps each template it compiled (~0.2 s for the page's partials)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["sortkey"] = sort_key
    return env


def compile_templates() -> None:
    """Compile the page and every partial now (`ablate run` does it while the cells train)."""
    env = _environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def format_number(value: Any, digits: int | None = 4) -> str:
    """Numbers for humans: fixed decimals, a dash for missing (never 'nan')."""
    if _missing(value):
        return "–"
    if digits is None or isinstance(value, str):
        return str(value)
    return f"{float(value):.{digits}f}"


def sort_key(value: Any) -> str:
    """The raw value a table column sorts by (numbers numerically, missing last)."""
    if _missing(value):
        return ""
    return (
        repr(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    )


def _content_security_policy(html_without_csp: str) -> str:
    """No network of any kind; inline styles and data: images only; scripts only by exact hash."""
    scripts = html_without_csp.split("<script>")[1:]
    hashes = []
    for chunk in scripts:
        body = chunk.split("</script>")[0]
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {' '.join(hashes) or chr(39) + 'none' + chr(39)}; base-uri 'none'; form-action 'none'"
    )


def render_report(
    results: Results, out_dir: str | Path, sections: list[SectionBuilder] | None = None
) -> Path:
    """Write index.html, summary.csv, effects.csv and verdicts.csv for loaded results (no MLflow access).

    Each file is written whole beside its place and renamed into it: a full disk or a kill mid-write
    leaves the previous report as it was, never a truncated page."""
    out = Path(out_dir)
    effect_table(results)  # before the figure processes fork: they inherit it (the effect figures use it)
    with parallel_figures(results):  # figures are drawn in other processes while the statistics run here
        # built last section first: the page's later parts (training curves, weights, cells) hold most of its
        # figures and the early ones most of its statistics, so the figure processes start at once and the
        # statistics are computed here while they draw; the page keeps its order
        built: list[Section] = [s for s in reversed([b(results) for b in reversed(sections or DEFAULT_SECTIONS)])
                                if s is not None]
        template = _environment().get_template("report.html")
        page = template.render(study=results.study, sections=built, csp="")
    page = template.render(study=results.study, sections=built, csp=_content_security_policy(page))
    effects = effect_table(results)  # computed once per results: the sections used these same tables
    verdicts = verdict_table(factor_verdicts(results))
    files = {
        "index.html": page.encode("utf-8"),
        "summary.csv": leaderboard(results).to_csv(index=False).encode("utf-8"),
        "effects.csv": effects.assign(metric=results.study.metric).to_csv(index=False).encode("utf-8"),
        "verdicts.csv": verdicts.assign(metric=results.study.metric).to_csv(index=False).encode("utf-8"),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomic(out / name, data)
    except OSError as e:
        from ablate.errors import AblateError
        from ablate.faults import describe

        raise AblateError(f"cannot write the report in {out} ({describe(e) or e}); the previous report there, "
                          f"if any, is left as it was. Fix that, then rebuild it: ablate report "
                          f"{results.study.name!r} (or choose another --reports-dir)") from None
    return out / "index.html"


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def build_report(
    study_name: str,
    tracking_uri: str,
    out_dir: str | Path,
    sections: list[SectionBuilder] | None = None,
    log_artifacts: bool = True,
) -> Path:
    """Rebuild a study's report from MLflow alone and attach it to the study's parent run."""
    return report_answer(study_name, tracking_uri, out_dir, sections, log_artifacts).report


def report_answer(study_name: str, tracking_uri: str, out_dir: str | Path,
                  sections: list[SectionBuilder] | None = None, log_artifacts: bool = True) -> Answer:
    """build_report, and the answer its page states (the same tables, computed once): the parent run gets
    the page, its CSV files and the verdicts as tags."""
    results = load_results(study_name, tracking_uri)
    answer = Answer.of(results, render_report(results, out_dir, sections))
    if log_artifacts:
        index = answer.report
        files = [index] + [index.parent / f for f in ("summary.csv", "effects.csv", "verdicts.csv")]
        from ablate.report.stats.learned import no_verdict_reason
        from ablate.tracking import log_report

        log_report(tracking_uri, results.study.run_id, files, answer.tags(), no_verdict_reason(results))
    return answer
