"""Study validation: every malformed study names its field; designs expand to the right arms and cells."""

from __future__ import annotations

import pytest

from ablate.cli import main
from ablate.errors import StudyError
from ablate.validate import load_study, validate_study

# (what to change in the tiny study, the field path the error must name, a word the rule must contain)
MALFORMED = [
    (lambda s: s["factors"].update(dropout={"p": 1.5}), "factors.dropout.p", "less than 1"),
    (lambda s: s["factors"].update(dropout={"p": -0.1}), "factors.dropout.p", "greater than 0"),
    (lambda s: s["factors"].update(dropuot={"p": 0.1}), "factors.dropuot", "did you mean 'dropout'"),
    (lambda s: s["factors"].update(l2={"lambda": 1e-3, "foo": 1}), "factors.l2.foo", "Extra inputs"),
    (lambda s: s["factors"].update(l2={}), "factors.l2.lambda", "Field required"),
    (lambda s: s["factors"].update(l2={"lambda": "much"}), "factors.l2.lambda", "valid number"),
    (lambda s: s.update(factors={}), "factors", "at least 1"),
    (lambda s: s["model"].update(name="cnnn"), "model.name", "did you mean 'cnn'"),
    (lambda s: s["model"].update(width=0), "model.width", "greater than"),
    (lambda s: s["data"].update(name="digitz"), "data.name", "did you mean 'digits'"),
    (lambda s: s["data"].update(val_fraction=1.5), "data.val_fraction", "less than 1"),
    (lambda s: s["data"].update(batch_size=0), "data.batch_size", "greater than"),
    (lambda s: s["train"].update(epochs=0), "train.epochs", "greater than"),
    (lambda s: s["train"].update(optimizer="adamm"), "train.optimizer", "adam"),
    (lambda s: s["train"].update(precision="fp8"), "train.precision", "fp32"),
    (lambda s: s["metric"].update(name="test_accuracy"), "metric.name", "did you mean 'test_acc'"),
    (lambda s: s.update(seeds=0), "seeds", "1..1000"),
    (lambda s: s.update(seeds=[1, 1]), "seeds", "distinct"),
    (lambda s: s.update(design="fullfactorial"), "design.name", "did you mean 'full_factorial'"),
    (lambda s: s.update(design={"name": "explicit"}), "design.arms", "non-empty"),
    (lambda s: s.update(design={"name": "explicit", "arms": [["dropout"], ["dropout"]]}), "design.arms.1",
     "distinct"),
    (lambda s: s.update(design={"name": "explicit", "arms": [["droput"]]}), "design.arms.0", "dropout"),
    (lambda s: s.update(colour="red"), "colour", "Extra inputs"),
    (lambda s: s["always"].update(dropout={"p": 0.1}), "always.dropout", "either a factor or always"),
    (lambda s: s["factors"].update(augment={"crop": 2}) or s["data"].update(name="digits")
     or s.update(model={"name": "cnn", "width": 2}) or s["factors"].update(augment={}), "factors.augment",
     "at least one"),
    (lambda s: s.pop("model"), "model", "Field required"),
    (lambda s: s["factors"].update(early_stopping={"patience": 0}), "factors.early_stopping.patience", "greater"),
    (lambda s: s.update(model={"name": "transformer", "dim": 8, "depth": 1, "heads": 2, "patch_size": 3}),
     "model.patch_size", "must divide the image size of dataset 'digits' (8x8; try one of [1, 2, 4, 8])"),
    # YAML true/false are not numbers (pydantic's lax mode would read them as 1 and 0)
    (lambda s: s["data"].update(batch_size=True), "data.batch_size", "not true/false"),
    (lambda s: s["train"].update(epochs=True), "train.epochs", "not true/false"),
    (lambda s: s["train"].update(lr=False), "train.lr", "not true/false"),
    (lambda s: s["model"].update(width=True), "model.width", "not true/false"),
    (lambda s: s["factors"].update(dropout={"p": True}), "factors.dropout.p", "not true/false"),
    (lambda s: s.update(seeds=True), "seeds", "not true/false"),
]


@pytest.mark.parametrize("change,field,rule", MALFORMED, ids=[m[1] + f"#{i}" for i, m in enumerate(MALFORMED)])
def test_malformed_study_names_field_and_rule(tiny_raw, write_study, change, field, rule):
    change(tiny_raw)
    path = write_study(tiny_raw)
    with pytest.raises(StudyError) as err:
        load_study(path)
    text = str(err.value)
    assert f"{path}: {field}:" in text, text
    assert rule in text, text


