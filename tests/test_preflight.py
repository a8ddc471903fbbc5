"""Model and data shapes checked before any store is made (issue 23, item 8): a plugin model returning 7 (or 12)
logits for 10 classes, and a loader returning channels-last images, are bad input (exit 2) naming the model,
its file and got vs want; before this, every cell FAILED with an IndexError and `ablate run` exited 0."""

from __future__ import annotations

import textwrap

import pytest
from mlflow.tracking import MlflowClient

from ablate.cli import main
from ablate.records import Tag

PLUGIN = '''
import numpy as np
from torch import nn

import ablate


@ablate.register_model
def {name}(spec, *, hidden: int = 8):
    """A plugin model whose last layer ignores the class count."""
    h, w = spec.image_size
    return nn.Sequential(nn.Flatten(), nn.Linear(spec.in_channels * h * w, hidden), nn.ReLU(),
                         nn.Linear(hidden, {logits}))


@ablate.register_dataset
def {name}_nhwc(*, n: int = 40):
    """Colour images handed over as (N, H, W, C)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (n, 8, 8, 3)).astype(np.uint8)
    y = np.arange(n) % 2
    return x, y, x[::4], y[::4]
'''


def _study(tmp_path, tiny_raw, name: str, logits: str, data: dict | None = None):
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(textwrap.dedent(PLUGIN).format(name=name, logits=logits))
    raw = {**tiny_raw, "name": name, "model": {"name": name}, "factors": {"l2": {"lambda": 1.0e-3}},
           "plugins": [str(plugin)], "seeds": 1, "train": {"epochs": 1, "optimizer": "adam", "lr": 0.01}}
    if data:
        raw["data"] = data
    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, plugin


@pytest.mark.parametrize("logits", [7, 12])
def test_a_model_with_the_wrong_class_count_is_refused_before_any_store(tmp_path, tiny_raw, workdir, capsys,
                                                                      logits):
    name = f"wrong_logits_{logits}"
    path, plugin = _study(tmp_path, tiny_raw, name, str(logits))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"model '{name}'" in err and str(plugin) in err and f"{logits} vs 10 classes" in err, err
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna.journal").exists()


def test_channels_last_images_are_refused_with_the_fix(tmp_path, tiny_raw, workdir, capsys):
    name = "nhwc_loader"
    path, _ = _study(tmp_path, tiny_raw, name, "spec.num_classes", data={"name": f"{name}_nhwc"})
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"dataset '{name}_nhwc'" in err and "channels-last" in err and ", 8, 8, 3)" in err, err
    assert "permute(0, 3, 1, 2)" in err
    assert not (workdir / "mlflow.db").exists()


def test_a_run_records_the_class_count_for_the_chance_check(tiny_raw, write_study, workdir):
    raw = {**tiny_raw, "name": "classes_recorded", "seeds": 1, "factors": {"l2": {"lambda": 1.0e-3}},
           "train": {"epochs": 1, "optimizer": "adam", "lr": 0.01}}
    assert main(["run", str(write_study(raw)), "--quiet", "--no-report"]) == 0
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("classes_recorded")
    parent = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(Tag.ROLE) == "parent"][0]
    assert parent.data.tags[Tag.ANALYSIS + "classes"] == "10"


def test_validate_check_shapes_refuses_the_same_model(tmp_path, tiny_raw, capsys):
    path, _ = _study(tmp_path, tiny_raw, "validate_wrong_logits", "7")
    assert main(["validate", str(path), "--check-shapes"]) == 2
    assert "7 vs 10 classes" in capsys.readouterr().err
    good = dict(tiny_raw, name="validate_ok")
    import yaml

    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(good))
    assert main(["validate", str(tmp_path / "ok.yaml"), "--check-shapes"]) == 0
    assert "shapes: data and model agree (10 classes)" in capsys.readouterr().out
