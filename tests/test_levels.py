"""Factor levels: a param given as a list gives levels; zero means off; labels, arms and tags follow."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from ablate.errors import StudyError
from ablate.records import CellRecord, ParentRecord
from ablate.study import Cell, level_label
from ablate.tracking import Tracker
from ablate.validate import validate_study


def _study(tiny_raw, factors, **extra):
    tiny_raw["factors"] = factors
    tiny_raw.update(extra)
    return validate_study(tiny_raw)


def test_listed_param_gives_levels_with_zero_as_off(tiny_raw):
    study = _study(tiny_raw, {"dropout": {"p": [0.0, 0.25, 0.5]}, "l2": {"lambda": 1e-3}})
    dropout = study.factors[0]
    assert dropout.levels[0] is None and [p.p for p in dropout.levels[1:]] == [0.25, 0.5]
    assert not dropout.two_level
    assert [level_label(dropout, i) for i in range(3)] == ["off", "0.25", "0.5"]
    names = [a.name for a in study.arms()]
    assert len(names) == 6 and names[0] == "baseline"  # 3 x 2 general factorial; the all-off arm leads
    assert {"dropout=0.25", "dropout=0.5+l2", "l2"} <= set(names)
    cell = Cell(study, study.arms()[names.index("dropout=0.5+l2")], 0)
    assert cell.flat_params()["reg.dropout.p"] == 0.5


def test_off_level_moves_first_and_lists_zip(tiny_raw):
    study = _study(tiny_raw, {"augment": {"rotation": [10, 0, 20], "zoom": [0.1, 0, 0.2]}})
    aug = study.factors[0]
    assert aug.levels[0] is None  # every listed value zero, and augment accepts nothing switched off
    assert [level_label(aug, i) for i in range(3)] == ["off", "rotation=10,zoom=0.1", "rotation=20,zoom=0.2"]


def test_zero_level_that_is_a_valid_setting_stays_a_level(tiny_raw):
    # crop stays on at rotation 0: that level is augmentation without rotation, not "off"
    study = _study(tiny_raw, {"augment": {"crop": 1, "rotation": [0, 10]}})
    aug = study.factors[0]
    assert all(p is not None for p in aug.levels)
    assert [a.name for a in study.arms()] == ["augment=0", "augment=10"]


def test_levels_without_off_compare_strengths(tiny_raw):
    study = _study(tiny_raw, {"dropout": {"p": [0.25, 0.5]}})
    assert [a.name for a in study.arms()] == ["dropout=0.25", "dropout=0.5"]


@pytest.mark.parametrize("factors,field,rule", [
    ({"dropout": {"p": [0.0, 1.5]}}, "factors.dropout.p.1", "less than 1"),
    ({"dropout": {"p": [0.2, 0.2]}}, "factors.dropout.p", "distinct"),
    ({"dropout": {"p": [0.0, 0.0]}}, "factors.dropout.p", "distinct"),
    ({"dropout": {"p": [0.2]}}, "factors.dropout.p", "at least 2"),
    ({"augment": {"crop": [1, 2], "zoom": [0.1]}}, "factors.augment", "same number of levels"),
])
def test_bad_levels_name_field_and_rule(tiny_raw, factors, field, rule):
    with pytest.raises(StudyError) as err:
        _study(tiny_raw, factors)
    assert f": {field}: " in str(err.value) and rule in str(err.value), str(err.value)


def test_always_takes_no_levels(tiny_raw):
    tiny_raw["always"] = {"grad_clip": {"max_norm": [1.0, 2.0]}}
    with pytest.raises(StudyError, match="always.grad_clip.max_norm: `always` takes one setting"):
        validate_study(tiny_raw)


def test_levels_change_the_study_hash(tiny_raw):
    a = _study(dict(tiny_raw), {"dropout": {"p": [0.0, 0.25]}})
    b = _study(dict(tiny_raw), {"dropout": {"p": [0.0, 0.5]}})
    assert a.study_hash != b.study_hash


def test_level_tags_on_cells_and_parent(tiny_raw, workdir):
    study = _study(tiny_raw, {"dropout": {"p": [0.0, 0.25, 0.5]}, "l2": {"lambda": 1e-3}})
    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    parent = tracker.start_parent(study)
    arm = next(a for a in study.arms() if a.name == "dropout=0.25+l2")
    run_id = tracker.start_cell(parent, Cell(study, arm, 0), 0)
    run = MlflowClient(tracker.uri).get_run(run_id)
    cell = CellRecord.from_mlflow(run_id, run.data.tags)
    assert cell.levels == {"dropout": "0.25"}  # l2 is on/off: it has no level tag
    assert cell.factors["dropout"] is True
    record = ParentRecord.from_mlflow(parent, MlflowClient(tracker.uri).get_run(parent).data.tags)
    assert record.design_record["levels"] == {"dropout": ["off", "0.25", "0.5"]}
    assert set(record.design_record["estimable"]) == {"dropout", "l2", "dropout:l2"}