def test_validate_cli_exit_2_names_field(tiny_raw, write_study, workdir, capsys):
    tiny_raw["factors"]["dropout"]["p"] = 1.5
    path = write_study(tiny_raw)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "factors.dropout.p" in err and "1.5" in err
    assert list(workdir.iterdir()) == []  # no store touched


def test_validate_cli_prints_arms_and_cells(tiny_raw, write_study, capsys):
    assert main(["validate", str(write_study(tiny_raw))]) == 0
    out = capsys.readouterr().out
    assert "4 arms x 2 seeds = 8 cells" in out
    for arm in ("baseline", "dropout", "l2", "dropout+l2"):
        assert f"  {arm}\n" in out


def test_yaml_syntax_error_names_line(write_study):
    with pytest.raises(StudyError, match="line 3"):
        load_study(write_study("name: x\nmodel: {name: cnn\n"))


def test_python_tags_are_refused(write_study):
    with pytest.raises(StudyError, match="valid YAML"):
        load_study(write_study("name: !!python/object/apply:os.system ['echo hi']\n"))


def test_duplicate_keys_are_refused(write_study):
    with pytest.raises(StudyError, match="duplicate key 'name'"):
        load_study(write_study("name: a\nname: b\n"))


@pytest.mark.parametrize("design,arms", [
    ("full_factorial", ["baseline", "l2", "dropout", "dropout+l2", "augment"]),
    ("loco", ["augment+dropout+l2", "augment+dropout", "augment+l2", "dropout+l2"]),
    ("add_one", ["baseline", "l2", "dropout", "augment"]),
])
def test_designs_expand(tiny_raw, design, arms):
    tiny_raw["factors"] = {"l2": {"lambda": 1e-3}, "dropout": {"p": 0.2}, "augment": {"flip": True}}
    tiny_raw["design"] = design
    study = validate_study(tiny_raw)
    names = [a.name for a in study.arms()]
    assert set(arms) <= set(names)
    assert len(names) == {"full_factorial": 8, "loco": 4, "add_one": 4}[design]
    assert len(study.cells()) == len(names) * 2


def test_explicit_design_and_paired_seeds(tiny_raw):
    tiny_raw["design"] = {"name": "explicit", "arms": [[], ["l2", "dropout"]]}
    tiny_raw["seeds"] = [7, 11]
    study = validate_study(tiny_raw)
    assert [c.cell_id for c in study.cells()] == [
        "baseline/seed7", "baseline/seed11", "dropout+l2/seed7", "dropout+l2/seed11"]


def test_hash_ignores_description_but_not_settings(tiny_raw):
    a = validate_study(tiny_raw).study_hash
    tiny_raw["description"] = "other words"
    assert validate_study(tiny_raw).study_hash == a
    tiny_raw["train"]["lr"] = 0.02
    assert validate_study(tiny_raw).study_hash != a


def test_cell_flat_params(tiny_raw):
    cell = validate_study(tiny_raw).cells()[-1]
    p = cell.flat_params()
    assert p["reg.dropout.p"] == 0.3 and p["reg.l2.lambda"] == 1e-3 and p["reg.grad_clip.max_norm"] == 1.0
    assert p["model.width"] == 2 and p["train.lr"] == 0.01 and p["seed"] == 1


@pytest.mark.parametrize("text,rule,given", [
    ("name: x\nseeds: " + "9" * 4400 + "\n", "a number must be at most 100 characters", "4400"),
    ("name: " + "[" * 3000 + "]" * 3000 + "\n", "nesting at most 50 levels", "more than 300 levels"),
    ("a: &a [x, x]\n" + "".join(f"b{i}: *a\n" for i in range(101)), "at most 100 YAML aliases", "101 aliases"),
])
def test_a_study_file_over_a_yaml_limit_names_the_limit_and_what_was_given(write_study, text, rule, given):
    with pytest.raises(StudyError) as e:
        load_study(write_study(text))
    (_, found_rule, found_given), = e.value.problems
    assert rule in found_rule and given in str(found_given)


def test_every_error_message_is_capped_with_a_count_of_what_was_left_out(tiny_raw, write_study):
    tiny_raw.update({f"unknown_{i}_" + "k" * 2000: 1 for i in range(400)})  # 0.8 MB of unknown keys
    with pytest.raises(StudyError) as e:
        load_study(write_study(tiny_raw))
    text = str(e.value)
    assert len(text) <= 9000 and ("left out" in text)
