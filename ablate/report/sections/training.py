"""What each regularizer does to training, not just to the score."""

from __future__ import annotations

from ablate.report.figures import training as curves
from ablate.report.figures import weights
from ablate.report.page import Section, figure_block
from ablate.report.results import Results

# The seed's four plots first, then the other per-epoch views, in report order: (id, title, function)
TRAINING_FIGURES = [
    ("loss_curves", "Training vs validation loss", curves.loss_curves),
    ("weight_distribution", "Weight distribution", weights.weight_distribution),
    ("norm_evolution", "L1 / L2 norm evolution", weights.norm_evolution),
    ("overfitting_score", "Overfitting score", curves.overfitting_score),
    ("learning_curves", "Learning curves (accuracy)", curves.learning_curves),
    ("generalization_gap", "Generalization gap", curves.generalization_gap),
    ("sparsity", "Sparsity", curves.sparsity),
]
DIAGNOSTIC_FIGURES = [
    ("layer_norms", "Per-layer norm heatmap", weights.layer_norm_heatmap),
    ("metric_vs_epochs", "Final metric against epochs run", curves.metric_vs_epochs),
]


def training_section(results: Results) -> Section:
    """What each regularizer does to training, not just to the score."""
    blocks = [figure_block(fid, title, fn, results) for fid, title, fn in TRAINING_FIGURES + DIAGNOSTIC_FIGURES]
    return Section("training", "Training dynamics", "_figures.html", {"figures": blocks})
