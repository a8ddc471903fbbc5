"""Shared fixtures: tiny studies on embedded data, and a working directory of their own for stores."""

from __future__ import annotations

import collections
import copy
import os
from pathlib import Path

import pytest
import yaml
from layers import Guard, system_reason

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two test processes on a 2-core machine:
    # one torch thread each (and in what they start), else 2 x 2 threads spin-wait on 2 cores (5-16x slower)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

    import torch

    torch.set_num_threads(1)

# The empty MLflow store new stores are copied from (ablate/tracking/template.py) lives in a cache of the
# test session, not the user's ~/.cache; subprocesses inherit it
if not os.environ.get("ABLATE_CACHE_DIR"):
    import atexit
    import shutil
    import tempfile

    os.environ["ABLATE_CACHE_DIR"] = tempfile.mkdtemp(prefix="ablate-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ABLATE_CACHE_DIR"], True)

TINY = {
    "name": "tiny",
    "description": "a tiny study for tests",
    "model": {"name": "cnn", "width": 2},
    "data": {"name": "digits", "val_fraction": 0.2, "batch_size": 128},
    "train": {"epochs": 2, "optimizer": "adam", "lr": 0.01},
    "metric": {"name": "test_acc", "direction": "maximize"},
    "factors": {"dropout": {"p": 0.3}, "l2": {"lambda": 1.0e-3}},
    "always": {"grad_clip": {"max_norm": 1.0}},
    "design": "full_factorial",
    "seeds": 2,
}


@pytest.fixture
def tiny_raw():
    """A fresh deep copy of the tiny study as a dict, to be edited by a test."""
    return copy.deepcopy(TINY)


@pytest.fixture
def write_study(tmp_path):
    """Write a study dict (or raw text) to a YAML file and return its path."""

    def write(content, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty directory so default stores (mlflow.db, optuna.journal) land in tmp."""
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.chdir(d)
    for var in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    return d


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


# The longest files, scheduled first: `--dist loadfile` hands each process whole files in order, and one of
# these started last kept one process busy minutes after the other had finished. The rest follow by test
# count, as xdist orders them (Makefile: --no-loadscope-reorder).
LONG_FIRST = ("faults/test_stores.py", "faults/test_kill_resume.py", "faults/test_frozen_worker.py",
              "faults/test_many_machines.py", "faults/test_disk_and_moves.py", "test_plugins.py",
              "faults/test_quiet_server.py", "report/test_report_browser.py", "test_examples.py",
              "test_api.py", "test_gpu_check.py", "test_mlflow_ui.py")


def pytest_collection_modifyitems(session, config, items):
    """Mark the system layer (tests/layers.py says what it is), then order the files."""
    tests = Path(__file__).parent
    for item in items:
        why = system_reason(item)
        if why:
            item.add_marker(pytest.mark.system)
            item.user_properties.append(("system", why))
    count = collections.Counter(item.path for item in items)

    def rank(item) -> tuple[int, int]:
        try:
            rel = item.path.relative_to(tests).as_posix()
        except ValueError:
            rel = ""
        long = LONG_FIRST.index(rel) if rel in LONG_FIRST else len(LONG_FIRST)
        return long, -count[item.path]

    items.sort(key=rank)  # stable: a file's tests keep their order


def _guarded(item):
    """Run a fast-layer test's phase under the Guard: if it starts a process after all, it fails, naming
    what it started (tests/layers.py's rule missed how: add that way to PROCESS_APIS)."""
    if item.get_closest_marker("system"):
        return (yield)
    with Guard() as guard:
        result = yield
    if guard.started:
        pytest.fail(f"{item.nodeid} is in the fast layers but started {len(guard.started)} process(es): "
                    f"{guard.started[0]}; tests/layers.py's rule did not see how (add it to PROCESS_APIS)",
                    pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _guarded(item))
