"""Designs as registered classes: one contract over every design, and Plackett-Burman end to end.

The contract: a design's arms are distinct and named from their levels, its record is JSON-able and says
what the report may compute, its canonical form keeps the keys the study hash has always covered. The
Plackett-Burman design was added as one file (ablate/designs/plackett_burman.py) to show that a design
needs nothing else; its test runs `ablate run` on it through the CLI, stores and report included.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from ablate.cli import main
from ablate.designs import DESIGNS
from ablate.designs.base import unique_arms
from ablate.designs.plackett_burman import interaction_aliasing, pb_rows, pb_runs
from ablate.errors import StudyError
from ablate.records import ParentRecord, Tag
from ablate.study import Factor
from ablate.testing import ContractError, check_design
from ablate.tracking import resolve_uri
from ablate.validate import validate_study

FIVE = {"l2": {"lambda": 1e-3}, "l1": {"lambda": 1e-5}, "dropout": {"p": 0.3}, "spatial_dropout": {"p": 0.1},
        "batchnorm": {}}
OPTIONS = {"explicit": {"arms": [[], ["l2"], ["l2", "dropout"]]}, "fractional": {"resolution": 3}}
ANALYSES = {"vs_baseline", "factorial", "contribution"}


def _study(tiny_raw, design, factors=FIVE):
    tiny_raw["factors"] = dict(factors)
    tiny_raw["design"] = {"name": design, **OPTIONS.get(design, {})}
    return validate_study(tiny_raw)


@pytest.mark.parametrize("name", DESIGNS.names())
def test_every_design_keeps_the_contract(tiny_raw, name):
    study = check_design(name, OPTIONS.get(name), FIVE)  # ablate.testing: arms, baseline, record, canonical form
    arms = study.arms()
    assert isinstance(study.design, DESIGNS.get(name)) and len(study.cells()) == len(arms) * len(study.seeds)
    record = study.design_record(arms)
    assert "vs_baseline" in record["analyses"] and set(record["analyses"]) <= ANALYSES
    if "contribution" in record["analyses"]:
        assert set(record["contributions"]) == set(FIVE)


def test_a_design_that_breaks_the_contract_fails_naming_it():
    from ablate.designs.base import Design

    class Repeats(Design):
        name = "repeats"
        summary = "every arm twice"

        def arms(self, factors):
            base = DESIGNS.get("add_one")().arms(factors)
            return base + base

    DESIGNS.register()(Repeats)
    try:
        with pytest.raises(ContractError, match=r"design 'repeats': `arms` must list distinct arms"):
            check_design(Repeats)
    finally:
        DESIGNS.unregister("repeats")


@pytest.mark.parametrize("name", [n for n in DESIGNS.names() if n not in OPTIONS])
def test_an_option_of_another_design_is_refused_naming_who_takes_it(tiny_raw, name):
    tiny_raw["design"] = {"name": name, "arms": [["l2"]]}
    with pytest.raises(StudyError) as err:
        validate_study(tiny_raw)
    assert f"design.arms: design '{name}' takes no option 'arms' (only the explicit design takes 'arms')" \
        in str(err.value)


@pytest.mark.parametrize("k,runs", [(2, 4), (3, 4), (4, 8), (5, 8), (7, 8), (8, 12), (11, 12), (12, 16),
                                    (16, 20), (20, 24), (24, 32), (28, 32), (36, 40), (40, 48), (64, 80)])
def test_plackett_burman_runs_a_multiple_of_four_balanced_orthogonal_with_baseline(k, runs):
    """N is the smallest multiple of 4 above k that pyDOE3 builds (no 28-, 36-, 44-, 52- or 68-run ones)."""
    assert pb_runs(k) == runs and runs % 4 == 0 and runs >= k + 1
    rows = pb_rows(k)
    assert len(rows) == runs and len(set(rows)) == runs
    assert rows[0] == (0,) * k  # the all-off baseline arm is a run
    signs = np.array(rows) * 2 - 1
    assert (signs.sum(axis=0) == 0).all()  # every factor on in half the runs
    assert (signs.T @ signs == runs * np.eye(k)).all()  # main-effect columns orthogonal


def test_plackett_burman_estimates_main_effects_only(tiny_raw):
    study = _study(tiny_raw, "plackett_burman")
    arms, record = study.arms(), study.design_record()
    assert len(arms) == 8 and arms[0].name == "baseline"
    assert record["estimable"] == list(FIVE)
    assert record["analyses"] == ["vs_baseline", "factorial"]
    assert record["aliasing"]["interactions"] == "completely"  # 8 runs: a regular resolution-III fraction


def test_plackett_burman_twelve_runs_alias_interactions_partially():
    factors = tuple(Factor(f"f{i}", (None, object())) for i in range(8))
    arms = unique_arms(factors, pb_rows(8))
    aliasing = interaction_aliasing(factors, arms)
    assert len(arms) == 12 and aliasing["interactions"] == "partially"
    assert aliasing["max_abs_correlation"] == pytest.approx(1 / 3, abs=1e-4)
    assert "partially aliased with main effects" in aliasing["statement"]


def test_plackett_burman_refuses_levels_options_and_a_single_factor(tiny_raw):
    with pytest.raises(StudyError, match="design: the plackett_burman design takes two-level .* dropout"):
        _study(tiny_raw, "plackett_burman", {**FIVE, "dropout": {"p": [0.0, 0.3, 0.5]}})
    tiny_raw["design"] = {"name": "plackett_burman", "resolution": 3}
    with pytest.raises(StudyError, match="design.resolution: design 'plackett_burman' takes no option"):
        validate_study(tiny_raw)
    with pytest.raises(StudyError, match="design: a Plackett-Burman screen needs at least 2 factors"):
        _study(tiny_raw, "plackett_burman", {"l2": FIVE["l2"]})


def test_validate_prints_the_screen(tiny_raw, write_study, capsys):
    tiny_raw["factors"] = dict(FIVE)
    tiny_raw["design"] = "plackett_burman"
    assert main(["validate", str(write_study(tiny_raw))]) == 0
    out = capsys.readouterr().out
    assert "plackett_burman design: 8 of 32 arms; main effects only: two-way interactions are" in out
    assert "8 arms x 2 seeds = 16 cells" in out


def test_plackett_burman_end_to_end(tiny_raw, write_study, workdir, capsys):
    """`ablate run` on a 5-factor screen: 8 arms x 2 seeds, each cell one FINISHED MLflow run, a report."""
    tiny_raw.update(name="pb_screen", factors=dict(FIVE), design="plackett_burman")
    tiny_raw["train"]["epochs"] = 1
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "16/16 cells finished, 0 failed" in out
    assert re.search(r"^report: reports/pb_screen/index.html \(built in \d+\.\d s\)$", out, re.M), out
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    exp = client.get_experiment_by_name("pb_screen")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "parent"]
    cells = [r for r in runs if r.data.tags.get(Tag.ROLE) == "cell"]
    study = validate_study(tiny_raw)
    assert len(parents) == 1
    assert sorted(r.info.run_name for r in cells) == sorted(c.cell_id for c in study.cells())
    assert {r.info.status for r in cells} == {"FINISHED"} and len(cells) == 16
    record = ParentRecord.from_mlflow(parents[0].info.run_id, parents[0].data.tags)
    assert record.design == "plackett_burman" and record.arms[0] == "baseline" and len(record.arms) == 8
    assert record.design_record["estimable"] == list(FIVE)
    assert record.design_record["analyses"] == ["vs_baseline", "factorial"]
    assert record.design_record["aliasing"]["runs"] == 8
    assert (workdir / "reports" / "pb_screen" / "index.html").is_file()
