"""`ablate launch slurm|k8s`, in-process: the files' content, the k8s manifest against the Kubernetes API's
own models (strict: an unknown field fails), and every refusal (exit 2, nothing written)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from ablate.cli import main

ROOT = Path(__file__).resolve().parents[2]
STORES = ["--storage", "postgresql://u:s3cret@db/ablate", "--tracking-uri", "http://mlflow:5000"]


PLUGIN = '''"""A plugin model of this test's own (a plugin file is loaded once per process, by its path)."""
from torch import nn

import ablate


@ablate.register_model(name="launch_test_mlp", data_kinds={"image"})
def launch_test_mlp(spec, hidden: int = 8):
    """A two-layer perceptron."""
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, spec.num_classes))
'''


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A study with a plugin file, written once for the module."""
    where = tmp_path_factory.mktemp("launch")
    project = where / "examples" / "own_model"
    project.mkdir(parents=True)
    (project / "plugin.py").write_text(PLUGIN)
    (project / "study.yaml").write_text(yaml.safe_dump({
        "name": "launch_test", "plugins": ["plugin.py"], "model": {"name": "launch_test_mlp"},
        "data": {"name": "digits"}, "train": {"epochs": 1}, "factors": {"l2": {"lambda": 1.0e-4}}, "seeds": 2}))
    return where


@pytest.fixture
def study(checkout, monkeypatch):
    """The study, run from its checkout; the files a launch writes are removed after each test."""
    monkeypatch.chdir(checkout)
    for var in ("ABLATE_STORAGE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    yield "examples/own_model/study.yaml"
    for written in Path("examples/own_model").glob("study.*.*"):
        written.unlink()


def test_slurm_dry_run_writes_one_array_script_and_submits_nothing(study, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no sbatch: a dry run needs none
    code = main(["launch", "slurm", study, "--workers", "4", "--gpus-per-worker", "1", "--cpus-per-worker", "6",
                 "--time", "4:00:00", "--partition", "gpu", "--sbatch", "--account=lab\n#SBATCH --qos=low",
                 *STORES, "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    text = Path("examples/own_model/study.slurm.sh").read_text()
    directives = [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("#SBATCH ")]
    for d in ("--array=0-3", "--signal=B:USR1@120", "--requeue", "--time=4:00:00", "--partition=gpu",
              "--cpus-per-task=6", "--gres=gpu:1", "--account=lab", "--qos=low"):
        assert d in directives
    assert text.count("ablate.cli worker ") == 1 and "--threads 6" in text and "--wait-seconds 600" in text
    assert str(Path(study).resolve()) in text  # the worker finds the study from the compute node's cwd
    assert "trap on_usr1 USR1" in text and 'kill -TERM "$worker"' in text and "scontrol requeue" in text
    assert "postgresql://u:s3cret@db/ablate" in text  # the script carries the URL; the terminal does not
    assert "s3cret" not in out and "u:***@db" in out
    assert "dry run: nothing submitted" in out and "ablate status" in out and "--workers 0" in out
    assert Path("examples/own_model/study.slurm.sh").stat().st_mode & 0o077 == 0


def test_slurm_without_sbatch_is_refused_and_writes_nothing(study, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["launch", "slurm", study, "--workers", "2", *STORES]) == 2
    err = capsys.readouterr().err
    assert "`sbatch` is not on PATH" in err and "--dry-run" in err
    assert not Path("examples/own_model/study.slurm.sh").exists()


@pytest.mark.parametrize("engine", ["slurm", "k8s"])
@pytest.mark.parametrize("storage, tracking, wanted", [
    (None, "http://mlflow:5000", "--storage postgresql://"),
    ("optuna.journal", "http://mlflow:5000", "--storage postgresql://"),
    ("journal:///shared/optuna.journal", "http://mlflow:5000", "--storage postgresql://"),
    ("sqlite:///optuna.db", "http://mlflow:5000", "--storage postgresql://"),
    ("postgresql://u:s3cret@db/a", None, "--tracking-uri http://"),
    ("postgresql://u:s3cret@db/a", "sqlite:///mlflow.db", "--tracking-uri http://"),
    ("postgresql://u:s3cret@db/a", "mlruns", "--tracking-uri http://"),
    ("postgresql://u:s3cret@db/a", "file:///tmp/mlruns", "--tracking-uri http://"),
])
def test_local_stores_are_refused_with_the_flag_to_fix_it(study, capsys, engine, storage, tracking, wanted):
    argv = ["launch", engine, study, "--workers", "2", "--dry-run" if engine == "slurm" else "--image=x"]
    argv += (["--storage", storage] if storage else []) + (["--tracking-uri", tracking] if tracking else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert wanted in err and "this machine" in err and "s3cret" not in err
    assert not list(Path("examples/own_model").glob("study.*.*"))


def test_bad_worker_counts_and_a_missing_image_are_refused(study, capsys):
    assert main(["launch", "slurm", study, "--workers", "0", *STORES, "--dry-run"]) == 2
    assert main(["launch", "k8s", study, "--workers", "2", *STORES]) == 2
    assert "--image" in capsys.readouterr().err
    assert not list(Path("examples/own_model").glob("study.*.*"))


def test_k8s_apply_without_kubectl_is_refused(study, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["launch", "k8s", study, "--workers", "2", "--image", "x:1", *STORES, "--apply"]) == 2
    assert "`kubectl` is not on PATH" in capsys.readouterr().err
    assert not Path("examples/own_model/study.k8s.yaml").exists()


def _docs(study, capsys, *extra):
    assert main(["launch", "k8s", study, "--workers", "5", "--image", "reg.example/ablate:0.1",
                 "--gpus-per-worker", "1", "--cpus-per-worker", "4", *STORES, *extra]) == 0
    assert "s3cret" not in capsys.readouterr().out
    return list(yaml.safe_load_all(Path("examples/own_model/study.k8s.yaml").read_text()))


def test_k8s_manifest_is_a_valid_indexed_job_with_secret_and_configmap(study, capsys):
    from k8s_schema import check

    secret, config, job = _docs(study, capsys)
    for doc in (secret, config, job):
        check(doc)  # raises on an unknown field, a wrong type, a missing required one
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 5, 5)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] >= 60
    (container,) = pod["containers"]
    assert container["command"][:3] == ["ablate", "worker", "/config/study.yaml"]
    assert "$(ABLATE_STORAGE)" in container["command"] and "s3cret" not in yaml.safe_dump(job)
    assert secret["stringData"]["storage"] == "postgresql://u:s3cret@db/ablate"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert set(config["data"]) == {"study.yaml", "plugin.py"}  # the plugin rides along, mounted beside it
    assert config["data"]["plugin.py"] == PLUGIN
    assert pod["volumes"][0]["configMap"]["name"] == config["metadata"]["name"]


def test_k8s_schema_check_catches_a_wrong_field():
    from k8s_schema import SchemaError, check

    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "w", "image": "i", "comand": ["a"]}]}}}}
    with pytest.raises(SchemaError, match="comand"):
        check(job)
    job["spec"]["template"]["spec"]["containers"][0] = {"name": "w", "image": "i", "command": "not a list"}
    with pytest.raises(SchemaError, match="command"):
        check(job)


def _slurm_reason() -> str | None:
    """Why no Slurm controller can judge a script here (None: one answers). sbatch alone is not enough: CI
    installs it, and a cluster that failed to start must skip this test, not fail it."""
    import subprocess

    if shutil.which("sbatch") is None:
        return "sbatch is not installed on this machine (Debian: apt-get install slurm-wlm munge)"
    if not os.environ.get("SLURM_CONF") and not Path("/etc/slurm/slurm.conf").exists():
        return ('no Slurm cluster configured (no $SLURM_CONF, no /etc/slurm/slurm.conf); start one: '
                'eval "$(tests/faults/slurm_start.sh)"; .ci/run does')
    try:
        up = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"the Slurm controller did not answer sinfo: {e}"
    return None if up.returncode == 0 else f"the Slurm controller did not answer sinfo: {up.stderr.strip()}"


def test_sbatch_test_only_accepts_the_script(study, capsys):  # pragma: no cover - needs Slurm
    """The real sbatch (with the cluster CI starts: tests/faults/slurm_start.sh) parses every directive."""
    import subprocess

    if (why := _slurm_reason()) is not None:
        pytest.skip(why)
    assert main(["launch", "slurm", study, "--workers", "2", *STORES, "--dry-run"]) == 0
    done = subprocess.run(["sbatch", "--test-only", "examples/own_model/study.slurm.sh"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "to start at" in done.stderr, done.stderr  # sbatch --test-only says when the job would start
