"""The levels figure: each level's paired difference from the reference level, with its 95% interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ablate.report.figures.style import empty, style


def levels_figure(contrasts: pd.DataFrame, tests: pd.DataFrame, metric: str, scale: float = 1.0, unit: str = "",
                  margin: float | None = None) -> Figure:
    """Each level minus the reference level (seed block, averaged over the other factors), 95% t CI; band: ±min_effect.

    The differences are contrasts of the factorial fit, so seed-to-seed spread cancels as in a paired test.
    """
    factors = list(dict.fromkeys(contrasts["factor"]))
    if not factors:
        return empty("Factor levels", "no factor with levels could be fitted")
    tests = tests.set_index("factor") if len(tests) else tests
    with style():
        fig = Figure(figsize=(max(3.9 * len(factors), 6.0), 3.8), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(factors), squeeze=False, sharey=True)[0])
        for ax, factor in zip(axes, factors):
            part = contrasts[contrasts["factor"] == factor].reset_index(drop=True)
            x = np.arange(len(part))
            est = part["estimate"].to_numpy(float) * scale
            err = np.vstack([est - part["ci_low"] * scale, part["ci_high"] * scale - est])
            if margin:
                ax.axhspan(-margin * scale, margin * scale, color="#0969da", alpha=0.08, linewidth=0)
            ax.axhline(0, color="black", linewidth=0.8, linestyle=":")
            ax.errorbar(x, est, yerr=np.nan_to_num(err), fmt="o", color="#0969da", capsize=4, markersize=6)
            ax.set_xticks(x, [f"{lv}\n(reference)" if lv == ref else lv
                              for lv, ref in zip(part["level"], part["reference"])])
            ax.set_xlabel(f"{factor} level")
            title = factor
            if factor in getattr(tests, "index", []):
                row = tests.loc[factor]
                title += f"\nF-test p = {row['p_F']:.3g}"
                if np.isfinite(row["trend_p"]):
                    title += f", trend p = {row['trend_p']:.3g}"
            ax.set_title(title, fontsize=9)
        axes[0].set_ylabel(f"{metric} minus reference" + (f" ({unit})" if unit else ""))
        fig.suptitle("Each level vs the reference level (seed block, 95% t CI; band: ±min_effect)", fontsize=10)
        return fig
