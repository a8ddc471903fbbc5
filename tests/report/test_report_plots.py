"""Figures: one per function, a consistent color per arm, honest empty states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from ablate.report.figures import style, training, weights
from ablate.report.results import Results, StudyInfo, load_results
from ablate.report.sections.training import TRAINING_FIGURES


@pytest.fixture(scope="module")
def results(study_store):
    uri, _, _ = study_store
    return load_results("synthetic", uri)


@pytest.mark.parametrize("fid,title,fn", TRAINING_FIGURES)
def test_every_training_figure_draws(results, fid, title, fn):
    fig = fn(results)
    assert isinstance(fig, Figure)
    assert any(ax.has_data() for ax in fig.axes), fid


def test_arm_colors_are_stable_and_baseline_is_grey():
    arms = ["baseline", "l2", "dropout", "l2+dropout"]
    first, again = style.arm_palette(arms), style.arm_palette(arms)
    assert first == again and first["baseline"] == style.BASELINE_COLOR
    assert len(set(first.values())) == len(arms)
    many = [f"arm{i}" for i in range(15)] + ["baseline"]
    assert len(set(style.arm_palette(many).values())) == 16


def test_loss_panel_uses_the_arm_color(results):
    fig = training.loss_curves(results)
    palette = style.arm_palette(results.arm_order)
    for ax in fig.axes:
        if ax.get_visible() and ax.get_title():
            assert to_rgb(ax.lines[0].get_color()) == pytest.approx(palette[ax.get_title()])


def test_pooled_histogram_is_a_density_over_differing_edges():
    a = {"edges": [-1.0, 0.0, 1.0], "counts": [10, 30]}
    b = {"edges": [-2.0, -1.0, 0.0, 1.0, 2.0], "counts": [1, 2, 3, 4]}
    edges, density = weights.pooled_histogram([a, b])
    assert edges[0] == -2.0 and edges[-1] == 2.0
    assert np.sum(density * np.diff(edges)) == pytest.approx(1.0)
    assert weights.pooled_histogram([{"edges": [0.0], "counts": [1, 2]}])[0].size == 0  # malformed: skipped


def test_mean_band_over_seeds():
    h = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "arm": ["x", "x"],
            "seed": [0, 1],
            "epoch": [1, 1],
            "metric": ["l2_norm", "l2_norm"],
            "value": [1.0, 3.0],
        }
    )
    band = training.mean_band(h, "l2_norm")
    assert band.iloc[0][["mean", "n"]].tolist() == [2.0, 2]
    assert band.iloc[0]["std"] == pytest.approx(np.sqrt(2))


def test_figures_say_why_they_are_empty():
    empty = Results(
        study=StudyInfo(name="s", run_id="p"),
        cells=pd.DataFrame(columns=["run_id", "arm", "seed", "status", "phase"]),
        history=pd.DataFrame(columns=["run_id", "arm", "seed", "epoch", "metric", "value"]),
        weights={},
        params={},
    )
    for _, _, fn in TRAINING_FIGURES:
        fig = fn(empty)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("no " in t or "not logged" in t for t in texts)
