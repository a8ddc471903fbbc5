"""Property tests: whatever a study file holds, the validator answers with a Study or a StudyError that
names the file and a field - never another exception, never a traceback."""

from __future__ import annotations

import copy

from faultkit import STUDY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ablate.errors import StudyError
from ablate.study import Study
from ablate.validate import validate_study
from ablate.yamlio import read_yaml

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["cnn", "digits", "dropout", "l2", "explicit", "adam", "test_acc", "baseline", ""]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner,
                                                 max_size=4)), max_leaves=12)


def _paths(d: dict, prefix=()) -> list[tuple]:
    out = [prefix] if prefix else []
    for k, v in d.items():
        out += _paths(v, (*prefix, k)) if isinstance(v, dict) else [(*prefix, k)]
    return out


PATHS = _paths(STUDY) + [("factors", "l2", "extra"), ("design",), ("always",), ("tune",), ("metric", "direction"),
                         ("factors", "batchnorm"), ("factors", "augment"), ("factors", "early_stopping")]


def _check(raw) -> None:
    try:
        result = validate_study(raw, source="prop.yaml")
    except StudyError as e:
        text = str(e)
        assert text.startswith("prop.yaml: ") and e.problems, text
        assert all(isinstance(rule, str) and rule for _, rule, _ in e.problems), e.problems
        return
    assert isinstance(result, Study)
    assert result.cells() and len(result.study_hash) == 64


@SETTINGS
@given(path=st.sampled_from(PATHS), value=values)
def test_one_field_replaced_by_anything(path, value):
    raw = copy.deepcopy(STUDY)
    node = raw
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key), dict) else node.setdefault(key, {})
    node[path[-1]] = value
    _check(raw)


@SETTINGS
@given(keep=st.sets(st.sampled_from(sorted(STUDY))), extra=st.dictionaries(st.text(max_size=12), values,
                                                                             max_size=3))
def test_fields_dropped_and_added(keep, extra):
    _check({**{k: copy.deepcopy(STUDY[k]) for k in keep}, **extra})


@SETTINGS
@given(doc=values)
def test_any_document_at_all(doc):
    _check(doc)


TOKENS = [*"abcdefgnml:{}[]-,&*!|>'\"#%@`?.0123456789", "\n", "\n  ", "\t", " ", "name: ", "factors: ",
          "model: {name: cnn}", "!!python/object/apply:os.system ['touch PWNED']", "<<: ", "&a ", "*a", "---\n",
          "\x00", "\ufeff", "\u2028"]
yaml_text = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@SETTINGS
@given(text=yaml_text)
def test_any_text_is_read_or_refused_with_a_line(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / "study.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        doc = read_yaml(path)
    except StudyError as e:
        assert str(e).startswith(f"{path}: ") and e.problems
        return
    _check(doc)
