"""Command-line overrides: dotted paths into the raw study, YAML values, the same errors as the file's."""

from __future__ import annotations

import pytest

from ablate.errors import StudyError
from ablate.overrides import apply, described, is_override, parse, study_text
from ablate.validate import load_study, validate_study


def _problems(err: StudyError) -> dict[str, tuple[str, object]]:
    return {path: (rule, value) for path, rule, value in err.problems}


def test_values_are_yaml_and_paths_are_dotted(tiny_raw):
    out = apply(tiny_raw, ["train.epochs=5", "seeds=[0, 7]", "factors.dropout={p: 0.5}", "train.lr=1e-3",
                           "always.early_stopping.patience=3", "design=add_one", "~factors.l2"], "s.yaml")
    assert out["train"]["epochs"] == 5 and out["seeds"] == [0, 7] and out["factors"] == {"dropout": {"p": 0.5}}
    assert out["train"]["lr"] == 1e-3 and isinstance(out["train"]["lr"], float)  # YAML 1.1 reads 1e-3 as text
    assert out["always"]["early_stopping"] == {"patience": 3} and out["design"] == "add_one"
    assert tiny_raw["train"]["epochs"] == 2 and "l2" in tiny_raw["factors"]  # the file's mapping is untouched


def test_a_design_name_takes_options_and_an_empty_section_takes_settings(tiny_raw):
    tiny_raw["design"], tiny_raw["always"] = "fractional", None  # `design: fractional`, `always:` left empty
    out = apply(tiny_raw, ["design.resolution=4", "always.grad_clip.max_norm=1.0"], "s.yaml")
    assert out["design"] == {"name": "fractional", "resolution": 4}
    assert out["always"] == {"grad_clip": {"max_norm": 1.0}}


def test_the_api_mapping_is_the_same_overrides_with_values_as_given(tiny_raw):
    out = apply(tiny_raw, {"train.epochs": 5, "train.lr": "1e-3", "~factors.l2": None}, "<study>")
    assert out["train"]["epochs"] == 5 and out["train"]["lr"] == "1e-3" and "l2" not in out["factors"]
    with pytest.raises(StudyError) as e:
        apply(tiny_raw, {"train.epocs": 3, "seeds.x": 1}, "<study>")
    assert "did you mean 'epochs'" in _problems(e.value)["train.epocs"][0]
    assert described("<study>", {"train.epochs": 2, "seeds": [0, 7]}) == "<study> train.epochs=2 'seeds=[0, 7]'"


def test_a_list_item_can_be_set(tiny_raw):
    tiny_raw["seeds"] = [0, 1, 2]
    assert apply(tiny_raw, ["seeds.1=9"], "s.yaml")["seeds"] == [0, 9, 2]
    with pytest.raises(StudyError) as e:
        apply(tiny_raw, ["seeds.5=9"], "s.yaml")
    assert "a list index must be below 3" in _problems(e.value)["seeds.5"][0]


def test_the_effective_study_is_what_is_hashed(tiny_raw, write_study):
    path = write_study(tiny_raw)
    plain, changed = load_study(path), load_study(path, ("train.epochs=5",))
    tiny_raw["train"]["epochs"] = 5
    assert changed.study_hash == validate_study(tiny_raw).study_hash != plain.study_hash
    assert changed.train.epochs == 5 and changed.source == f"{path} train.epochs=5"


def test_a_bad_value_names_the_dotted_field(tiny_raw, write_study):
    path = write_study(tiny_raw)
    with pytest.raises(StudyError) as e:
        load_study(path, ("train.epochs=-1",))
    rule, value = _problems(e.value)["train.epochs"]
    assert "greater than or equal to 1" in rule and value == -1
    assert e.value.file == f"{path} train.epochs=-1"  # the message says where the value came from


def test_unknown_paths_suggest_the_closest_field(tiny_raw):
    with pytest.raises(StudyError) as e:
        apply(tiny_raw, ["trian.epochs=3", "train.epocs=2", "metric.nmae=ece"], "s.yaml")
    found = _problems(e.value)
    assert "did you mean 'train'" in found["trian"][0]
    assert "did you mean 'epochs'" in found["train.epocs"][0]
    assert "did you mean 'name'" in found["metric.nmae"][0]
    assert found["trian"][1] == "trian.epochs=3"


def test_setting_inside_a_scalar_or_deleting_nothing_is_an_error(tiny_raw):
    with pytest.raises(StudyError) as e:
        apply(tiny_raw, ["name.x=4", "~always.nothing", "~factors.nothing.p"], "s.yaml")
    found = _problems(e.value)
    assert f"`name` is '{tiny_raw['name']}', not a mapping" in found["name"][0]
    assert "nothing at this path" in found["always.nothing"][0]
    assert "nothing at this path" in found["factors.nothing"][0]


@pytest.mark.parametrize("bad", ["train.epochs", "=3", "train..epochs=3", "~seeds=1"])
def test_malformed_overrides(tiny_raw, bad):
    with pytest.raises(StudyError) as e:
        apply(tiny_raw, [bad], "s.yaml")
    assert any("key.path=value" in rule for _, rule, _ in e.value.problems)


def test_a_value_that_is_not_yaml(tiny_raw):
    with pytest.raises(StudyError) as e:
        parse(["seeds=[0, 1"], "s.yaml")
    assert "must be YAML" in _problems(e.value)["seeds"][0]


def test_what_counts_as_an_override():
    assert is_override("train.epochs=2") and is_override("~factors.l2") and is_override("seeds=1")
    assert not is_override("studies/quickstart.yaml") and not is_override("--workers")
    assert described("s.yaml", ["a=1", "b=two words"]) == "s.yaml a=1 'b=two words'"


def test_study_text_is_the_effective_study(tiny_raw, write_study):
    import yaml

    path = write_study(tiny_raw)
    assert study_text(path, ()) == path.read_text()
    text = study_text(path, ("seeds=1",))
    assert text.startswith(f"# {path} seeds=1\n")
    assert yaml.safe_load(text)["seeds"] == 1


BOMB = "{" + ", ".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9 if p else ['x'] * 9)}]"
                       for p, k in zip(["", *"abcdef"], "abcdefg")) + "}"


@pytest.mark.parametrize("value,rule,given", [
    (BOMB, "at most 100000 values once its aliases are expanded", "6053451 values"),  # 288 bytes, 1.8 GB
    ("[" * 3000 + "]" * 3000, "nesting at most 50 levels", "more than 300 levels"),
    ("1" * 5000, "a number must be at most 100 characters", "a number of 5000 characters"),
    ("x" * 1_000_001, "at most 1000000 bytes", "1000001 bytes"),
])
def test_an_override_is_read_by_the_bounded_parser(tiny_raw, value, rule, given):
    """The study file's limits hold for an override's value too: a message naming the field, the limit and
    how much was given; never a traceback, an endless expansion or Python's int-conversion error."""
    with pytest.raises(StudyError) as e:
        apply(tiny_raw, [f"factors.l2={value}"], "s.yaml")
    (rule_given, value_given), = _problems(e.value).values()
    assert list(_problems(e.value)) == ["factors.l2"]
    assert rule in rule_given and value_given == given


def test_an_override_limit_ends_the_cli_with_exit_2_and_no_store(tiny_raw, write_study, tmp_path, capsys,
                                                                 monkeypatch):
    from ablate.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", str(write_study(tiny_raw)), f"factors.l2={BOMB}"]) == 2
    err = capsys.readouterr().err
    assert "factors.l2" in err and "6053451 values" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]
