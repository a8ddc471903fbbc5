"""The levels figure: the metric against each factor's level, marginal means with 95% intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def levels_figure(summary: pd.DataFrame, metric: str) -> Figure:
    """The metric against each factor's level: marginal means with 95% intervals."""
    factors = list(dict.fromkeys(summary["factor"]))
    fig = Figure(figsize=(3.8 * max(1, len(factors)), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(factors)), squeeze=False, sharey=True)[0])
    for ax, factor in zip(axes, factors):
        part = summary[summary["factor"] == factor].reset_index(drop=True)
        x = np.arange(len(part))
        err = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.errorbar(x, part["mean"], yerr=np.nan_to_num(err), fmt="o-", color="#0969da", capsize=4)
        ax.set_xticks(x, part["level"])
        ax.set_xlabel(f"{factor} level")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} (mean, 95% CI)")
    return fig
