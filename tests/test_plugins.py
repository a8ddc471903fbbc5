"""Plugins: a study's own Python files or modules (and installed entry points) register models, datasets and
regularizers through the public API; they load in every process that needs them, their content is part of
the study hash, and one that fails to import is an error naming file and line, with nothing written."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor

import pytest
import yaml

from ablate import pool
from ablate.cli import main
from ablate.data import DATASETS
from ablate.errors import AblateError, StudyError
from ablate.models import MODELS
from ablate.orchestrate import run_study
from ablate.plugins import load_entry_points
from ablate.regularizers import REGULARIZERS
from ablate.validate import load_study, validate_study

ABLATE = [sys.executable, "-m", "ablate.cli"]
_ids = itertools.count()


def plugin_source(tag: str) -> str:
    """A plugin registering a model `<tag>_mlp`, a loader `<tag>_blobs` and a regularizer `<tag>_shrink`
    (names unique per test: the registries are per process, as they are for a user)."""
    return textwrap.dedent(f'''
        import numpy as np
        import torch
        from torch import nn

        import ablate
        from ablate.regularizers import Params, Regularizer


        @ablate.register_model
        def {tag}_mlp(spec, *, dropout: float = 0.0, hidden: int = 8):
            """A plugin's perceptron."""
            h, w = spec.image_size
            return nn.Sequential(nn.Flatten(), nn.Linear(spec.in_channels * h * w, hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, spec.num_classes))


        @ablate.register_dataset
        def {tag}_blobs(*, per_class: int = 30, size: int = 6):
            """Bright blobs in one of two corners."""
            rng = np.random.default_rng(0)
            x = rng.integers(0, 40, (2 * per_class, size, size)).astype(np.uint8)
            y = np.repeat([0, 1], per_class)
            x[y == 0, : size // 2, : size // 2] += 200
            x[y == 1, size // 2 :, size // 2 :] += 200
            return x, y, x[::3], y[::3]


        class ShrinkParams(Params):
            factor: float = 0.1


        @ablate.register_regularizer
        class Shrink(Regularizer):
            """A plugin's penalty: factor times the sum of squared weights."""

            name = "{tag}_shrink"
            Params = ShrinkParams
            changes = frozenset({{"loss"}})
            example = {{"factor": 0.1}}

            def penalty(self, ctx):
                return self.params.factor * sum(p.pow(2).sum() for p in ctx.penalized)
    ''')


def study_with(tag: str, plugins=("plugin.py",), **extra) -> dict:
    return {"name": f"plugged-{tag}", "plugins": list(plugins), "model": {"name": f"{tag}_mlp"},
            "data": {"name": f"{tag}_blobs", "batch_size": 16}, "train": {"epochs": 1, "lr": 0.01},
            "factors": {f"{tag}_shrink": {"factor": 0.05}, "dropout": {"p": 0.2}}, "seeds": 1, **extra}


@pytest.fixture
def plugged(tmp_path):
    """(tag, study folder) with plugin.py and study.yaml in it, names unique to this test."""
    tag = f"p{next(_ids)}_{os.getpid()}"
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "plugin.py").write_text(plugin_source(tag))
    (folder / "study.yaml").write_text(yaml.safe_dump(study_with(tag)))
    return tag, folder


def test_a_study_lists_a_plugin_file_relative_to_itself(plugged, workdir):
    tag, folder = plugged
    study = load_study(folder / "study.yaml")  # the working directory is elsewhere
    assert f"{tag}_mlp" in MODELS and f"{tag}_blobs" in DATASETS and f"{tag}_shrink" in REGULARIZERS
    assert [p.label for p in study.plugins] == ["plugin.py"]
    assert study.canonical()["plugins"][0]["sha256"] == study.plugins[0].sha256
    assert not (folder / "__pycache__").exists()  # a plugin leaves no bytecode beside it


def test_overrides_with_a_path_keep_plugins_relative_to_the_study_file(plugged, workdir):
    tag, folder = plugged  # the message source is "study.yaml name=/x/y": the folder comes from the path alone
    study = load_study(folder / "study.yaml", ("name=/tmp/elsewhere/name",))
    assert [p.label for p in study.plugins] == ["plugin.py"]


def test_the_plugins_content_is_part_of_the_study_hash(plugged):
    tag, folder = plugged
    first = load_study(folder / "study.yaml")
    assert load_study(folder / "study.yaml").study_hash == first.study_hash  # loading again: the same study
    plugin = folder / "plugin.py"
    plugin.write_text(plugin_source(tag).replace("factor: float = 0.1", "factor: float = 0.2"))
    changed = load_study(folder / "study.yaml")  # the edited plugin replaces what it registered before
    assert changed.study_hash != first.study_hash
    assert REGULARIZERS.get(f"{tag}_shrink").Params().factor == 0.2


def test_a_study_without_plugins_hashes_as_before(tiny_raw):
    assert "plugins" not in validate_study(tiny_raw).canonical()
    assert validate_study({**tiny_raw, "plugins": []}).study_hash == validate_study(tiny_raw).study_hash


def test_a_plugin_module_by_name(tmp_path, monkeypatch):
    tag = f"m{next(_ids)}_{os.getpid()}"
    (tmp_path / f"{tag}_mod.py").write_text(plugin_source(tag))
    monkeypatch.syspath_prepend(str(tmp_path))
    study = validate_study(study_with(tag, plugins=[f"{tag}_mod"]))
    assert study.plugins[0].kind == "module" and study.plugins[0].label == f"{tag}_mod"
    with pytest.raises(StudyError, match=r"plugins\.0: no module named 'nosuch_plugin_mod'"):
        validate_study(study_with(tag, plugins=["nosuch_plugin_mod"]))


def test_a_missing_plugin_file_names_the_field_and_the_path(tmp_path, tiny_raw, write_study):
    path = write_study({**tiny_raw, "plugins": ["gone.py"]})
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert "plugins.0" in str(err.value) and str(tmp_path / "gone.py") in str(err.value)


def test_the_command_line_plugin_flag_does_the_same(plugged, tmp_path):
    tag, folder = plugged
    raw = study_with(tag, plugins=())
    (folder / "bare.yaml").write_text(yaml.safe_dump(raw))
    run = lambda *a: subprocess.run([*ABLATE, *a], capture_output=True, text=True, cwd=folder)  # noqa: E731
    without = run("validate", "bare.yaml")
    assert without.returncode == 2 and f"unknown model '{tag}_mlp'" in without.stderr
    ok = run("validate", "bare.yaml", "--plugin", "plugin.py")
    assert ok.returncode == 0, ok.stderr
    assert "4 arms x 1 seeds = 4 cells" in ok.stdout
    listed = run("list", "models", "--plugin", "plugin.py")
    assert f"{tag}_mlp" in listed.stdout and "A plugin's perceptron." in listed.stdout


def test_check_plugins_runs_the_contracts_of_what_the_plugins_register(plugged, workdir, capsys):
    tag, folder = plugged
    assert main(["validate", str(folder / "study.yaml"), "--check-plugins"]) == 0, capsys.readouterr().err
    assert "plugins: 1 checked, 0 broken contracts" in capsys.readouterr().out


@pytest.mark.parametrize("hook,says", [
    ("", "it overrides no hook that could (`penalty` or `loss_kwargs`"),  # declared, never implemented
    ("    def penalty(self, ctx):\n        return 0.0 * sum(p.sum() for p in ctx.penalized)\n",
     "its hook `penalty` ran and changed nothing"),
])
def test_check_plugins_fails_a_regularizer_that_does_not_change_what_it_declares(plugged, workdir, capsys, hook,
                                                                                   says):
    tag, folder = plugged
    source = plugin_source(tag)
    start = source.index("    def penalty(self, ctx):")
    (folder / "plugin.py").write_text(source[:start] + hook)
    assert main(["validate", str(folder / "study.yaml"), "--check-plugins"]) == 2
    err = capsys.readouterr().err
    assert f"plugin.py: regularizer '{tag}_shrink' on model '{tag}_mlp' breaks its declaration `changes: [loss]`" \
        in err, err
    assert says in err


@pytest.mark.parametrize("broken,line,kind", [
    ("x = 1\n\ny = undefined_name\n", 3, "NameError"),
    ("import ablate\n\ndef f(:\n    pass\n", 3, "SyntaxError"),
    ("import nosuch_module_for_ablate\n", 1, "ModuleNotFoundError"),
])
def test_a_plugin_that_fails_to_import_names_file_and_line_and_writes_nothing(tmp_path, workdir, broken, line,
                                                                               kind, tiny_raw):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "bad.py").write_text(broken)
    (folder / "study.yaml").write_text(yaml.safe_dump({**tiny_raw, "plugins": ["bad.py"]}))
    workers = "2" if kind == "NameError" else "1"  # with a fork server started early, too
    out = subprocess.run([*ABLATE, "run", str(folder / "study.yaml"), "--workers", workers], capture_output=True,
                         text=True, cwd=workdir)
    assert out.returncode == 2, out.stderr
    assert f"{folder / 'bad.py'}, line {line}" in out.stderr and kind in out.stderr and "plugins.0" in out.stderr
    assert "Traceback" not in out.stderr
    assert list(workdir.iterdir()) == []  # no store, no report, nothing
    assert sorted(p.name for p in folder.iterdir()) == ["bad.py", "study.yaml"]


def test_a_plugin_that_fails_registers_nothing(tmp_path, tiny_raw):
    tag = f"f{next(_ids)}_{os.getpid()}"
    bad = tmp_path / "half.py"
    bad.write_text(plugin_source(tag) + "\nraise RuntimeError('after registering')\n")
    with pytest.raises(StudyError, match="RuntimeError: after registering"):
        validate_study({**tiny_raw, "plugins": [str(bad)]})
    assert f"{tag}_mlp" not in MODELS and f"{tag}_shrink" not in REGULARIZERS
    bad.write_text(plugin_source(tag))  # fixed: loads now, with no "registered twice"
    validate_study(study_with(tag, plugins=[str(bad)]))


def test_plugin_code_defined_in_main_is_refused_for_worker_processes(plugged):
    tag, folder = plugged
    study = load_study(folder / "study.yaml")
    pool._refuse_main_code(study)  # a plugin's code: fine
    builder = MODELS.get(f"{tag}_mlp")
    before = builder.fn.__module__
    builder.fn.__module__ = "__main__"
    try:
        with pytest.raises(AblateError, match=rf"model '{tag}_mlp' is defined in the running script"):
            pool._refuse_main_code(study)
    finally:
        builder.fn.__module__ = before


def test_forkserver_workers_load_the_plugins_before_the_study(plugged, workdir):
    """2 local workers (fork server children, which start with no plugin imported) run every cell of a study
    whose model, dataset and regularizer all come from the plugin."""
    tag, folder = plugged
    study = load_study(folder / "study.yaml")
    summary = run_study(study, workers=2, quiet=True, report=False)
    assert summary.finished == summary.total == 4 and not summary.failed


def test_a_spawned_process_rebuilds_the_study_after_loading_its_plugins(plugged):
    tag, folder = plugged
    study = load_study(folder / "study.yaml")
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        again = ex.submit(pool._unship, pool._ship(study)).result(timeout=300)
    assert again == study and again.study_hash == study.study_hash


def test_ablate_worker_elsewhere_loads_the_study_files_plugins(plugged, workdir):
    """`ablate run --workers 0` coordinates; `ablate worker` (another machine, here a process) loads the
    study file's plugins from the file and runs the cells."""
    tag, folder = plugged
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
           "ABLATE_STORAGE": str(workdir / "optuna.journal")}
    coordinator = subprocess.Popen([*ABLATE, "run", str(folder / "study.yaml"), "--workers", "0", "--quiet",
                                    "--no-report"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    try:
        worker = subprocess.run([*ABLATE, "worker", str(folder / "study.yaml")], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=300)
        out, err = coordinator.communicate(timeout=300)
    finally:
        coordinator.kill()
    assert worker.returncode == 0, worker.stderr
    assert "worker ran 4 cell(s)" in worker.stdout
    assert coordinator.returncode == 0 and "4/4 cells finished" in out, err


def test_entry_points_register_too(tmp_path):
    """An installed package's `ablate.plugins` entry point loads in every process (here: a fake
    distribution on the path), and a broken one is an error naming it."""
    site = tmp_path / "site"
    dist = site / "demo_ablate_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-ablate-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ablate.plugins]\ndemo = demo_ablate_plugin\n")
    (site / "demo_ablate_plugin.py").write_text(plugin_source("ep"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run([*ABLATE, "list", "models"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "ep_mlp" in listed.stdout, listed.stderr
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study_with("ep", plugins=())))
    ok = subprocess.run([*ABLATE, "validate", str(tmp_path / "s.yaml")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    (site / "demo_ablate_plugin.py").write_text("import ablate\n\nablate.register_model(42)\n")
    bad = subprocess.run([*ABLATE, "list"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "entry point 'demo=demo_ablate_plugin'" in bad.stderr
    assert "demo_ablate_plugin.py, line 3" in bad.stderr and "Traceback" not in bad.stderr


def test_entry_points_load_once_per_process():
    load_entry_points()
    load_entry_points()  # nothing installed here registers twice


def test_a_plugin_string_that_is_neither_file_nor_module(tiny_raw):
    with pytest.raises(StudyError, match=r"plugins\.0: a plugin is a \.py file"):
        validate_study({**tiny_raw, "plugins": ["not a module!"]})
    with pytest.raises(StudyError, match=r"plugins"):
        validate_study({**tiny_raw, "plugins": "plugin.py"})  # a list, not a string


def test_plugins_listed_twice_load_once(plugged):
    tag, folder = plugged
    study = validate_study(study_with(tag, plugins=["plugin.py", "./plugin.py"]),
                           source=str(folder / "study.yaml"), plugins=[str(folder / "plugin.py")])
    assert len(study.plugins) == 1


def test_the_hash_does_not_depend_on_where_the_checkout_lives(plugged, tmp_path):
    tag, folder = plugged
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    for name in ("plugin.py", "study.yaml"):
        (elsewhere / name).write_bytes((folder / name).read_bytes())
    a = load_study(folder / "study.yaml")
    # the copy registers the same names from another file: a separate process, as on another machine
    code = f"from ablate.validate import load_study; print(load_study({str(elsewhere / 'study.yaml')!r}).study_hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == a.study_hash, out.stderr


def test_plugin_paths_are_checked_by_the_shape_too(tiny_raw):
    with pytest.raises(StudyError, match="plugins"):
        validate_study({**tiny_raw, "plugins": [""]})


def test_a_plugin_file_imports_a_helper_module_beside_it(tmp_path, tiny_raw):
    tag = f"h{next(_ids)}_{os.getpid()}"
    (tmp_path / f"{tag}_helper.py").write_text("HIDDEN = 5\n")
    (tmp_path / "p.py").write_text(plugin_source(tag).replace("hidden: int = 8", "hidden: int = HIDDEN")
                                   .replace("import ablate\n", f"import ablate\nfrom {tag}_helper import HIDDEN\n", 1))
    study = validate_study(study_with(tag, plugins=["p.py"]), source=str(tmp_path / "study.yaml"))
    assert study.model.hidden == 5
