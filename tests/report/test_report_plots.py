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
        study=StudyInfo(study="s", run_id="p"),
        cells=pd.DataFrame(columns=["run_id", "arm", "seed", "status", "phase"]),
        history=pd.DataFrame(columns=["run_id", "arm", "seed", "epoch", "metric", "value"]),
        weights={},
        params={},
    )
    for _, _, fn in TRAINING_FIGURES:
        fig = fn(empty)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("no " in t or "not logged" in t for t in texts)


# ------------------------------------------------------------------------------------------ readability (issue 13)
@pytest.fixture(scope="module")
def sixteen(tmp_path_factory):
    """A four-factor factorial (16 arms), two seeds, planted effects of both signs."""
    from conftest import make_store
    from synthetic import SyntheticStudy

    spec = SyntheticStudy(name="sixteen", factors=("l2", "dropout", "batchnorm", "augment"), seeds=(0, 1),
                          effects={"l2": 0.02, "dropout": -0.01, "batchnorm": 0.04, "augment": -0.03})
    uri, _ = make_store(tmp_path_factory.mktemp("sixteen"), spec)
    return load_results("sixteen", uri)


def test_forest_plot_is_sorted_by_effect_best_on_top(sixteen):
    from ablate.report.figures.effects import forest_plot
    from ablate.report.stats.effects import effect_table

    fig = forest_plot(sixteen)
    ax = fig.axes[0]
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    labels = [label for _, label in ticks]  # top to bottom
    rows = effect_table(sixteen).query("analysis == 'vs_baseline'").set_index("term")["estimate"]
    assert [rows[label] for label in labels] == sorted((rows[label] for label in labels), reverse=True)
    assert labels[0] == rows.idxmax() and labels[-1] == rows.idxmin() and len(labels) == 15


def test_main_effects_panels_are_sorted_by_effect(sixteen):
    from ablate.report.figures.effects import main_effects_plot

    fig = main_effects_plot(sixteen)
    titles = [ax.get_title().split("\n")[0] for ax in fig.axes if ax.get_title()]
    assert titles == ["batchnorm", "l2", "dropout", "augment"]  # the planted effects, best first


def test_curves_with_sixteen_arms_become_one_panel_per_factor(sixteen):
    fig = training.generalization_gap(sixteen)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["l2", "dropout", "batchnorm", "augment"]
    for ax in fig.axes:
        labels = ax.get_legend_handles_labels()[1]
        assert labels == ["off (8 arms)", "on (8 arms)"]  # two legend entries, not sixteen
        assert len(ax.get_lines()) == 16 + 2 + 1  # every arm (thin), the two means, the zero line


def test_norm_evolution_with_sixteen_arms_highlights_a_few(sixteen):
    fig = weights.norm_evolution(sixteen)
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert "baseline" in labels and labels[-1] == "9 other arms"
    assert len(labels) == 1 + 2 * style.HIGHLIGHTED + 1
    assert any(label.endswith("(best)") for label in labels) and any(label.endswith("(worst)") for label in labels)
    assert "coloured: baseline" in fig.get_suptitle()


def test_few_arms_keep_one_axis_with_every_arm_labelled(results):
    fig = training.generalization_gap(results)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    assert fig.axes[0].get_legend_handles_labels()[1] == [a for a in results.arm_order]


def test_layer_heatmap_colour_bar_reads_in_ratios_like_its_cells(sixteen):
    fig = weights.layer_norm_heatmap(sixteen)
    bar = fig.axes[-1]
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert len(labels) == 5 and "1.00" in labels
    values = [float(x) for x in labels]
    assert values == sorted(values) and values[0] < 1 < values[-1]
    assert abs(values[0] * values[-1] - 1) < 0.02  # symmetric in log: halving and doubling alike
    assert "log" not in bar.get_ylabel().split("(")[0]  # the unit is a ratio, the scale is log
