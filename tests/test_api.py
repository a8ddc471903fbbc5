"""The public Python API (ablate.__all__): run a study from a notebook or a script (a path or a mapping, with
overrides, workers > 1 without a __main__ guard), rebuild its report, and register a plugin's model, dataset
and regularizer with declarations checked when the plugin is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from pydantic import Field

import ablate
from ablate.data import DATASETS
from ablate.errors import AblateError, StudyError
from ablate.models import MODELS
from ablate.regularizers import REGULARIZERS, Params, Regularizer


def test_the_public_names_resolve_and_importing_ablate_stays_light():
    assert set(ablate.__all__) == {"load_study", "run", "analyze", "build_report", "register_model",
                                   "register_dataset", "register_regularizer"}
    assert all(callable(getattr(ablate, name)) for name in ablate.__all__)
    code = "import sys, ablate; print(sorted(m for m in ('torch', 'mlflow', 'optuna') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ablate.nope  # noqa: B018


def test_run_takes_a_mapping_with_overrides_and_build_report_rebuilds(tiny_raw, workdir):
    summary = ablate.run(tiny_raw, overrides={"train.epochs": 1, "seeds": 1, "factors.dropout.p": 0.2},
                         quiet=True)
    assert summary.total == summary.finished == 4 and summary.report.is_file()
    assert list(summary.verdicts["factor"]) == ["dropout", "l2"] and summary.answer.report == summary.report
    assert summary.best_arm == summary.leaderboard["arm"].iloc[0] and "term" in summary.effects
    assert str(summary.answer).splitlines()[-1] == f"report: {summary.report}"
    study = ablate.load_study(tiny_raw, overrides={"train.epochs": 1, "seeds": 1, "factors.dropout.p": 0.2})
    assert study.train.epochs == 1 and study.factors[0].levels[1].p == 0.2
    assert tiny_raw["train"]["epochs"] == 2  # the caller's mapping is not edited
    again = ablate.build_report("tiny")
    assert again == summary.report and "tiny" in again.read_text()


def test_run_takes_a_path_and_key_value_overrides(tiny_raw, write_study, workdir):
    path = write_study(tiny_raw)
    summary = ablate.run(str(path), overrides=["train.epochs=1", "seeds=1", "design=loco"], report=False,
                         quiet=True)
    assert summary.total == summary.finished == 3  # loco on two factors: all on, then each left out
    assert summary.answer is None and set(summary.leaderboard["arm"]) == {"dropout+l2", "l2", "dropout"}
    assert list(summary.verdicts["factor"]) == ["dropout", "l2"]  # no report: read from the store when asked


@pytest.mark.parametrize("overrides,field", [(["train.epochs"], "<overrides>"), (["train.epochs=-1"], "train.epochs"),
                                             (["name.x=1"], "name.x")])
def test_bad_overrides_name_the_field(tiny_raw, overrides, field):
    with pytest.raises(StudyError, match=field.replace(".", r"\.")):
        ablate.load_study(tiny_raw, overrides=overrides)


SCRIPT = """
import sys
import ablate

