"""What an MLflow user finds in the store (issue 13): a training experiment, descriptions, datasets, the
resolved config, a checkpoint that reproduces the run's test accuracy, per-arm parent metrics, no "None"
strings, opt-in system metrics; and `ablate ui` opening a study on its runs table in a real Chromium."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from ablate.artifacts import rebuild
from ablate.cache import WorkerCache
from ablate.cli import main
from ablate.records import (
    CHECKPOINT_MODEL,
    CHECKPOINT_STATE,
    CONFIG_ARTIFACT,
    TRAINING_EXPERIMENT,
    Tag,
    summary_metric,
)
from ablate.tracking import resolve_uri
from ablate.tracking.ui import SCRIPT, runs_url
from ablate.validate import load_study

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _runs(client, name):
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get(Tag.ROLE) == "parent")
    return exp, parent, [r for r in runs if r.data.tags.get(Tag.ROLE) == "cell"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The tiny study run once through the CLI: 2 arms (dropout on/off) x 2 seeds, 3 epochs, early stopping
    that restores its best epoch in `always`, a checkpoint of the tested weights (the default)."""
    import yaml

    root = tmp_path_factory.mktemp("mlflow_ui")
    raw = {"name": "tiny", "description": "a tiny study for tests", "model": {"name": "cnn", "width": 2},
           "data": {"name": "digits", "val_fraction": 0.2, "batch_size": 128},
           "train": {"epochs": 2, "optimizer": "adam", "lr": 0.01}, "factors": {"dropout": {"p": 0.3}},
           "always": {"grad_clip": {"max_norm": 1.0}, "early_stopping": {"patience": 1, "min_delta": 0.0}},
           "design": "full_factorial", "seeds": 2}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    uri = resolve_uri(f"sqlite:///{root / 'mlflow.db'}")
    cwd = os.getcwd()
    os.chdir(root)  # artifacts land in root/mlartifacts
    try:
        assert main(["run", str(path), "train.epochs=3", "--quiet", "--no-report", "--tracking-uri", uri,
                     "--storage", str(root / "optuna.journal")]) == 0
    finally:
        os.chdir(cwd)
    return uri, path, MlflowClient(uri)


def test_the_experiment_is_a_training_experiment_with_descriptions(store):
    uri, path, client = store
    exp, parent, cells = _runs(client, "tiny")
    assert exp.tags[Tag.EXPERIMENT_KIND] == TRAINING_EXPERIMENT
    assert exp.tags[Tag.NOTE] == "a tiny study for tests"
    assert parent.data.tags[Tag.NOTE] == "a tiny study for tests"
    assert parent.data.tags[Tag.OVERRIDES] == "train.epochs=3" and parent.data.params["overrides"] == "train.epochs=3"
    notes = {r.info.run_name: r.data.tags[Tag.NOTE] for r in cells}
    assert notes["dropout/seed1"] == "dropout / seed 1: dropout on; a tiny study for tests"
    assert notes["baseline/seed0"] == "baseline / seed 0: no factor on; a tiny study for tests"


def test_each_cell_logs_its_dataset_as_an_mlflow_input(store):
    uri, path, client = store
    _, _, cells = _runs(client, "tiny")
    digests = set()
    for run in cells:
        (inp,) = run.inputs.dataset_inputs
        ds = inp.dataset
        assert ds.name == "digits" and ds.source_type == "code" and len(ds.digest) == 16
        assert {t.key: t.value for t in inp.tags} == {"mlflow.data.context": "training"}
        profile = json.loads(ds.profile)
        assert profile["train_size"] + profile["val_size"] + profile["test_size"] == 1797
        assert profile["num_classes"] == 10 and profile["input_shape"] == [1, 8, 8]
        digests.add(ds.digest)
    assert len(digests) == 1  # every cell saw the same tensors


def test_config_json_on_every_child_is_the_resolved_cell(store, tmp_path):
    uri, path, client = store
    _, _, cells = _runs(client, "tiny")
    for run in cells:
        config = json.loads(Path(client.download_artifacts(run.info.run_id, CONFIG_ARTIFACT, str(tmp_path)))
                            .read_text())
        assert config["cell_id"] == run.info.run_name and config["train"]["epochs"] == 3
        assert set(config["regularizers"]) == {"grad_clip", "early_stopping"} | (
            {"dropout"} if config["factors"]["dropout"] else set())


def test_no_param_or_tag_is_the_string_none(store):
    uri, path, client = store
    _, parent, cells = _runs(client, "tiny")
    for run in [parent, *cells]:
        assert "None" not in run.data.params.values(), run.info.run_name
        assert "None" not in run.data.tags.values(), run.info.run_name
    assert "train.channels_last" not in cells[0].data.params  # unset (None): left out, not "None"


def test_parent_carries_per_arm_summary_metrics(store):
    uri, path, client = store
    _, parent, cells = _runs(client, "tiny")
    by = {(r.data.tags[Tag.ARM], int(r.data.tags[Tag.SEED])): r.data.metrics["test_acc"] for r in cells}
    m = parent.data.metrics
    for arm in ("baseline", "dropout"):
        assert m[summary_metric("test_acc", "mean", arm)] == pytest.approx((by[arm, 0] + by[arm, 1]) / 2)
    diff = ((by["dropout", 0] - by["baseline", 0]) + (by["dropout", 1] - by["baseline", 1])) / 2
    assert m["test_acc_diff_vs_baseline/dropout"] == pytest.approx(diff)
    assert summary_metric("test_acc", "diff_vs_baseline", "baseline") not in m
    assert summary_metric("test_acc", "mean", "dropout=0.25+l2") == "test_acc_mean/dropout:0.25 l2"


