"""examples/own_model: a user's model, dataset loader and regularizer in a plugin outside the package, run the
way README says (`ablate run examples/own_model/study.yaml` from the repository root); and the issue's second
acceptance, a torchvision resnet18 ablated with dropout and mixup by two workers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ablate
from ablate import plugins
from ablate.regularizers import REGULARIZERS, Regularizer
from ablate.train import fit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "own_model"
ABLATE = [sys.executable, "-m", "ablate.cli"]


def _plugin_module():
    study = ablate.load_study(EXAMPLE / "study.yaml")
    return sys.modules[plugins._file_module_name(Path(study.plugins[0].target))], study


@pytest.fixture
def checkout(workdir):
    """A copy of examples/ in an empty working directory, as on a fresh clone; the study shortened to
    seconds (2 epochs, 1 seed) and otherwise as committed."""
    shutil.copytree(EXAMPLE, workdir / "examples" / "own_model")
    path = workdir / "examples" / "own_model" / "study.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["train"]["epochs"], raw["seeds"] = 2, 1
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return workdir


def test_own_model_example_trains_and_reports(checkout):
    out = subprocess.run([*ABLATE, "run", "examples/own_model/study.yaml", "--quiet"], capture_output=True,
                         text=True, cwd=checkout, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "4/4 cells finished, 0 failed" in out.stdout and "Traceback" not in out.stderr
    page = (checkout / "reports" / "own_model" / "index.html").read_text()
    assert "dropout+grad_noise" in page and "small_resnet" in page and "Traceback" not in page
    assert not (checkout / "examples" / "own_model" / "__pycache__").exists()


def test_the_example_runs_on_an_image_folder_with_the_plugins_regularizer_as_a_factor():
    module, study = _plugin_module()
    assert study.data.name == "image_folder" and Path(study.data.path) == Path("examples/own_model/images")
    assert [f.name for f in study.factors] == ["grad_noise", "dropout"]
    assert module.small_resnet.__module__ == module.__name__ and not module.__name__.startswith("ablate.")


def test_the_committed_images_are_what_the_plugin_draws(tmp_path):
    module, _ = _plugin_module()
    module.write_image_folder(tmp_path)
    drawn = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    committed = sorted(p.relative_to(EXAMPLE / "images") for p in (EXAMPLE / "images").rglob("*.png"))
    assert drawn == committed and len(drawn) == 90
    assert all((tmp_path / p).read_bytes() == (EXAMPLE / "images" / p).read_bytes() for p in drawn)
    assert sum((EXAMPLE / "images" / p).stat().st_size for p in committed) < 40_000


def _shapes_study(eta: float = 0.01) -> dict:
    return {"name": "shapes-check", "model": {"name": "small_resnet", "width": 4, "blocks": 1},
            "data": {"name": "shapes", "per_class": 12, "size": 12, "batch_size": 16},
            "train": {"epochs": 1, "optimizer": "sgd", "lr": 0.05}, "factors": {"grad_noise": {"eta": eta}},
            "seeds": 1, "plugins": [str(EXAMPLE / "plugin.py")]}


def test_the_plugins_loader_and_regularizer_do_what_they_claim(monkeypatch):
    """The plugin's dataset loader trains, and its regularizer changes the weights (it declares `weights`);
    with its hook a no-op, on and off agree (the claim is checkable)."""
    study = ablate.load_study(_shapes_study())
    off, on = study.cells()
    assert REGULARIZERS.get("grad_noise").changes == {"weights"}
    norms = lambda cell: [h["l2_norm"] for h in fit(cell).history]  # noqa: E731
    base = norms(off)
    assert norms(on) != base
    monkeypatch.setattr(REGULARIZERS.get("grad_noise"), "after_backward", Regularizer.after_backward)
    assert norms(on) == base


RESNET = {
    "name": "resnet18_digits",
    "description": "the issue's acceptance: a torchvision resnet18 ablated with dropout and mixup",
    "model": {"name": "torchvision", "arch": "resnet18"},
    "data": {"name": "digits", "train_subset": 200, "batch_size": 64},
    "train": {"epochs": 1, "lr": 1.0e-3},
    "factors": {"dropout": {"p": 0.3}, "mixup": {"alpha": 0.2}},
    "seeds": 1,
}


def test_a_torchvision_resnet18_with_dropout_and_mixup_two_workers(workdir):
    (workdir / "resnet.yaml").write_text(yaml.safe_dump(RESNET))
    out = subprocess.run([*ABLATE, "run", "resnet.yaml", "--workers", "2", "--quiet"], capture_output=True,
                         text=True, cwd=workdir, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "4/4 cells finished, 0 failed" in out.stdout and "Traceback" not in out.stderr
    page = (workdir / "reports" / "resnet18_digits" / "index.html").read_text()
    assert "dropout+mixup" in page and "Traceback" not in page
