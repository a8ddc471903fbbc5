"""The report file: self-contained, escaped, complete; logged to the parent run."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from conftest import XSS_NAME
from mlflow.tracking import MlflowClient

from ablate.report.html import Section, build_report, redact_uri, render_report
from ablate.report.results import load_results
from ablate.report.sections.effects import COMPARISON_FIGURES
from ablate.report.sections.training import DIAGNOSTIC_FIGURES, TRAINING_FIGURES


class _Collect(HTMLParser):
    """Tags and attributes of a page, for counting images and table rows without a browser."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _parse(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def built(study_store, tmp_path_factory):
    uri, spec, ids = study_store
    out = tmp_path_factory.mktemp("report")
    index = build_report("synthetic", uri, out)
    return index, index.read_text(encoding="utf-8"), uri, ids


def test_files_written(built):
    index, _, _, _ = built
    assert index.name == "index.html"
    summary = (index.parent / "summary.csv").read_text()
    assert summary.splitlines()[0].startswith("rank,arm,")
    assert len(summary.splitlines()) == 1 + 4
    effects = (index.parent / "effects.csv").read_text().splitlines()
    assert (
        effects[0].startswith("analysis,term,") and len(effects) == 1 + 3 + 3
    )  # 3 vs baseline, 2 mains + 1 interaction


def test_one_inline_image_per_figure_and_nothing_remote(built):
    _, text, _, _ = built
    page = _parse(text)
    images = [a["src"] for t, a in page.tags if t == "img"]
    n_figures = len(TRAINING_FIGURES) + len(COMPARISON_FIGURES) + len(DIAGNOSTIC_FIGURES)
    assert len(images) == n_figures
    assert all(src.startswith("data:image/png;base64,") for src in images)
    links = [v for _, a in page.tags for k, v in a.items() if k in {"src", "href"} and v]
    assert not [v for v in links if re.match(r"(https?:)?//", v)]


def test_leaderboard_has_a_row_per_arm_and_sections(built):
    _, text, _, _ = built
    table = text.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 4
    for anchor in [
        "overview",
        "verdicts",
        "leaderboard",
        "effects",
        "training",
        "cells",
        "failures",
        "provenance",
    ]:
        assert f'id="{anchor}"' in text and f'href="#{anchor}"' in text
    for fact in ["abc123def456", "0123456789abcdef", "test-host (2 cores, cpu)", "2.14.1"]:
        assert fact in text


def test_verdict_per_factor_and_every_run_id(built):
    _, text, _, ids = built
    verdicts = text.split('id="verdicts"')[1].split("</section>")[0]
    assert (
        verdicts.count("<li ") == 2
        and "<strong>l2</strong>: " in verdicts
        and "<strong>dropout</strong>: " in verdicts
    )
    assert "after Holm correction" in verdicts
    cells = text.split('id="cells"')[1]
    assert all(run_id in cells for name, run_id in ids.items() if name != "parent")


def test_csp_blocks_network_and_allows_only_the_inline_script(built):
    _, text, _, _ = built
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1))
    assert "default-src 'none'" in csp and "img-src data:" in csp and csp.count("'sha256-") == 1


def test_failed_cell_listed_with_reason_and_run_id(built):
    _, text, _, ids = built
    failures = text.split('id="failures"')[1]
    assert "diverged at epoch 2" in failures and ids["dropout/seed2"] in failures


def test_report_logged_to_parent_run(built):
    _, _, uri, ids = built
    names = {a.path for a in MlflowClient(uri).list_artifacts(ids["parent"], "report")}
    assert names == {"report/index.html", "report/summary.csv", "report/effects.csv", "report/verdicts.csv"}


def test_every_study_string_is_escaped(xss_store, tmp_path):
    uri, spec, _ = xss_store
    text = build_report(XSS_NAME, uri, tmp_path, log_artifacts=False).read_text(encoding="utf-8")
    scripts = _parse(text).scripts
    assert len(scripts) == 1 and "alert" not in scripts[0]  # only the page's own table-sorting script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(3)&lt;/script&gt; diverged" in text
    assert "<img src=x" not in text and "&lt;b&gt;bold&lt;/b&gt; &amp;" in text


def test_sections_are_a_pluggable_list(study_store, tmp_path):
    uri, _, _ = study_store
    results = load_results("synthetic", uri)

    def extra(res):
        return Section("tune", "Tune <phase>", "_facts.html", {"facts": [("trials", "12")], "versions": []})

    text = render_report(results, tmp_path, sections=[extra]).read_text()
    assert 'id="tune"' in text and "Tune &lt;phase&gt;" in text and 'id="leaderboard"' not in text


def test_redact_uri_hides_passwords():
    assert redact_uri("postgresql://bob:s3cret@db:5432/ml") == "postgresql://bob:***@db:5432/ml"
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_effects_shown_in_points_for_accuracy_and_own_units_otherwise():
    from ablate.report.stats.effects import effects_for_display

    effects = pd.DataFrame({"term": ["l2"], "estimate": [0.0123], "ci_low": [0.0031], "ci_high": [0.0215]})
    shown, unit, digits = effects_for_display(effects, "test_acc")
    assert (unit, digits) == ("points", 2) and shown["estimate"].iloc[0] == pytest.approx(1.23)
    shown, unit, digits = effects_for_display(effects, "test_loss")
    assert (unit, digits) == ("", 4) and shown["ci_low"].iloc[0] == pytest.approx(0.0031)
    assert effects["estimate"].iloc[0] == 0.0123  # the table given is left as it was
