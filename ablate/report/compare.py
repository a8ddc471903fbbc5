"""`ablate compare A B`: two studies side by side in one page, from MLflow alone.

Made for the same factors asked of two datasets or two models. First the settings in which the two studies
differ (`train.epochs: 20 vs 2`, model, data, seeds), read from each parent run's params and tags; then one
row per factor with both verdicts (each the study's own report's) and the difference of the two effects,
B - A, with its interval and p (stats/difference.py: Welch, Holm over the factors compared). A factor
"differs" only where that test says so: two verdicts that read differently are not a difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.report.figures.style import css_palette
from ablate.report.page import Section
from ablate.report.results import Results, load_results
from ablate.report.stats.difference import (
    AGREE,
    NO_TEST,
    Difference,
    differences,
    estimate_from,
    family_statement,
)
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


def _margin(verdicts) -> float | None:
    """The stricter of the two studies' margins: "agree within" claims no more than either allows."""
    margins = [v.min_effect for v in verdicts if np.isfinite(v.min_effect) and v.min_effect > 0]
    return min(margins) if margins else None


def _difference_text(d: Difference, metric: str) -> str:
    scale, unit = metric_scale(metric)
    if not np.isfinite(d.low):
        return "–"
    text = f"{d.estimate * scale:+.2f} [{d.low * scale:+.2f}, {d.high * scale:+.2f}]"
    return text + (f" {unit}" if unit else "")


def compared(a: Results, b: Results) -> tuple[list[dict], str]:
    """One row per factor of either study (both verdicts, B - A with its test) and the family statement."""
    va = {v.factor: v for v in factor_verdicts(a)}
    vb = {v.factor: v for v in factor_verdicts(b)}
    factors = list(dict.fromkeys([*a.study.factors, *b.study.factors]))
    same_metric = a.study.metric == b.study.metric
    both = [f for f in factors if f in va and f in vb and "no_verdict" not in (va[f].status, vb[f].status)]
    pairs = {f: tuple(estimate_from(v.estimate, v.ci_low, v.ci_high, v.se, v.df) for v in (va[f], vb[f]))
             for f in both} if same_metric else {}
    margin = _margin([*va.values(), *vb.values()])
    diffs = differences(pairs, margin)
    scale, unit = metric_scale(a.study.metric)
    margin_text = f"±{margin * scale:.2f}{' ' + unit if unit else ''}" if margin else ""
    rows = []
    for factor in factors:
        x, y, d = va.get(factor), vb.get(factor), diffs.get(factor, Difference(factor))
        agree = "only in A" if y is None else "only in B" if x is None else \
            "no verdict to compare" if "no_verdict" in (x.status, y.status) else \
            f"not comparable: metrics differ ({a.study.metric} vs {b.study.metric})" if not same_metric else \
            f"{AGREE} {margin_text}" if d.verdict == AGREE else d.verdict
        if agree == NO_TEST:
            agree = "no test (a study has no spread for this factor)"
        note = f"levels differ: A at {x.level}, B at {y.level}" if x and y and x.level != y.level else ""
        rows.append({"factor": factor, "agree": agree, "difference": d.estimate, "low": d.low, "high": d.high,
                     "p": d.p, "p_holm": d.p_holm, "p_tost_holm": d.p_tost_holm, "df": d.df,
                     "difference_text": _difference_text(d, a.study.metric), "note": note,
                     "a_status": x.status if x else "", "a_effect": _effect(x, a.study.metric) if x else "",
                     "a_text": x.text if x else "", "b_status": y.status if y else "",
                     "b_effect": _effect(y, b.study.metric) if y else "", "b_text": y.text if y else ""})
    tested = sum(np.isfinite(d.p_holm) for d in diffs.values())
    return rows, family_statement(tested, margin_text)


def verdict_rows(a: Results, b: Results) -> list[dict]:
    """One row per factor of either study: both verdicts, B - A and the verdict of that difference."""
    return compared(a, b)[0]


def _settings(r: Results) -> dict[str, str]:
    s = r.study
    facts = {"model": s.model, "dataset": s.dataset, "design": s.design, "factors": ", ".join(s.factors),
             "seeds": ", ".join(map(str, s.seeds)), "metric": f"{s.metric} ({s.direction})"}
    return {**facts, **{k: str(v) for k, v in sorted(s.params.items()) if k not in facts}}


def settings_diff(a: Results, b: Results) -> list[tuple[str, str, str]]:
    """(setting, A's value, B's value) for every setting the two studies do not share: the study's facts,
    then its parent params (the flattened model/data/train settings, sizes, tuned values); "–" if absent."""
    sa, sb = _settings(a), _settings(b)
    keys = list(dict.fromkeys([*sa, *sb]))
    return [(k, sa.get(k, "–"), sb.get(k, "–")) for k in keys if sa.get(k) != sb.get(k)]


def terminal_lines(a: Results, b: Results) -> list[str]:
    """What `ablate compare` prints: the settings that differ, then B - A for each factor in both."""
    lines = [f"A: {a.study.name}   B: {b.study.name}"]
    diff = settings_diff(a, b)
    lines.append("settings that differ:" if diff else "settings that differ: none")
    lines += [f"  {k}: {x} vs {y}" for k, x, y in diff]
    rows, statement = compared(a, b)
    lines.append("B - A per factor:")
    for r in rows:
        lines.append(f"  {r['factor']}: {r['a_status'] or '–'} vs {r['b_status'] or '–'}; "
                     f"difference {r['difference_text']}"
                     + (f", p_holm = {r['p_holm']:.3g}" if np.isfinite(r["p_holm"]) else "")
                     + f": {r['agree']}")
    return [*lines, statement]


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
    rows, statement = compared(a, b)
    return [
        Section("studies", "The two studies", "_compare_facts.html",
                {"facts": facts, "differ": settings_diff(a, b)}),
        Section("verdicts", "Verdicts and the difference B - A, factor by factor", "_compare_verdicts.html",
                {"rows": rows, "a": a.study.name, "b": b.study.name, "family": statement}),
        Section("leaderboards", "Leaderboards, arm by arm", "_compare_leaderboard.html",
                {"rows": leaderboard_rows(a, b), "a": a.study, "b": b.study, "unit_a": unit_a or a.study.metric,
                 "unit_b": unit_b or b.study.metric, "palette": css_palette(arms)}),
    ]


def render_comparison(a: Results, b: Results, out_dir: str | Path) -> Path:
    """index.html (self-contained, no network, like the report) and compare.csv (the rows: both verdicts,
    difference B - A in the metric's units, low, high, p, p_holm, verdict_of_difference)."""
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
    rows = pd.DataFrame(sections[1].context["rows"]).drop(columns="difference_text")
    rows.rename(columns={"agree": "verdict_of_difference"}).to_csv(out / CSV, index=False)
    return index


def build_comparison(name_a: str, name_b: str, uri_a: str, uri_b: str,
                     out_dir: str | Path) -> tuple[Path, list[str]]:
    """The page and compare.csv, and the lines the terminal shows (settings that differ first)."""
    a, b = load_results(name_a, uri_a), load_results(name_b, uri_b)
    return render_comparison(a, b, out_dir), terminal_lines(a, b)
