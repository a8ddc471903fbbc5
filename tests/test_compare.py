"""`ablate compare A B`: two studies' verdicts and leaderboards side by side, from MLflow alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "report"))
from synthetic import SyntheticStudy, write_study  # noqa: E402

from ablate.cli import main  # noqa: E402
from ablate.report.compare import verdict_rows  # noqa: E402
from ablate.report.results import load_results  # noqa: E402


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Study `cnn_digits` (l2 helps, dropout nothing) and, in a second store, `mlp_digits` (l2 nothing,
    dropout hurts, augment extra)."""
    root = tmp_path_factory.mktemp("compare")
    a = SyntheticStudy(name="cnn_digits", factors=("l2", "dropout"), seeds=(0, 1, 2, 3),
                       effects={"l2": 0.03, "dropout": 0.0})
    b = SyntheticStudy(name="mlp_digits", factors=("l2", "dropout", "augment"), seeds=(0, 1, 2, 3),
                       effects={"l2": 0.0, "dropout": -0.04, "augment": 0.0})
    uri_a, uri_b = f"sqlite:///{root / 'a.db'}", f"sqlite:///{root / 'b.db'}"
    write_study(uri_a, str(root / "art_a"), a)
    write_study(uri_b, str(root / "art_b"), b)
    return uri_a, uri_b, root


def test_a_row_per_factor_with_both_verdicts(stores):
    uri_a, uri_b, _ = stores
    rows = {r["factor"]: r for r in verdict_rows(load_results("cnn_digits", uri_a), load_results("mlp_digits", uri_b))}
    assert list(rows) == ["l2", "dropout", "augment"]
    assert rows["l2"]["a_status"] == "helps" and rows["l2"]["b_status"] != "helps" and rows["l2"]["agree"] == "differs"
    assert rows["dropout"]["b_status"] == "hurts"
    assert rows["augment"]["agree"] == "only in B" and rows["augment"]["a_status"] == ""
    assert rows["l2"]["a_effect"].endswith("points")
    assert 2.0 < float(rows["l2"]["a_effect"].split()[0]) < 4.0  # the planted +0.03 test_acc: +3 points


def test_compare_command_writes_one_self_contained_page(stores, capsys):
    uri_a, uri_b, root = stores
    out = root / "page"
    assert main(["compare", "cnn_digits", "mlp_digits", "--tracking-uri", uri_a, "--tracking-uri-b", uri_b,
                 "--out", str(out)]) == 0
    assert f"comparison: {out / 'index.html'}" in capsys.readouterr().out
    html = (out / "index.html").read_text()
    assert "<title>ablate report: cnn_digits vs mlp_digits</title>" in html
    assert "default-src &#39;none&#39;" in html  # no network, like the report
    for section in ('id="studies"', 'id="verdicts"', 'id="leaderboards"', 'id="compare-verdicts"',
                    'id="compare-leaderboard"'):
        assert section in html
    assert "l2+dropout+augment" in html and "ablate compare cnn_digits mlp_digits" in html
    csv = pd.read_csv(out / "compare.csv")
    assert list(csv["factor"]) == ["l2", "dropout", "augment"]


def test_compare_of_an_unknown_study_exits_2(stores, capsys):
    uri_a, _, root = stores
    assert main(["compare", "cnn_digits", "nope", "--tracking-uri", uri_a, "--out", str(root / "x")]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
