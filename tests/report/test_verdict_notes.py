"""What stands beside a verdict: the convergence warning, a resolution III alias chain, the margin used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from simulate import simulate

from ablate.report.stats.convergence import still_improving
from ablate.report.stats.verdicts import factor_verdicts, family_statement, verdict_table


def _with_curves(res, improving_arms: set[str], epochs: int = 5):
    """val_acc curves for every cell: still rising at the last epoch in `improving_arms`, flat from epoch 2
    elsewhere; every cell ran all its planned epochs."""
    rows = []
    for r in res.cells.itertuples():
        for e in range(1, epochs + 1):
            value = 0.5 + 0.1 * e if r.arm in improving_arms else 0.9 - 0.01 * (e > 2)
            rows.append({"run_id": r.run_id, "arm": r.arm, "seed": r.seed, "epoch": e, "metric": "val_acc",
                         "value": value})
    study = dataclasses.replace(res.study, params={"train.epochs": str(epochs)})
    return dataclasses.replace(res, study=study, history=pd.DataFrame(rows))


def test_undertrained_verdicts_are_flagged():
    res = simulate({"l2": 0.03, "dropout": 0.0}, seeds=3, design="add_one", rng=np.random.default_rng(0))
    res = _with_curves(res, {"baseline", "l2"})
    flags = still_improving(res)
    assert flags.sum() == 6 and len(flags) == 9
    verdicts = {v.factor: v for v in factor_verdicts(res)}
    assert verdicts["l2"].undertrained == "undertrained: 6 of 6 cells were still improving at their last epoch"
    assert "⚠ undertrained" in verdicts["l2"].text
    assert verdicts["dropout"].undertrained.startswith("undertrained: 3 of 6")  # the baseline's: half is enough
    table = verdict_table(list(verdicts.values())).set_index("factor")
    assert table.loc["l2", "undertrained"].startswith("undertrained")
    settled = {v.factor: v for v in factor_verdicts(_with_curves(res, {"l2"}))}
    assert settled["dropout"].undertrained == "" and "undertrained" not in settled["dropout"].text


def test_resolution_three_verdicts_carry_their_alias_chain():
    from simulate import results_from_cells

    from ablate.designs.fractional import Fractional, FractionalParams
    from ablate.study import Factor

    names = ["a", "b", "c", "d", "e"]
    factors = tuple(Factor(n, (None, object())) for n in names)
    design = Fractional(FractionalParams(resolution=3))
    arms = design.arms(factors)
    rng = np.random.default_rng(1)
    rows = [{"arm": arm.name, "seed": s, **dict(zip(names, map(bool, arm.levels))),
             "test_acc": 0.8 + 0.03 * arm.levels[0] + rng.normal(0, 0.003)} for s in range(3) for arm in arms]
    res = results_from_cells(pd.DataFrame(rows), names, design="fractional")
    res = dataclasses.replace(res, study=dataclasses.replace(res.study, design_record=design.record(factors, arms)))
    assert res.study.design_record["aliases"]["resolution"] == 3
    verdicts = {v.factor: v for v in factor_verdicts(res)}
    assert verdicts["a"].status == "helps" and verdicts["a"].aliased_with.count(":") >= 1
    assert "Aliased with" in verdicts["a"].text and "resolution III" in verdicts["a"].text


def test_the_page_states_its_error_rate_and_margin():
    res = simulate({"l2": 0.03, "dropout": 0.0, "augment": -0.02}, seeds=3, rng=np.random.default_rng(2))
    verdicts = factor_verdicts(res)
    assert family_statement(verdicts).startswith("Verdicts: 6 tests (3 factors + 3 two-way interactions), Holm: "
                                                 "the probability of any wrong helps/hurts/depends call on this "
                                                 "page is at most 5%")
    assert {v.status for v in verdicts} <= {"helps", "hurts", "negligible", "inconclusive"}
    assert all(v.min_effect == 0.005 for v in verdicts)  # test_acc's default: half a point
    inconclusive = [v for v in verdicts if v.status == "inconclusive"]
    for v in inconclusive:
        assert np.isfinite(v.mde) and "at 80% power" in v.text
