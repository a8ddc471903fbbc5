"""Failed and outlying cells are part of the answer (issue 23, item 4): known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
from simulate import simulate

from ablate.report.sections.verdicts import verdict_section
from ablate.report.stats.outliers import outlying_cells
from ablate.report.stats.verdicts import factor_verdicts


def _with_chance_cell(seeds=3):
    """2^3 factorial, a +3 / b -3 / c 0 points, 10 classes; one FINISHED cell at chance accuracy."""
    res = simulate({"a": 0.03, "b": -0.03, "c": 0.0}, seeds=seeds, rng=np.random.default_rng(5))
    cells = res.cells.copy()
    bad = cells.index[(cells["arm"] == "a") & (cells["seed"] == 1)][0]
    cells.loc[bad, "test_acc"] = 0.1
    study = dataclasses.replace(res.study, analysis={"classes": 10})
    return dataclasses.replace(res, cells=cells, study=study), cells.loc[bad, "run_id"]


def test_a_finished_cell_at_chance_is_flagged_and_verdicts_shown_without_it():
    res, run_id = _with_chance_cell()
    flagged = outlying_cells(res)
    assert list(flagged["run_id"]) == [run_id]
    assert abs(flagged["studentized"].iloc[0]) > 4 and bool(flagged["at_chance"].iloc[0])
    assert "studentized residual" in flagged["why"].iloc[0] and "at chance" in flagged["why"].iloc[0]
    ctx = verdict_section(res).context
    assert ctx["outliers"] and "a seed 1 (test_acc 0.1000" in ctx["outliers"][0]
    without = {v.factor: v.status for v in ctx["without"]}
    assert without["a"] == "helps" and without["b"] == "hurts"
    assert {v.factor: v.status for v in factor_verdicts(res)} != without


def test_a_clean_study_flags_nothing():
    res = simulate({"a": 0.03, "b": -0.03, "c": 0.0}, seeds=3, rng=np.random.default_rng(5))
    assert outlying_cells(res).empty and verdict_section(res).context["without"] is None


def test_failed_cells_stand_beside_the_verdict():
    res = simulate({"l2": 0.03, "dropout": 0.0}, seeds=5, design="add_one", rng=np.random.default_rng(1))
    cells = res.cells.copy()
    cells.loc[(cells["arm"] == "l2") & cells["seed"].isin([1, 3]), "status"] = "FAILED"
    res = dataclasses.replace(res, cells=cells, study=dataclasses.replace(res.study, seeds=tuple(range(5))))
    v = next(v for v in factor_verdicts(res) if v.factor == "l2")
    assert "l2 failed on 2 of 5 seeds" in v.cells_note and "rests on 3 of 5 seeds' pairs" in v.cells_note
    assert "⚠ l2 failed on 2 of 5 seeds" in v.text
    assert next(v for v in factor_verdicts(res) if v.factor == "dropout").cells_note == ""
