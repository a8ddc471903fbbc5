"""Report sections for levels and fractional designs, over real MLflow stores written by ablate's Tracker.

No training: each cell's final metric follows a planted model, so the sections' numbers have known answers.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ablate.report.html import render_report
from ablate.report.results import load_results
from ablate.report.sections.design import design_section
from ablate.report.sections.levels import levels_section
from ablate.report.stats.aliasing import estimable_effects
from ablate.report.stats.levels import level_summary
from ablate.tracking import Tracker
from ablate.validate import validate_study

BASE = {
    "model": {"name": "cnn", "width": 2},
    "data": {"name": "digits"},
    "train": {"epochs": 1},
    "metric": {"name": "test_acc", "direction": "maximize"},
    "seeds": 3,
}
SIX = {
    "l2": {"lambda": 1e-3},
    "l1": {"lambda": 1e-5},
    "dropout": {"p": 0.3},
    "spatial_dropout": {"p": 0.1},
    "batchnorm": {},
    "augment": {"crop": 1},
}


def _write(study, planted, root) -> str:
    """Every cell of `study` as a finished child run whose test_acc is planted(cell) + seed noise."""
    tracker = Tracker(f"sqlite:///{root / 'mlflow.db'}")
    parent = tracker.start_parent(study)
    rng = np.random.default_rng(0)
    for n, cell in enumerate(study.cells()):
        run_id = tracker.start_cell(parent, cell, n)
        value = planted(cell) + 0.002 * cell.seed + rng.normal(0, 0.001)
        tracker.logger(run_id).log_final({"test_acc": value}, {})
        tracker.finish(run_id)
    tracker.finish(parent)
    return tracker.uri


@pytest.fixture
def fractional_results(workdir):
    raw = copy.deepcopy(
        {**BASE, "name": "frac", "factors": SIX, "design": {"name": "fractional", "resolution": 4}}
    )
    study = validate_study(raw)
    effects = {"l2": 0.04, "dropout": -0.02}

    def planted(cell):
        on = cell.arm.on(study.factors)
        return 0.8 + sum(v for k, v in effects.items() if on[k])

    return load_results("frac", _write(study, planted, workdir))


def test_design_section_states_aliasing_and_estimates_main_effects(fractional_results, tmp_path):
    section = design_section(fractional_results)
    ctx = section.context
    assert "Resolution IV" in ctx["statement"] and "main effects are clear of two-way" in ctx["statement"]
    assert dict(ctx["facts"])["Resolution"] == "IV"
    assert "16 arms instead of 64" in dict(ctx["facts"])["Design"]
    effects = {r["term"]: r for r in ctx["effects"]}
    assert set(effects) == set(SIX)  # only the main effects: every two-way interaction is aliased
    assert ctx["metric"] == "test_acc, points"  # shown as the verdicts state accuracy: x100
    for term, planted in (("l2", 0.04), ("dropout", -0.02), ("l1", 0.0), ("augment", 0.0)):
        r = effects[term]  # noise sd is 0.001 over 48 cells: the estimate sits within a few thousandths
        assert r["estimate"] == pytest.approx(100 * planted, abs=0.2) and r["ci_low"] < r["estimate"] < r["ci_high"]
    assert all(r["aliased_with"].count(":") >= 2 for r in effects.values())  # with 3-factor terms only
    chains = [r for r in ctx["chains"] if not r["estimated"]]
    assert len(chains) == 7 and all("=" in r["term"] for r in chains)
    html = render_report(fractional_results, tmp_path / "r", sections=[design_section]).read_text()
    assert "Alias chains" in html and "cannot be separated" in html and "Resolution IV" in html


def test_estimable_effects_never_fit_aliased_terms(fractional_results):
    # asking for an aliased pair of interactions would make the fit singular: nothing is returned
    chain = next(r for r in design_section(fractional_results).context["chains"] if not r["estimated"])
    pair = chain["term"].split(" = ")[:2]
    assert estimable_effects(fractional_results, ["l2", "l1", *pair]).empty
    assert len(estimable_effects(fractional_results, ["l2", "l1", pair[0]])) == 3


def test_levels_section_plots_metric_against_level(workdir, tmp_path):
    raw = copy.deepcopy(
        {**BASE, "name": "lev", "factors": {"dropout": {"p": [0.0, 0.25, 0.5]}, "l2": {"lambda": 1e-3}}}
    )
    study = validate_study(raw)
    planted_by_level = {None: 0.0, 0.25: 0.03, 0.5: 0.01}

    def planted(cell):
        p = cell.active().get("dropout")
        return 0.8 + planted_by_level[p.p if p else None]

    results = load_results("lev", _write(study, planted, workdir))
    table = level_summary(results)
    assert list(table["level"]) == ["off", "0.25", "0.5"] and list(table["n"]) == [6, 6, 6]
    means = dict(zip(table["level"], table["mean"]))
    assert means["0.25"] - means["off"] == pytest.approx(0.03, abs=0.003)
    assert (table["ci_low"] < table["mean"]).all() and (table["mean"] < table["ci_high"]).all()
    section = levels_section(results)
    assert section is not None and section.context["figures"][0].png_base64
    html = render_report(results, tmp_path / "r", sections=[levels_section]).read_text()
    assert "dropout" in html and "Factor levels" in html


def test_sections_skip_studies_without_levels_or_fractions(fractional_results):
    assert levels_section(fractional_results) is None
