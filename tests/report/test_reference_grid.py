"""Contrasts over the design's full reference grid (issue 23, item 1): an arm whose cells all failed neither
tilts a main effect toward the arms that finished nor lets a term the finished arms cannot separate be
estimated at all. Known answers, a statsmodels check of the estimated marginal means, and simulated error
rates with a failed arm present (the fit once, many metric vectors; a few through the full report path)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from simulate import FastFactorial, simulate

from ablate.report.stats import factorial, verdicts


def _failed(results, arm: str):
    """The study with every cell of `arm` FAILED (no metric), as a store records a diverged arm."""
    cells = results.cells.copy()
    gone = cells["arm"] == arm
    cells.loc[gone, "status"], cells.loc[gone, "test_acc"] = "FAILED", np.nan
    return dataclasses.replace(results, cells=cells)


def _verdicts(results) -> dict:
    return {v.factor: v for v in verdicts.factor_verdicts(results)}


def test_emm_contrast_equals_statsmodels_on_the_full_grid():
    """The main effect with a+b+c failed is the emmeans contrast of the OLS fit (seed block, main effects and
    two-way interactions) over all 8 combinations: same estimate, se and p as statsmodels to 1e-10."""
    smf = pytest.importorskip("statsmodels.formula.api")
    res = _failed(simulate({"a": 0.0, "b": 0.05, "c": 0.05}, seeds=3, rng=np.random.default_rng(3)), "a+b+c")
    analysis = factorial.analyse(res)
    cells = analysis.cells.copy()
    for f in "abc":
        cells[f] = cells[f].astype(float) - 0.5
    cells["seed"] = cells["seed"].astype(str)
    model = smf.ols("test_acc ~ C(seed) + a + b + c + a:b + a:c + b:c", data=cells).fit()
    grid = pd.DataFrame([(a, b, c) for a in (-0.5, 0.5) for b in (-0.5, 0.5) for c in (-0.5, 0.5)],
                        columns=list("abc"))
    x = pd.DataFrame({name: (np.prod([grid[p] for p in name.split(":")], axis=0) if set(name) <= set("abc:")
                             else np.zeros(len(grid))) for name in model.model.exog_names})  # seed 0's row
    for f in "abc":
        on = grid[f] > 0
        test = model.t_test((x[on].mean() - x[~on].mean()).to_numpy()[None, :])
        ours = analysis.mains[f]
        assert ours.estimate == pytest.approx(float(np.squeeze(test.effect)), abs=1e-10)
        assert ours.se == pytest.approx(float(np.squeeze(test.sd)), abs=1e-10)
        assert ours.p_value() == pytest.approx(float(np.squeeze(test.pvalue)), abs=1e-10)
        assert ours.df == model.df_resid
    assert analysis.missing == ["a+b+c"]


def test_a_failed_combination_does_not_make_a_null_factor_hurt():
    """The issue's row: 2^3, 5 seeds, a null, b and c +5 points, every a+b+c cell FAILED: a was 'hurts,
    -1.60 points, p = 6e-6' (the mean of the arms that finished); over the full grid it is not called."""
    res = _failed(simulate({"a": 0.0, "b": 0.05, "c": 0.05}, seeds=5, rng=np.random.default_rng(7)), "a+b+c")
    v = _verdicts(res)
    assert v["a"].status not in ("helps", "hurts"), v["a"].text
    assert abs(v["a"].estimate) < 0.01 and v["b"].status == v["c"].status == "helps"
    assert v["b"].estimate == pytest.approx(0.05, abs=0.01)


def test_a_term_the_finished_arms_cannot_separate_is_not_estimable():
    """2^2 with a+b failed: a, b and a:b from three arms cannot be told apart: no verdict, naming the arm,
    never the single-factor arm against the baseline (an unbalanced subset)."""
    res = _failed(simulate({"a": 0.02, "b": 0.0}, seeds=4, rng=np.random.default_rng(1)), "a+b")
    analysis = factorial.analyse(res)
    assert set(analysis.not_estimable) >= {"a", "b"} and not analysis.mains
    v = _verdicts(res)
    for f in "ab":
        assert v[f].status == "no_verdict" and "a+b has no finished cell" in v[f].text, v[f].text
        assert np.isnan(v[f].estimate)


def test_a_complete_factorial_is_unchanged():
    """No arm missing: the grid's marginal means are the arms' own, so the contrast is the coefficient."""
    res = simulate({"a": 0.02, "b": -0.01, "c": 0.0}, seeds=3, rng=np.random.default_rng(4))
    analysis = factorial.analyse(res)
    fit = analysis.fit
    for f in "abc":
        assert analysis.mains[f].estimate == pytest.approx(fit.coefficient(f).estimate, abs=1e-12)
        assert analysis.mains[f].se == pytest.approx(fit.coefficient(f).se, abs=1e-12)
    assert not analysis.missing and not analysis.not_estimable


class FailedArmFactorial(FastFactorial):
    """ablate's fit of a 2^3 factorial with one arm's cells all failed, applied to many metric vectors: the
    contrasts are the reference grid's (emmeans), the rest is FastFactorial's."""

    def __init__(self, seeds: int, failed: str = "a+b+c"):
        self.template = _failed(simulate({f: 0.0 for f in "abc"}, seeds=seeds), failed)
        analysis = factorial.analyse(self.template)
        fit, self.cells, self.factors = analysis.fit, analysis.cells, list("abc")
        grid = factorial.reference_grid(self.factors, analysis.codings)
        x = fit.model.x.to_numpy(float)
        self.hat, self.df = x @ fit.xtx_inv @ x.T, fit.df_resid
        self.weights, self.variance = {}, {}
        for f in self.factors:
            c = fit.grid_mean(grid[grid[f]], analysis.codings) - fit.grid_mean(grid[~grid[f]], analysis.codings)
            self.weights[f], self.variance[f] = c @ fit.xtx_inv @ x.T, float(c @ fit.xtx_inv @ c)
            assert self.weights[f] @ self.cells["test_acc"].to_numpy() == pytest.approx(analysis.mains[f].estimate)


@pytest.mark.parametrize("seeds", [3, 5])
def test_null_false_calls_with_a_failed_arm_within_five_percent(seeds):
    """2^3 with a+b+c failed: a null (b, c +5 points) is called helps/hurts in <= 5% of studies (it was 100%
    at 5 seeds); with no effects at all, any helps/hurts on the page in <= 5%."""
    fast, rng, n = FailedArmFactorial(seeds), np.random.default_rng(2300 + seeds), 2000
    y = fast.draw(rng, n, {"b": 0.05, "c": 0.05})
    words = fast.words(y)
    for i in range(4):  # the fast path is the report's path
        assert fast.full_path(y[i]) == words[i]
    on_a = np.mean([w["a"] in ("helps", "hurts") for w in words])
    null = fast.words(fast.draw(rng, n, {}))
    any_call = np.mean([any(v in ("helps", "hurts") for v in w.values()) for w in null])
    print(f"\n2^3 x {seeds} seeds, a+b+c failed: null a called in {on_a:.3f}, any call under the null in "
          f"{any_call:.3f} of {n} studies")
    bound = 0.05 + 3 * np.sqrt(0.05 * 0.95 / n)
    assert on_a <= bound and any_call <= bound
