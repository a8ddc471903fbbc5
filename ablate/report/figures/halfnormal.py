"""The half-normal plot of a one-seed factorial: effects that stand off the line of noise are real."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats as sps

from ablate.report.figures.style import empty, style


def half_normal_plot(effects: pd.DataFrame, pse: float, me: float, metric: str, scale: float = 1.0,
                     unit: str = "") -> Figure:
    """|effect| against half-normal quantiles (Daniel's plot); the line is Lenth's PSE, the dashed line
    the margin of error ME: effects beyond it are called."""
    if effects.empty:
        return empty("Half-normal plot", "no effects to plot")
    order = effects.assign(size=effects["estimate"].abs() * scale).sort_values("size").reset_index(drop=True)
    m = len(order)
    quantiles = sps.halfnorm.ppf((np.arange(1, m + 1) - 0.5) / m)
    with style():
        fig = Figure(figsize=(7.5, 4.6), layout="constrained")
        ax = fig.subplots()
        called = order["size"] > me * scale
        ax.scatter(quantiles[~called], order.loc[~called, "size"], color="#8c959f", zorder=3)
        ax.scatter(quantiles[called], order.loc[called, "size"], color="#cf222e", zorder=3)
        ax.plot([0, quantiles.max() * 1.05], [0, quantiles.max() * 1.05 * pse * scale], color="#57606a",
                linewidth=1, label="noise: slope = Lenth's PSE")
        ax.axhline(me * scale, color="#cf222e", linewidth=1, linestyle="--", label="margin of error (ME)")
        for q, row in zip(quantiles, order.itertuples()):
            if row.size > me * scale or row.Index >= m - 3:
                ax.annotate(row.term, (q, row.size), textcoords="offset points", xytext=(5, 2), fontsize=8)
        ax.set_xlabel("half-normal quantile")
        ax.set_ylabel(f"|effect| on {metric}" + (f" ({unit})" if unit else ""))
        ax.legend(loc="upper left", fontsize=8)
        fig.suptitle("Half-normal plot of every estimable effect (one seed: no residual to test against)",
                     fontsize=10)
        return fig
