"""Fractional factorial designs: 16 arms for 6 factors at resolution IV, the aliasing, what is estimable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from ablate.designs.fractional import fractional_rows
from ablate.designs.terms import alias_structure, estimable_terms
from ablate.errors import StudyError
from ablate.records import ParentRecord
from ablate.tracking import Tracker
from ablate.validate import validate_study

SIX = {"l2": {"lambda": 1e-3}, "l1": {"lambda": 1e-5}, "dropout": {"p": 0.3}, "spatial_dropout": {"p": 0.1},
       "batchnorm": {}, "augment": {"crop": 1}}


def _study(tiny_raw, factors=SIX, resolution=4):
    tiny_raw["factors"] = dict(factors)
    tiny_raw["design"] = {"name": "fractional", "resolution": resolution}
    return validate_study(tiny_raw)


def test_six_factors_resolution_four_runs_16_arms_with_baseline(tiny_raw):
    study = _study(tiny_raw)
    arms = study.arms()
    assert len(arms) == 16 and len({a.levels for a in arms}) == 16
    assert arms[0].name == "baseline"
    signs = np.array([[1 if i else -1 for i in a.levels] for a in arms])
    assert (signs.sum(axis=0) == 0).all()  # every factor on in half the arms
    for a, b in itertools.combinations(range(6), 2):  # main effects orthogonal to each other
        assert signs[:, a] @ signs[:, b] == 0
    assert len(study.cells()) == 32


def test_resolution_four_aliasing(tiny_raw):
    study = _study(tiny_raw)
    structure = alias_structure(study.factors, study.arms())
    assert structure["resolution"] == 4 and structure["runs"] == 16
    assert len(structure["defining_relation"]) == 3  # 2^(6-2): I = two generators and their product
    assert all(len(w.lstrip("-").split(":")) == 4 for w in structure["defining_relation"])
    for chain in structure["chains"]:
        orders = sorted(len(t.lstrip("-").split(":")) for t in chain)
        if orders[0] == 1:  # a main effect is aliased with no other main effect or two-way interaction
            assert orders[1] >= 3, chain
    two_way = [c for c in structure["chains"] if all(len(t.lstrip("-").split(":")) == 2 for t in c[:2])]
    assert sum(len([t for t in c if t.count(":") == 1]) for c in two_way) == 15  # all 2fi, in 7 chains
    # aliased interactions are not estimable; the six main effects are
    assert estimable_terms(study.factors, study.arms()) == [f.name for f in study.factors]


def test_aliases_recorded_on_the_parent_run(tiny_raw, workdir):
    study = _study(tiny_raw)
    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    parent = tracker.start_parent(study)
    record = ParentRecord.from_mlflow(parent, MlflowClient(tracker.uri).get_run(parent).data.tags)
    aliases = record.design_record["aliases"]
    assert aliases["resolution"] == 4 and len(aliases["chains"]) >= 7
    assert record.design_record["estimable"] == list(SIX)
    assert record.arms[0] == "baseline" and len(record.arms) == 16


def test_resolution_three_confounds_mains_with_interactions(tiny_raw):
    # five factors in 8 runs: resolution III is the most a 2^(5-2) fraction has (four would get IV from 8)
    five = ("l2", "l1", "dropout", "batchnorm", "augment")
    study = _study(tiny_raw, {k: SIX[k] for k in five}, resolution=3)
    structure = alias_structure(study.factors, study.arms())
    assert len(study.arms()) == 8 and structure["resolution"] == 3
    mains = [c for c in structure["chains"] if ":" not in c[0]]
    assert all(any(t.count(":") == 1 for t in c) for c in mains)  # each main effect aliased with a 2fi
    terms = estimable_terms(study.factors, study.arms())
    assert terms[:5] == list(five)
    # an interaction aliased with a main effect is never estimated
    assert not any(t.lstrip("-") in terms for c in mains for t in c[1:])


def test_too_few_factors_for_a_fraction_gives_the_full_factorial(tiny_raw):
    study = _study(tiny_raw, {k: SIX[k] for k in ("l2", "dropout", "batchnorm")}, resolution=4)
    assert len(study.arms()) == 8
    assert alias_structure(study.factors, study.arms())["chains"] == []
    assert len(estimable_terms(study.factors, study.arms())) == 6  # 3 mains + 3 interactions


def test_fractional_refuses_factors_with_levels(tiny_raw):
    with pytest.raises(StudyError) as err:
        _study(tiny_raw, {**SIX, "dropout": {"p": [0.0, 0.3, 0.5]}})
    assert "design: the fractional design takes two-level (on/off) factors only" in str(err.value)
    assert "dropout" in str(err.value)


def test_resolution_only_for_fractional(tiny_raw):
    tiny_raw["design"] = {"name": "full_factorial", "resolution": 4}
    with pytest.raises(StudyError, match=r"design.resolution: design 'full_factorial' takes no option "
                       r"'resolution' \(only the fractional design takes 'resolution'\)"):
        validate_study(tiny_raw)


def test_fraction_rows_are_deterministic():
    from ablate.study import Factor

    factors = tuple(Factor(n, (None, object())) for n in "abcdef")
    assert fractional_rows(factors, 4) == fractional_rows(factors, 4)
    assert len(fractional_rows(factors, 4)) == 16 and len(fractional_rows(factors, 3)) == 8
    assert len(fractional_rows(factors, 5)) == 32


def test_validate_prints_the_fraction(tiny_raw, write_study, capsys):
    from ablate.cli import main

    tiny_raw["factors"] = dict(SIX)
    tiny_raw["design"] = {"name": "fractional", "resolution": 4}
    assert main(["validate", str(write_study(tiny_raw))]) == 0
    out = capsys.readouterr().out
    assert "fractional design, resolution 4: 16 of 64 arms; defining relation I = " in out
    assert "16 arms x 2 seeds = 32 cells" in out


def _resolution(rows) -> int:
    """The shortest word of the defining relation: the fewest columns whose product is constant."""
    m = np.array([[1 if v else -1 for v in r] for r in rows])
    for size in range(1, m.shape[1] + 1):
        for cols in itertools.combinations(range(m.shape[1]), size):
            if abs(m[:, list(cols)].prod(axis=1).sum()) == len(m):
                return size
    return m.shape[1] + 1  # the full factorial: no word


@pytest.mark.parametrize("k,resolution,runs", [
    (3, 3, 4), (4, 4, 8), (5, 5, 16), (7, 3, 8), (8, 4, 16), (7, 5, 64), (8, 5, 64), (9, 4, 32), (11, 5, 128),
    (6, 6, 32), (15, 3, 16),
])
def test_fraction_has_the_fewest_runs_and_at_least_the_resolution(k, resolution, runs):
    """The textbook minimum (Montgomery's table of regular fractions); pyDOE3's fracfact_by_res gave 16 runs
    for (7, III) and resolution IV for (7, V) and (8, V)."""
    from ablate.study import Factor

    rows = fractional_rows(tuple(Factor(f"f{i}", (None, object())) for i in range(k)), resolution)
    assert len(rows) == runs and len(set(rows)) == runs
    assert rows[0] == (0,) * k  # the baseline arm is in every design
    assert _resolution(rows) >= resolution


@pytest.mark.parametrize("k,asked,runs,resolution", [(8, 3, 16, 4), (6, 3, 8, 3), (5, 4, 16, 5), (12, 3, 16, 3),
                                                     (16, 3, 32, 4), (4, 3, 8, 4)])
def test_fraction_has_the_highest_resolution_at_its_fewest_runs(k, asked, runs, resolution):
    """At the fewest runs that keep the resolution asked, the search returns the highest resolution those
    runs hold (8 factors in 16 runs: IV, where the first design found was III)."""
    from ablate.designs.fractional import fraction_generators
    from ablate.study import Factor

    p, _ = fraction_generators(k, asked)
    assert 2 ** p == runs
    rows = fractional_rows(tuple(Factor(f"f{i}", (None, object())) for i in range(k)), asked)
    assert len(rows) == runs and _resolution(rows) == resolution