def _test_accuracy(model, study) -> float:
    from ablate.train import Batches

    cache = WorkerCache()
    data = cache.dataset(study.data)
    batches = Batches(data, torch.device("cpu"), False, cache)
    with torch.inference_mode():
        logits = model(batches.prepare(batches.x["test"]))
    return float((logits.argmax(1) == batches.y["test"]).float().mean())


def test_checkpoint_loads_back_and_gives_the_runs_test_accuracy(store, tmp_path):
    uri, path, client = store
    _, _, cells = _runs(client, "tiny")
    study = load_study(path, ("train.epochs=3",))
    for run in cells:
        rid = run.info.run_id
        state = client.download_artifacts(rid, CHECKPOINT_STATE, str(tmp_path / rid))
        meta = json.loads(Path(client.download_artifacts(rid, CHECKPOINT_MODEL, str(tmp_path / rid))).read_text())
        assert meta["format"] == "state_dict" and meta["weights"] == "best"  # early stopping restored it
        assert run.data.tags[Tag.CHECKPOINT] == f"best, epoch {meta['epoch']}"
        assert set(torch.load(state, weights_only=True)) == set(rebuild(meta, state).state_dict())
        model = rebuild(meta, state)
        assert _test_accuracy(model, study) == pytest.approx(run.data.metrics["test_acc"], abs=1e-6)


@pytest.mark.parametrize("mode", ["last", "best", "none"])
def test_checkpoint_choice(tiny_raw, write_study, workdir, mode, tmp_path):
    """last: the last epoch's weights, even where early stopping restores another; best without a restoring
    early stopping: the lowest-val_loss epoch's; none: no checkpoint."""
    tiny_raw["factors"] = {"l2": {"lambda": 1e-3}}
    tiny_raw["always"] = {"early_stopping": {"patience": 5, "restore_best": mode != "best"}}
    path = write_study(tiny_raw)
    assert main(["run", str(path), f"train.checkpoint={mode}", "train.epochs=3", "seeds=1", "--quiet",
                 "--no-report"]) == 0
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    _, _, cells = _runs(client, "tiny")
    for run in cells:
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        if mode == "none":
            assert "checkpoint" not in files and Tag.CHECKPOINT not in run.data.tags
            continue
        meta = json.loads(Path(client.download_artifacts(run.info.run_id, CHECKPOINT_MODEL, str(tmp_path)))
                          .read_text())
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert meta["weights"] == mode
        if mode == "last":
            assert meta["epoch"] == max(m.step for m in history)
        else:
            assert meta["epoch"] == min(history, key=lambda m: m.value).step
        rebuild(meta, client.download_artifacts(run.info.run_id, CHECKPOINT_STATE, str(tmp_path)))


def test_checkpoint_is_not_part_of_the_studys_identity(tiny_raw):
    from ablate.validate import validate_study

    plain = validate_study(tiny_raw)
    tiny_raw["train"] = {**tiny_raw["train"], "checkpoint": "none"}
    assert validate_study(tiny_raw).study_hash == plain.study_hash  # what is kept, not how it trains


def test_system_metrics_are_opt_in(tiny_raw, write_study, workdir, monkeypatch):
    pytest.importorskip("psutil", reason="system metrics need psutil (the dev extra has it)")
    # MLflow logs its first sample one interval after a run starts: a cell must outlast a few of them
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", raising=False)
    tiny_raw["factors"] = {"l2": {"lambda": 1e-3}}
    path = write_study(tiny_raw)
    assert main(["run", str(path), "seeds=1", "--quiet", "--no-report"]) == 0
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    _, _, cells = _runs(client, "tiny")
    assert not any(k.startswith("system/") for r in cells for k in r.data.metrics)
    tiny_raw["name"] = "tiny_sys"
    path = write_study(tiny_raw, "sys.yaml")
    assert main(["run", str(path), "seeds=1", "train.epochs=12", "--quiet", "--no-report", "--system-metrics"]) == 0
    _, _, cells = _runs(client, "tiny_sys")
    for run in cells:
        assert "system/cpu_utilization_percentage" in run.data.metrics, sorted(run.data.metrics)


# ---------------------------------------------------------------------------------------------- the UI
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ablate_ui(store, tmp_path):
    """`ablate ui` over the tiny study's store on a free loopback port; stopped (its process group) after."""
    uri, _, _ = store
    port = _free_port()
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "ablate.cli", "ui", "--tracking-uri", uri, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ablate ui did not start on {base}: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
        yield base, Path(log.name)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: the server's shutdown is not under test
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium)")
def test_ablate_ui_opens_the_study_on_its_runs_table(store, ablate_ui):
    """A fresh browser (no stored choice) opening the experiment lands on the runs table with the parent
    run, not on MLflow's GenAI usage page; the printed link goes there too."""
    sync_api = pytest.importorskip("playwright.sync_api")
    uri, _, client = store
    base, log = ablate_ui
    exp, parent, _ = _runs(client, "tiny")
    index = urllib.request.urlopen(f"{base}/", timeout=10).read().decode()
    assert SCRIPT in index
    assert runs_url(base, exp.experiment_id) in log.read_text()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for start in (f"{base}/#/experiments/{exp.experiment_id}", f"{base}/"):  # the bare address too
            page.goto(start)
            page.locator(f"a[href$='/runs/{parent.info.run_id}']").first.wait_for(timeout=120_000)
            assert f"/experiments/{exp.experiment_id}/runs" in page.url.split("#", 1)[1]
            assert page.get_by_text("Run Name", exact=True).first.is_visible()
            assert page.get_by_text("No data available for the selected time range").count() == 0
        browser.close()
