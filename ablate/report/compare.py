"""`ablate compare A B`: two studies side by side in one page, from MLflow alone.

Made for the same factors asked of two datasets or two models: one row per factor with both verdicts (and
whether they agree), both leaderboards aligned by arm, and what each study was. Every number is the one
the study's own report shows (the same verdict and leaderboard functions), so the page adds no statistics
of its own: it says where two answers agree and where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.report.figures.style import css_palette
from ablate.report.page import Section
from ablate.report.results import Results, load_results
from ablate.report.stats.effects import metric_scale
from ablate.report.stats.leaderboard import leaderboard
from ablate.report.stats.verdicts import factor_verdicts

CSV = "compare.csv"
UNMARKED = {"study", "study hash", "created"}  # facts that differ between any two studies


@dataclass(frozen=True)
class PageHead:
    """What the page template shows in its header (the report's is the study's)."""

    name: str
    description: str


def _effect(v, metric: str) -> str:
    """The verdict's estimate and interval as its sentence states them (points for accuracy-like metrics)."""
    scale, unit = metric_scale(metric)  # verdicts carry metric units (a fraction for an accuracy)
    if not np.isfinite(v.estimate):
        return "–"
    text = f"{v.estimate * scale:+.2f}"
    if np.isfinite(v.ci_low) and np.isfinite(v.ci_high):
        text += f" [{v.ci_low * scale:+.2f}, {v.ci_high * scale:+.2f}]"
    return text + (f" {unit}" if unit else "")


def verdict_rows(a: Results, b: Results) -> list[dict]:
    """One row per factor of either study: both verdicts and whether they agree."""
    va = {v.factor: v for v in factor_verdicts(a)}
    vb = {v.factor: v for v in factor_verdicts(b)}
    rows = []
    for factor in dict.fromkeys([*a.study.factors, *b.study.factors]):
        x, y = va.get(factor), vb.get(factor)
        agree = "only in A" if y is None else "only in B" if x is None else \
            "no verdict to compare" if "no_verdict" in (x.status, y.status) else \
            "same" if x.status == y.status else "differs"
        rows.append({"factor": factor, "agree": agree,
                     "a_status": x.status if x else "", "a_effect": _effect(x, a.study.metric) if x else "",
                     "a_text": x.text if x else "", "b_status": y.status if y else "",
                     "b_effect": _effect(y, b.study.metric) if y else "", "b_text": y.text if y else ""})
    return rows


def _board(results: Results) -> dict[str, dict]:
    board = leaderboard(results)
    metric = results.study.metric
    scale, _ = metric_scale(metric)
    return {r["arm"]: {"rank": r.get("rank"), "mean": r.get(f"{metric}_mean"),
                       "diff": r.get("diff_vs_baseline", np.nan) * scale} for r in board.to_dict("records")}


def leaderboard_rows(a: Results, b: Results) -> list[dict]:
    """Arms of either study, in A's rank order, then B's arms that A lacks."""
    ba, bb = _board(a), _board(b)
    order = sorted(ba, key=lambda arm: ba[arm]["rank"]) + sorted((x for x in bb if x not in ba),
                                                                  key=lambda arm: bb[arm]["rank"])
    empty = {"rank": None, "mean": None, "diff": None}
    return [{"arm": arm, "a": ba.get(arm, empty), "b": bb.get(arm, empty)} for arm in order]


def _facts(r: Results) -> list[tuple[str, str]]:
    s = r.study
    return [("study", s.name), ("model", s.model), ("dataset", s.dataset), ("design", s.design),
            ("factors", ", ".join(s.factors)), ("seeds", ", ".join(map(str, s.seeds))),
            ("metric", f"{s.metric} ({s.direction})"), ("cells", f"{len(r.finished)} finished, "
                                                              f"{len(r.failed)} not finished"),
            ("study hash", s.study_hash[:12]), ("created", s.created)]


def comparison_sections(a: Results, b: Results) -> list[Section]:
    fa, fb = _facts(a), _facts(b)
    facts = [(k, va, vb, va != vb and k not in UNMARKED) for (k, va), (_, vb) in zip(fa, fb)]
    _, unit_a = metric_scale(a.study.metric)
    _, unit_b = metric_scale(b.study.metric)
    arms = list(dict.fromkeys([*a.arm_order, *b.arm_order]))
    return [
        Section("studies", "The two studies", "_compare_facts.html", {"facts": facts}),
        Section("verdicts", "Verdicts, factor by factor", "_compare_verdicts.html",
                {"rows": verdict_rows(a, b), "a": a.study.name, "b": b.study.name}),
        Section("leaderboards", "Leaderboards, arm by arm", "_compare_leaderboard.html",
                {"rows": leaderboard_rows(a, b), "a": a.study, "b": b.study, "unit_a": unit_a or a.study.metric,
                 "unit_b": unit_b or b.study.metric, "palette": css_palette(arms)}),
    ]


def render_comparison(a: Results, b: Results, out_dir: str | Path) -> Path:
    """index.html (self-contained, no network, like the report) and compare.csv (the verdict rows)."""
    from ablate.report.html import _content_security_policy, _environment

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head = PageHead(f"{a.study.name} vs {b.study.name}",
                    f"A: {a.study.name} ({a.study.model} on {a.study.dataset}) · "
                    f"B: {b.study.name} ({b.study.model} on {b.study.dataset})")
    sections = comparison_sections(a, b)
    template = _environment().get_template("report.html")
    again = f"ablate compare {a.study.name} {b.study.name}"
    page = template.render(study=head, sections=sections, csp="", rebuild=again)
    page = template.render(study=head, sections=sections, csp=_content_security_policy(page), rebuild=again)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    pd.DataFrame(sections[1].context["rows"]).to_csv(out / CSV, index=False)
    return index


def build_comparison(name_a: str, name_b: str, uri_a: str, uri_b: str, out_dir: str | Path) -> Path:
    return render_comparison(load_results(name_a, uri_a), load_results(name_b, uri_b), out_dir)
