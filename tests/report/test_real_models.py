"""A report that survives real models: arms whose networks name their layers differently (a dropout-wrapped
head is `fc.1.weight`, the others' `fc.weight`), arms of different architectures, studies where no cell
finished (all failed, some before any epoch) or none ran. Each page builds, says what is missing, and holds no
traceback. Real MLflow stores (one, holding every study), planted by synthetic.py."""

from __future__ import annotations

import math

import pytest
from synthetic import SyntheticStudy, write_study

from ablate.report import load_results, render_report
from ablate.report.figures.weights import _natural, aligned_layer_names, layer_norm_table

ARMS = ["baseline", "l2", "dropout", "l2+dropout"]
ALL_FAILED = {(a, s): "diverged at epoch 1 (loss is nan)" for a in ARMS for s in (0, 1, 2)}
WRAPPED_HEAD = ("conv1.weight", "fc.1.weight")  # nn.Sequential(Dropout, Linear) as the head
STUDIES = {
    "renamed_head": SyntheticStudy(name="renamed_head", layers={"dropout": WRAPPED_HEAD, "l2+dropout": WRAPPED_HEAD}),
    "two_archs": SyntheticStudy(name="two_archs", model="torchvision", layers={
        "dropout": ("features.0.weight", "features.3.weight", "classifier.weight"),
        "l2+dropout": ("features.0.weight", "features.3.weight", "classifier.weight")}),
    "all_failed": SyntheticStudy(name="all_failed", failures=ALL_FAILED),
    "failed_first": SyntheticStudy(name="failed_first", failures=ALL_FAILED, failed_epochs=0),
    "not_run": SyntheticStudy(name="not_run", seeds=()),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_models")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for spec in STUDIES.values():
        write_study(uri, str(root / "artifacts"), spec)
    return uri, root


def _page(store, name: str) -> tuple[str, object]:
    uri, root = store
    results = load_results(name, uri)
    page = render_report(results, root / "reports" / name).read_text()
    assert "Traceback" not in page
    return page, results


def test_a_head_renamed_by_dropout_lines_up_with_the_others(store):
    page, results = _page(store, "renamed_head")
    table = layer_norm_table(results)
    assert list(table.columns) == ["conv1.weight", "fc.weight"] and table.notna().all().all()
    assert "Per-layer norm heatmap" in page


def test_arms_of_different_architectures_share_no_cells_and_show_absolute_norms(store):
    _, results = _page(store, "two_archs")
    table = layer_norm_table(results)
    assert set(table.columns) == {"conv1.weight", "fc.weight", "features[1].weight", "features[2].weight",
                                  "classifier.weight"}
    assert math.isnan(table.loc["baseline", "classifier.weight"]) and math.isnan(table.loc["dropout", "fc.weight"])
    assert table.loc["dropout", "features[2].weight"] > 0


@pytest.mark.parametrize("name", ["all_failed", "failed_first"])
def test_a_study_whose_cells_all_failed_says_so(store, name):
    page, results = _page(store, name)
    assert len(results.finished) == 0 and len(results.failed) == 12
    assert "no cell finished (12 failed or did not finish)" in page
    assert "diverged at epoch 1" in page  # the reasons are there to read
    assert layer_norm_table(results).empty


def test_a_study_with_no_cell_run_yet_says_so(store):
    page, results = _page(store, "not_run")
    assert results.cells.empty and "no cell of this study has run" in page


def test_layer_names_sort_with_numbers_and_words_mixed():
    names = ["fc.weight", "fc[1].weight", "features[10].weight", "features[2].weight", "conv1.weight"]
    assert sorted(names, key=_natural) == ["conv1.weight", "fc[1].weight", "fc.weight", "features[2].weight",
                                           "features[10].weight"]


def test_aligned_names_rank_within_a_container_and_drop_a_lone_index():
    shifted = aligned_layer_names(["norm/features.1.weight", "norm/features.5.weight", "norm/head.1.weight"])
    plain = aligned_layer_names(["norm/features.0.weight", "norm/features.3.weight", "norm/head.weight"])
    assert sorted(shifted.values()) == sorted(plain.values()) == ["features[1].weight", "features[2].weight",
                                                                  "head.weight"]
    assert aligned_layer_names(["norm/0.weight"]) == {"norm/0.weight": "[1].weight"}  # a bare Sequential
