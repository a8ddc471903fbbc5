"""Ranking uncertainty on the leaderboard: how sure is "this arm beats the baseline", and "this arm is best".

P(beats baseline) is the flat-prior posterior P(delta > 0) of the paired t model behind the arm's interval
(delta ~ mean + se * t_{n-1}), so it agrees with that interval: 0.975 exactly when the 95% interval's
lower end touches 0. P(best) comes from the additive model arm + seed block over every finished cell:
under a flat prior the arm means are multivariate t (OLS estimates, their covariance, the residual df);
the share of DRAWS seeded draws in which an arm is best (in the metric's direction) is its probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.results import Results, computed_once

DRAWS = 20_000


@computed_once
def p_best(results: Results, metric: str | None = None, draws: int = DRAWS) -> dict[str, float]:
    """arm -> probability that it is the best arm; {} when the cells leave no residual to estimate from."""
    metric = metric or results.study.metric
    cells = results.finished
    if cells.empty or metric not in cells:
        return {}
    cells = cells[pd.to_numeric(cells[metric], errors="coerce").notna()]
    arms = [a for a in results.arm_order if (cells["arm"] == a).any()]
    if len(arms) < 2:
        return {a: 1.0 for a in arms}
    seeds = sorted(cells["seed"].unique())
    x = np.column_stack([np.ones(len(cells))] + [(cells["arm"] == a).to_numpy(float) for a in arms[1:]]
                        + [(cells["seed"] == s).to_numpy(float) for s in seeds[1:]])
    y = cells[metric].to_numpy(float)
    df = len(y) - x.shape[1]
    if df <= 0 or np.linalg.matrix_rank(x) < x.shape[1]:
        return {}
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    sigma2 = float(((y - x @ beta) ** 2).sum() / df)
    k = len(arms)
    # arm means relative to the first arm (the seed part is shared by every arm and cannot change a rank)
    means = np.concatenate([[0.0], beta[1:k]])
    cov = np.zeros((k, k))
    cov[1:, 1:] = sigma2 * xtx_inv[1:k, 1:k]
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal(np.zeros(k), cov, size=draws, method="eigh")
    w = np.sqrt(rng.chisquare(df, size=draws) / df)[:, None]
    sample = means + z / w
    sign = 1.0 if results.study.direction == "maximize" else -1.0
    best = np.argmax(sign * sample, axis=1)
    counts = np.bincount(best, minlength=k) / draws
    return {a: float(c) for a, c in zip(arms, counts)}