print("script body ran", flush=True)  # once: the workers must not run this file again
study = {study!r}
summary = ablate.run(study, workers=2, quiet=True, report=False)
print("finished", summary.finished, "of", summary.total, flush=True)
"""


def test_a_script_without_a_main_guard_runs_workers(tiny_raw, workdir):
    """The classic multiprocessing trap: no `if __name__ == "__main__":`, workers=2. The workers are fork
    server children (spawn elsewhere) that must not re-execute the script."""
    raw = {**tiny_raw, "train": {**tiny_raw["train"], "epochs": 1}, "seeds": 1}
    (workdir / "driver.py").write_text(textwrap.dedent(SCRIPT.format(study=raw)))
    out = subprocess.run([sys.executable, "driver.py"], capture_output=True, text=True, cwd=workdir, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("script body ran") == 1 and "finished 4 of 4" in out.stdout
    assert (workdir / "mlflow.db").is_file() and (workdir / "optuna.journal").is_file()


def test_a_model_from_the_notebook_itself_with_workers_is_refused_clearly(tiny_raw, workdir):
    @ablate.register_model(name="api_notebook_mlp")
    def notebook_mlp(spec, *, dropout: float = 0.0):
        from torch import nn

        return nn.Sequential(nn.Flatten(), nn.Linear(64, spec.num_classes))

    notebook_mlp.__module__ = "__main__"
    try:
        with pytest.raises(AblateError, match="model 'api_notebook_mlp' is defined in the running script"):
            ablate.run({**tiny_raw, "model": {"name": "api_notebook_mlp"}}, workers=2, quiet=True, report=False)
    finally:
        MODELS.unregister("api_notebook_mlp")


def test_register_model_passes_declarations_through():
    def wide(spec, *, dropout: float = 0.0, width: int = 4):
        """A wide model."""

    tiny = {"model": {"name": "api_wide", "width": 2}, "data": {"name": "digits"}}
    assert ablate.register_model(name="api_wide", data_kinds={"image", "text"}, tiny=tiny)(wide) is wide
    try:
        builder = MODELS.get("api_wide")
        assert builder.data_kinds == {"image", "text"} and builder.tiny == tiny and builder.summary == "A wide model."
        assert builder.reg_kwargs == {"dropout"}
    finally:
        MODELS.unregister("api_wide")


class StrengthParams(Params):
    strength: float = Field(0.1, gt=0.0)


def _reg(**attrs):
    return type("ApiReg", (Regularizer,), {"name": "api_reg", "Params": StrengthParams, **attrs})


@pytest.mark.parametrize("attrs,message", [
    ({}, "must declare `changes`"),
    ({"changes": frozenset({"speed"})}, r"not \['speed'\]"),
    ({"changes": frozenset({"loss"}), "example": {"strength": -1}}, "its `example`"),
    ({"changes": frozenset({"model"}), "model_kwargs": lambda self: {"dropout": 0.1}}, "applies_to=\\['dropout'\\]"),
    ({"changes": frozenset({"loss"}), "applies_to": frozenset({"dropout"}),
      "model_kwargs": lambda self: {"dropout": 0.1}}, "changes` must include 'model'"),
])
def test_register_regularizer_checks_what_a_plugin_must_declare(attrs, message):
    with pytest.raises(TypeError, match=message):
        ablate.register_regularizer(_reg(**attrs))
    assert "api_reg" not in REGULARIZERS


def test_register_regularizer_keywords_set_the_declarations():
    cls = _reg(__doc__="An API test penalty.", penalty=lambda self, ctx: None)
    ablate.register_regularizer(changes={"loss"}, example={"strength": 0.2}, data_kinds={"image"})(cls)
    try:
        reg = REGULARIZERS.get("api_reg")
        assert reg.changes == {"loss"} and reg.example == {"strength": 0.2} and reg.data_kinds == {"image"}
        assert reg.applies_to is None and reg.summary == "An API test penalty."
    finally:
        REGULARIZERS.unregister("api_reg")


def test_a_loader_function_is_a_dataset_with_its_own_settings_and_the_common_ones():
    @ablate.register_dataset(name="api_stripes")
    def stripes(*, per_class: int = 20, size: int = 4):
        """Horizontal or vertical stripes."""
        x = np.zeros((2 * per_class, size, size), np.float32)
        x[:per_class, ::2, :] = 1.0
        x[per_class:, :, ::2] = 1.0
        y = np.repeat([0, 1], per_class)
        return x, y, x[::4], y[::4]

    try:
        entry = DATASETS.get("api_stripes")
        params = entry.Params(per_class=10, val_fraction=0.25, train_subset=16)
        data = entry.load(params)
        assert data.x_train.dtype.is_floating_point is False and data.x_train.shape[1:] == (1, 4, 4)
        assert len(data.y_train) + len(data.y_val) == 16 and data.spec.num_classes == 2
        assert entry.summary == "Horizontal or vertical stripes."
        import pickle

        assert pickle.loads(pickle.dumps(params)) == params  # workers receive it
    finally:
        DATASETS.unregister("api_stripes")


@pytest.mark.parametrize("returned,message", [
    (lambda: 3, "int; return"),
    (lambda: (np.zeros((4, 2, 2), np.int32), np.zeros(4, int), np.zeros((2, 2, 2), np.uint8), np.zeros(2, int)),
     "uint8 .0..255. or floats"),
    (lambda: (np.zeros((4, 2, 2), np.uint8), np.zeros(3, int), np.zeros((2, 2, 2), np.uint8), np.zeros(2, int)),
     "labels are 4 integers"),
    (lambda: {"x_train": np.zeros((4, 2, 2), np.uint8)}, "without"),
])
def test_a_loader_that_returns_the_wrong_thing_is_told_what_to_return(returned, message):
    def bad():
        return returned()

    ablate.register_dataset(name="api_bad")(bad)
    try:
        entry = DATASETS.get("api_bad")
        with pytest.raises(AblateError, match=f"dataset 'api_bad': its loader returned.*{message}"):
            entry.load(entry.Params())
    finally:
        DATASETS.unregister("api_bad")


def test_a_loader_may_not_take_the_settings_every_dataset_has():
    def clash(*, batch_size: int = 3):
        return None

    with pytest.raises(TypeError, match="batch_size"):
        ablate.register_dataset(clash)


def test_analyze_is_a_public_name():
    assert callable(ablate.analyze)


def test_the_public_api_serves_a_study_file_with_a_plugin(tmp_path, workdir):
    (tmp_path / "mine.py").write_text(textwrap.dedent("""
        import ablate
        from torch import nn

        @ablate.register_model
        def api_file_mlp(spec, *, dropout: float = 0.0):
            return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(64, spec.num_classes))
    """))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "api-file", "plugins": ["mine.py"], "model": {"name": "api_file_mlp"},
        "data": {"name": "digits", "batch_size": 256}, "train": {"epochs": 1}, "factors": {"dropout": {"p": 0.3}},
        "seeds": 1}))
    summary = ablate.run(tmp_path / "s.yaml", quiet=True)
    assert summary.finished == 2 and ablate.build_report(tmp_path / "s.yaml") == summary.report
