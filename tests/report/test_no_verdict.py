"""A study that did not learn gets no verdict (issue 23, item 2): at chance, zero variance, every arm the same,
most cells failed. Known answer: mobilenet_v3_small with every cell at 0.1000 test accuracy on 10 classes once
said "dropout: negligible, +0.00 [+0.00, +0.00], p < 0.001"."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from conftest import make_store
from synthetic import SyntheticStudy

from ablate import cli
from ablate.records import Tag
from ablate.report import build_report, load_results
from ablate.report.analyze import table_results
from ablate.report.stats.learned import MAX_FAILED_SHARE, no_verdict_reason
from ablate.report.stats.verdicts import factor_verdicts


def _verdicts(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_cell_at_chance_gets_no_verdict_on_page_csv_and_parent(tmp_path):
    spec = SyntheticStudy(name="mobilenet_at_chance", factors=("dropout",), seeds=(0, 1, 2), base=0.1, noise=0.0,
                          effects={"dropout": 0.0}, model="torchvision", analysis={"classes": 10})
    uri, ids = make_store(tmp_path / "store", spec)
    index = build_report(spec.name, uri, tmp_path / "report")
    rows = _verdicts(index.parent / "verdicts.csv")
    assert [r["verdict"] for r in rows] == ["no_verdict"]
    assert "no cell learned (every cell at chance" in rows[0]["basis"]
    page = index.read_text()
    assert 'id="no-verdict"' in page and "no cell learned (every cell at chance" in page
    assert "negligible, +0.00" not in page
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(tracking_uri=uri).get_run(ids["parent"]).data.tags
    assert "no cell learned" in tags[Tag.NO_VERDICT]


def test_zero_variance_without_class_count_is_still_no_verdict(tmp_path):
    spec = SyntheticStudy(name="flat", factors=("dropout",), seeds=(0, 1, 2), base=0.1, noise=0.0,
                          effects={"dropout": 0.0})
    uri, _ = make_store(tmp_path / "store", spec)
    reason = no_verdict_reason(load_results(spec.name, uri))
    assert reason is not None and "zero variance" in reason


def test_a_study_that_learned_keeps_its_verdicts(tmp_path):
    spec = SyntheticStudy(name="learned", factors=("l2", "dropout"), seeds=(0, 1, 2), analysis={"classes": 10})
    uri, _ = make_store(tmp_path / "store", spec)
    results = load_results(spec.name, uri)
    assert no_verdict_reason(results) is None
    statuses = {v.factor: v.status for v in factor_verdicts(results)}
    assert statuses["l2"] == "helps"


def test_most_cells_failed_gets_no_verdict(tmp_path):
    failures = {(arm, s): "diverged" for arm in ("baseline", "l2", "dropout") for s in (0, 1, 2)}
    spec = SyntheticStudy(name="mostly_failed", seeds=(0, 1, 2), failures=failures)
    uri, _ = make_store(tmp_path / "store", spec)
    reason = no_verdict_reason(load_results(spec.name, uri))
    assert reason is not None and "9 of 12 cells" in reason and f"{MAX_FAILED_SHARE:.0%}" in reason
    assert "--retry-failed" in reason


def _table(values, seeds=(0, 1, 2, 3)) -> pd.DataFrame:
    rows = [{"seed": s, "dropout": on, "test_acc": values(on, s)} for on in (0, 1) for s in seeds]
    return pd.DataFrame(rows)


def test_every_arm_identical_on_every_seed_gets_no_verdict():
    results = table_results(_table(lambda on, s: 0.8 + 0.01 * s))
    reason = no_verdict_reason(results)
    assert reason is not None and "every arm gave the same" in reason
    assert [v.status for v in factor_verdicts(results)] == ["no_verdict"]


def test_analyze_at_chance_with_classes(tmp_path, capsys):
    table = tmp_path / "mobilenet.csv"
    _table(lambda on, s: 0.1).to_csv(table, index=False)
    out = tmp_path / "out"
    assert cli.main(["analyze", str(table), "--classes", "10", "--out", str(out)]) == 0
    rows = _verdicts(out / "verdicts.csv")
    assert rows[0]["verdict"] == "no_verdict" and "no cell learned (every cell at chance" in rows[0]["basis"]
    assert "NO VERDICT: no cell learned" in capsys.readouterr().err
    assert 'id="no-verdict"' in (out / "index.html").read_text()


def test_analyze_without_classes_says_the_chance_check_was_skipped(tmp_path):
    rng = np.random.default_rng(0)
    table = tmp_path / "t.csv"
    _table(lambda on, s: 0.1 + 0.001 * rng.standard_normal()).to_csv(table, index=False)
    out = tmp_path / "out"
    assert cli.main(["analyze", str(table), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "chance check was skipped" in page and "--classes" in page
    out2 = tmp_path / "out2"
    assert cli.main(["analyze", str(table), "--classes", "10", "--out", str(out2)]) == 0
    assert _verdicts(out2 / "verdicts.csv")[0]["verdict"] == "no_verdict"


@pytest.mark.parametrize("classes", ["1", "0"])
def test_analyze_refuses_a_class_count_below_two(tmp_path, classes):
    table = tmp_path / "t.csv"
    _table(lambda on, s: 0.5 + 0.01 * s + 0.02 * on).to_csv(table, index=False)
    assert cli.main(["analyze", str(table), "--classes", classes, "--out", str(tmp_path / "o")]) == 2


def test_compare_never_calls_a_no_verdict_study_different():
    from ablate.report.compare import verdict_rows

    flat = table_results(_table(lambda on, s: 0.1), classes=10)
    learned = table_results(_table(lambda on, s: 0.8 + 0.01 * s + 0.05 * on + 0.002 * (s % 2) * on))
    rows = verdict_rows(flat, learned)
    assert rows[0]["a_status"] == "no_verdict" and rows[0]["agree"] == "no verdict to compare"
