"""Every procedure the report states, against statsmodels / scipy or a hand computation (known answers)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from simulate import results_from_cells, simulate
from statsmodels.formula.api import ols as sm_ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from ablate.report.stats import anova, contrast, factorial, lenth, power, ranking, sequential
from ablate.report.stats.aliasing import codings
from ablate.report.stats.levels import level_contrasts, level_tests
from ablate.report.stats.paired import arm_summary
from ablate.report.stats.verdicts import factor_verdicts

X = np.array([0.83, 0.71, 0.95, 0.78, 0.90])
Y = np.array([0.80, 0.70, 0.90, 0.77, 0.86])


def test_paired_t_interval_and_p_are_one_test():
    est = contrast.paired(X - Y)
    ref = sps.ttest_rel(X, Y)
    low, high = est.interval()
    ci = ref.confidence_interval(0.95)
    assert est.p_value() == pytest.approx(ref.pvalue) and (low, high) == pytest.approx((ci.low, ci.high))
    assert est.df == 4 and est.seeds == 5
    # the interval excludes 0 exactly when p < 0.05: the same test
    assert (low > 0) == (est.p_value() < 0.05)
    assert est.p_positive() == pytest.approx(sps.t.cdf(est.estimate / est.se, 4))


def test_tost_matches_statsmodels():
    for margin in (0.01, 0.03, 0.1):
        p, _, _ = ttost_paired(X, Y, -margin, margin)
        assert contrast.paired(X - Y).p_tost(margin) == pytest.approx(p)


def test_power_and_mde_match_statsmodels():
    sd, n = 0.02, 6
    est = contrast.Estimate(0.0, sd / math.sqrt(n), n - 1, seeds=n)
    for effect in (0.01, 0.02, 0.04):
        ref = TTestPower().power(effect_size=effect / sd, nobs=n, alpha=0.05 / 3, alternative="two-sided")
        assert power.power(effect, est.se, est.df, 0.05 / 3) == pytest.approx(ref, abs=1e-6)
    d = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    assert power.mde(est.se, est.df) == pytest.approx(d * sd, rel=1e-4)
    needed = TTestPower().solve_power(effect_size=0.005 / sd, alpha=0.05, power=0.8, alternative="two-sided")
    assert power.seeds_needed(est, 0.005) == math.ceil(needed)


def _factorial_cells(seeds=3, levels=("off", "0.25", "0.5"), rng=None):
    """A 3-level dropout x on/off l2 factorial, seed offsets, planted level effects and noise."""
    rng = rng or np.random.default_rng(3)
    planted = {"off": 0.0, "0.25": 0.033, "0.5": -0.028}
    rows = []
    for s in range(seeds):
        offset = rng.normal(0, 0.02)
        for level, l2 in itertools.product(levels, (False, True)):
            arm = "+".join(p for p in ([f"dropout={level}"] if level != "off" else []) + (["l2"] if l2 else []))
            y = 0.8 + offset + planted[level] + 0.01 * l2 + rng.normal(0, 0.004)
            rows.append({"arm": arm or "baseline", "seed": s, "dropout": level != "off", "level:dropout": level,
                         "l2": l2, "test_acc": y})
    res = results_from_cells(pd.DataFrame(rows), ["dropout", "l2"])
    record = {**res.study.design_record, "levels": {"dropout": list(levels)},
              "estimable": ["dropout", "l2", "dropout:l2"]}
    import dataclasses

    return dataclasses.replace(res, study=dataclasses.replace(res.study, design_record=record))


def _statsmodels_fit(res):
    frame = res.cells.assign(l2c=lambda d: d["l2"].astype(float) - 0.5, d=lambda d: d["level:dropout"],
                             y=lambda d: d["test_acc"])
    return sm_ols("y ~ C(seed) + C(d, Treatment('off')) * l2c", data=frame).fit()


def test_levels_are_categorical_terms_with_the_seed_block_as_statsmodels_fits_them():
    res = _factorial_cells()
    fit = _statsmodels_fit(res)
    table = level_contrasts(res).set_index("level")
    for level in ("0.25", "0.5"):  # l2 centred at +-1/2: the dummy is the contrast averaged over l2
        name = f"C(d, Treatment('off'))[T.{level}]"
        assert table.loc[level, "estimate"] == pytest.approx(fit.params[name])
        low, high = fit.conf_int().loc[name]
        assert (table.loc[level, "ci_low"], table.loc[level, "ci_high"]) == pytest.approx((low, high))
        assert table.loc[level, "p_value"] == pytest.approx(fit.pvalues[name])
    # l2's main effect averages its effect over the three dropout levels (least-squares means), which in
    # treatment coding is l2c plus a third of each dropout:l2 interaction
    c = np.zeros(len(fit.params))
    names = list(fit.params.index)
    c[names.index("l2c")] = 1.0
    for level in ("0.25", "0.5"):
        c[names.index(f"C(d, Treatment('off'))[T.{level}]:l2c")] = 1 / 3
    ref = fit.t_test(c)
    main = factorial.analyse(res).mains["l2"]
    assert main.estimate == pytest.approx(float(ref.effect[0])) and main.se == pytest.approx(float(ref.sd[0][0]))
    assert main.p_value() == pytest.approx(float(ref.pvalue)) and main.df == fit.df_resid


def test_anova_type_two_with_the_seed_block_matches_anova_lm():
    res = _factorial_cells()
    ref = anova_lm(_statsmodels_fit(res), typ=2)
    mine = anova.anova_table(factorial.analyse(res).fit).set_index("source")
    for ours, theirs in [("dropout", "C(d, Treatment('off'))"), ("l2", "l2c"),
                         ("dropout:l2", "C(d, Treatment('off')):l2c"), ("seed (block)", "C(seed)"),
                         ("residual", "Residual")]:
        assert mine.loc[ours, "sum_sq"] == pytest.approx(ref.loc[theirs, "sum_sq"], rel=1e-8)
        assert mine.loc[ours, "df"] == ref.loc[theirs, "df"]
        if ours != "residual":
            assert mine.loc[ours, "p_value"] == pytest.approx(ref.loc[theirs, "PR(>F)"], rel=1e-6)
    assert level_tests(res).set_index("factor").loc["dropout", "p_F"] == pytest.approx(
        ref.loc["C(d, Treatment('off'))", "PR(>F)"])
    paired = anova.pairing(factorial.analyse(res).fit)
    unpaired = sm_ols("y ~ C(d, Treatment('off')) * l2c", data=res.cells.assign(
        l2c=lambda d: d["l2"].astype(float) - 0.5, d=lambda d: d["level:dropout"], y=lambda d: d["test_acc"])).fit()
    assert paired.ms_without == pytest.approx(unpaired.mse_resid) and paired.efficiency > 1


def test_levels_that_go_both_ways_depend_on_level_and_the_trend():
    """dropout 0.25 = +3.3 and 0.5 = -2.8 points: the old on/off fit said '+0.26, no clear effect', and the
    best-level rule said 'helps' though one level costs 2.8 points: it depends on the level."""
    res = _factorial_cells()
    verdict = next(v for v in factor_verdicts(res) if v.factor == "dropout")
    assert verdict.status == "depends" and verdict.depends_on == "level" and verdict.f_test_p < 1e-5
    assert "helps at dropout=0.25" in verdict.text and "hurts at dropout=0.5" in verdict.text
    assert "F-test" in verdict.text
    trend = factorial.analyse(res).trends["dropout"]  # slope per level step over off, 0.25, 0.5
    fit = _statsmodels_fit(res)
    lsmeans = [0.0, fit.params["C(d, Treatment('off'))[T.0.25]"], fit.params["C(d, Treatment('off'))[T.0.5]"]]
    assert trend.estimate == pytest.approx(np.polyfit([0, 1, 2], lsmeans, 1)[0])


def test_a_factor_whose_levels_are_all_on_gets_a_verdict():
    res = _factorial_cells(levels=("0.25", "0.5"))
    assert codings(res)["dropout"].reference == "0.25"
    verdict = next(v for v in factor_verdicts(res) if v.factor == "dropout")
    assert verdict.status == "hurts" and verdict.level == "0.5" and np.isfinite(verdict.estimate)


def test_lenth_pse_hand_computed():
    effects = [0.5, -1.0, 1.5, -2.0, 2.5, 3.0, -20.0]
    # s0 = 1.5 * median|c| = 1.5 * 2 = 3; |c| < 7.5 drops the 20; PSE = 1.5 * median(.5,1,1.5,2,2.5,3) = 2.625
    assert lenth.pse(effects) == pytest.approx(2.625)
    p, me, sme = lenth.margins(effects)
    assert me == pytest.approx(sps.t.ppf(0.975, 7 / 3) * 2.625)
    assert sme == pytest.approx(sps.t.ppf((1 + 0.95 ** (1 / 7)) / 2, 7 / 3) * 2.625) and sme > me


def test_one_seed_factorial_is_judged_by_lenth():
    rng = np.random.default_rng(11)
    res = simulate({"a": 0.08, "b": 0.0, "c": 0.0}, seeds=1, noise=0.002, rng=rng)
    analysis = factorial.analyse(res)
    assert analysis.lenth is not None and len(analysis.lenth) == 7  # every contrast of a 2^3
    cells = res.cells
    y, a = cells["test_acc"].to_numpy(), cells["a"].to_numpy()
    assert analysis.mains["a"].estimate == pytest.approx(y[a].mean() - y[~a].mean())
    assert analysis.mains["a"].se == pytest.approx(lenth.pse(analysis.lenth["estimate"]))
    assert analysis.mains["a"].df == pytest.approx(7 / 3)
    verdict = {v.factor: v for v in factor_verdicts(res)}
    assert verdict["a"].status == "helps" and "Lenth" in verdict["a"].basis


def test_stein_seeds_hand_computed():
    est = contrast.Estimate(0.004, 0.01, 2.0, seeds=3)
    crit = sps.t.ppf(1 - 0.05 / 3 / 2, 2)
    assert sequential.stein_seeds(est, 0.01, 0.05 / 3, 3) == math.ceil(3 * (crit * 0.01 / 0.005) ** 2)
    assert sequential.stein_seeds(contrast.Estimate(0.1, 1e-5, 2.0, seeds=3), 0.01, 0.05, 3) == 3  # >= initial
    final = contrast.Estimate(0.006, 0.003, 30.0, seeds=12)
    stein = sequential.stein_estimate(final, {"se": 0.01, "df": 2.0, "seeds": 3})
    assert (stein.estimate, stein.df) == (0.006, 2.0) and stein.se == pytest.approx(0.01 * math.sqrt(3 / 12))


def test_per_arm_interval_is_student_t_and_p_best_agrees_with_the_paired_t():
    res = results_from_cells(pd.DataFrame({"arm": ["baseline"] * 5 + ["l2"] * 5, "seed": list(range(5)) * 2,
                                           "l2": [False] * 5 + [True] * 5, "test_acc": list(Y) + list(X)}),
                             ["l2"], design="explicit")
    row = arm_summary(res).set_index("arm").loc["l2"]
    ci = sps.ttest_1samp(X, 0).confidence_interval(0.95)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high)) and row["ci_method"] == "t"
    # two arms + seed block is the paired t: P(l2 best) = P(delta > 0), to Monte Carlo error
    est = contrast.paired(X - Y)
    best = ranking.p_best(res)
    assert best["l2"] == pytest.approx(est.p_positive(), abs=0.012) and sum(best.values()) == pytest.approx(1)
