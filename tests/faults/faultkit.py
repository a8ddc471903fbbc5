"""Helpers for the fault tests: run the real `ablate` CLI in a subprocess, stop it at a named pause point
(ablate/testpoints.py), and read back what the stores hold (real MLflow SQLite, real Optuna journal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from ablate.records import Tag, TrialAttr

STUDY = {  # 4 cells of 2 epochs on embedded digits with a width-2 CNN: a cell trains in well under a second
    "name": "faults",
    "model": {"name": "cnn", "width": 2},
    "data": {"name": "digits", "val_fraction": 0.2, "batch_size": 256},
    "train": {"epochs": 2, "optimizer": "adam", "lr": 0.01},
    "metric": {"name": "test_acc"},
    "factors": {"l2": {"lambda": 1.0e-3}, "dropout": {"p": 0.3}},
    "design": "full_factorial",
    "seeds": 1,
}
CELLS = {"baseline/seed0", "l2/seed0", "dropout/seed0", "dropout+l2/seed0"}


def ablate_cmd() -> list[str]:
    script = Path(sys.executable).with_name("ablate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ablate.cli"]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE") and not k.startswith("ABLATE_TEST_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GIT_PYTHON_REFRESH="quiet", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def write_study(directory: Path, study: dict | None = None, name: str = "study.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(study or STUDY, sort_keys=False))
    return path


def _sigint_default() -> None:
    """As a terminal starts a command: SIGINT at its default. A test run started in the background of a
    non-interactive shell (`make test &`) inherits SIGINT ignored, and the Ctrl-C test would wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_zygote: list = []  # this test process's zygote.Zygote, started on first use


def _launcher():
    """The zygote (zygote.py) where it starts, else None: each command is then a fresh interpreter."""
    if os.environ.get("ABLATE_TEST_NO_ZYGOTE") == "1" or sys.platform != "linux":
        return None
    if not _zygote:
        from zygote import Zygote

        _zygote.append(Zygote(child_env()))
    return _zygote[0]


def start(args: list[str], cwd: Path, pause: str | None = None, hold: float | None = None,
          **env: str) -> tuple[subprocess.Popen, Path | None]:
    """Start `ablate ARGS` in cwd, in its own session; with `pause`, it stops at that point and writes its pid
    to the returned file. Forked from the zygote (zygote.py), which has torch, MLflow and Optuna imported."""
    flag = None
    if pause:
        flag = cwd / f"paused.{pause.replace('@', '_')}.{time.monotonic_ns()}"
        env.update(ABLATE_TEST_PAUSE=pause, ABLATE_TEST_PAUSE_FILE=str(flag))
        if hold is not None:
            env["ABLATE_TEST_PAUSE_HOLD"] = str(hold)
    if (zygote := _launcher()) is not None:
        return zygote.launch(args, cwd, child_env(**env)), flag
    proc = subprocess.Popen([*ablate_cmd(), *args], cwd=cwd, env=child_env(**env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_sigint_default)
    return proc, flag


def run_ablate(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real `ablate ARGS` in cwd to its end (its stderr holds whatever MLflow logs, tracebacks included),
    as subprocess.run(..., capture_output=True, text=True) gives it."""
    rc, out, err = finish(start(list(args), cwd)[0], timeout)
    return subprocess.CompletedProcess([*ablate_cmd(), *args], rc, out, err)


def wait_paused(proc: subprocess.Popen, flag: Path, timeout: float = 180.0) -> int:
    """Block until the process reached its pause point; returns the pid that paused (maybe a worker's)."""
    deadline = time.monotonic() + timeout
    while not flag.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before reaching {flag.name}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"did not reach {flag.name} in {timeout} s")
        time.sleep(0.01)
    return int(flag.read_text())


def finish(proc: subprocess.Popen, timeout: float = 240.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"did not finish in {timeout} s:\n{out}\n{err}") from None
    return proc.returncode, out, err


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    """A worker process must end by itself (its parent was killed): poll until it is gone or a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} outlived its killed parent by {timeout} s")


@dataclass
class Snapshot:
    """What the stores hold now, per cell."""

    trials: list  # optuna FrozenTrials with a cell id
    runs: list  # MLflow child runs
    parent_status: str | None

    def complete(self) -> Counter:
        return Counter(t.user_attrs[TrialAttr.CELL] for t in self.trials if t.state.name == "COMPLETE")

    def finished(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.runs:
            if r.info.status == "FINISHED":
                out.setdefault(r.data.tags[Tag.CELL_ID], []).append(r.info.run_id)
        return out

    def by_status(self, status: str) -> list:
        return [r for r in self.runs if r.info.status == status]


def snapshot(cwd: Path, study_name: str = "faults", tracking_uri: str | None = None,
             storage: str | None = None) -> Snapshot:
    import optuna
    from mlflow.tracking import MlflowClient

    from ablate.scheduler.storage import open_storage

    client = MlflowClient(tracking_uri or f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name(study_name)
    runs, parent_status = [], None
    if exp is not None:
        every = client.search_runs([exp.experiment_id], max_results=10_000)
        runs = [r for r in every if r.data.tags.get(Tag.ROLE) == "cell"]
        parents = [r for r in every if r.data.tags.get(Tag.ROLE) == "parent"]
        assert len(parents) <= 1, f"{len(parents)} parent runs"
        parent_status = parents[0].info.status if parents else None
    try:
        ostudy = optuna.load_study(study_name=study_name,
                                   storage=open_storage(storage or str(cwd / "optuna.journal")))
        trials = [t for t in ostudy.get_trials(deepcopy=False) if TrialAttr.CELL in t.user_attrs]
    except KeyError:
        trials = []
    return Snapshot(trials, runs, parent_status)


class Ledger:
    """What finished so far; every later look at the stores must show the same trial and run for it."""

    def __init__(self) -> None:
        self.trials: dict[str, int] = {}
        self.runs: dict[str, str] = {}

    def check(self, snap: Snapshot) -> None:
        """No cell has two COMPLETE trials or two FINISHED runs; no finished cell was trained again."""
        doubled = {c: n for c, n in snap.complete().items() if n > 1}
        assert not doubled, f"cells with more than one COMPLETE trial: {doubled}"
        twice = {c: ids for c, ids in snap.finished().items() if len(ids) > 1}
        assert not twice, f"cells with more than one FINISHED run: {twice}"
        trials = {t.user_attrs[TrialAttr.CELL]: t.number for t in snap.trials if t.state.name == "COMPLETE"}
        runs = {c: ids[0] for c, ids in snap.finished().items()}
        for old, new, what in ((self.trials, trials, "trial"), (self.runs, runs, "run")):
            for cell, ident in old.items():
                assert new.get(cell) == ident, f"cell {cell} finished as {what} {ident}, now {new.get(cell)}"
        self.trials, self.runs = trials, runs


def refused(out: subprocess.CompletedProcess, *words: str) -> None:
    """A user's fault, said once: exit 2, no traceback, and every word of the message present."""
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    for w in words:
        assert w in out.stderr, (w, out.stderr)


def start_mlflow_server(backend: str, cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """A real `mlflow server` over `backend` on a free local port, in its own session, answering /health;
    fails the test with the tail of its log when it exits or is not up within 180 s."""
    import socket
    import urllib.request

    import pytest

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
                                 "--artifacts-destination", str(cwd / "artifacts"), "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1"], env=child_env(), cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
