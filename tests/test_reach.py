"""Stores are checked before any is made: an unreachable tracking server or database ends in seconds with one
message naming it (password masked), a slow one is announced after 2 s, an unwritable local store is refused
at once; exit 2, no traceback, nothing written (no optuna.journal, no mlflow.db)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from ablate.cli import main
from ablate.errors import AblateError
from ablate.reach import check_store

STUDY = """name: reach
model: {name: cnn, width: 2}
data: {name: digits}
train: {epochs: 1}
factors: {dropout: {p: 0.1}}
seeds: 1
"""


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE", "ABLATE_CONNECT_TIMEOUT_S"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "s.yaml").write_text(STUDY)
    return tmp_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _refused(argv: list[str], capsys, cwd, seconds: float) -> str:
    before = set(os.listdir(cwd))
    t0 = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - t0 < seconds
    assert set(os.listdir(cwd)) == before, "a refused run wrote files"
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_an_unreachable_tracking_server_is_refused_in_seconds(cwd, capsys):
    uri = f"http://127.0.0.1:{_free_port()}"
    err = _refused(["run", "s.yaml", "--quiet", "--tracking-uri", uri], capsys, cwd, 30)  # torch's import too
    assert f"the MLflow tracking store at {uri} is not reachable" in err and "ABLATE_CONNECT_TIMEOUT_S" in err


def test_a_silent_server_is_announced_after_two_seconds_then_refused(cwd, capsys, monkeypatch):
    monkeypatch.setenv("ABLATE_CONNECT_TIMEOUT_S", "3")
    with socket.socket() as server:  # accepts connections (the kernel's backlog) and never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        uri = f"http://user:s3cret@127.0.0.1:{server.getsockname()[1]}"
        err = _refused(["run", "s.yaml", "--quiet", "--tracking-uri", uri], capsys, cwd, 8)
    masked = uri.replace("s3cret", "***")
    assert f"waiting for the MLflow tracking store at {masked} (up to 3 s)" in err
    assert "not reachable" in err and "waited up to 3 s" in err and "s3cret" not in err


def test_an_unreachable_database_is_named_with_its_password_masked(cwd, capsys, monkeypatch):
    monkeypatch.setenv("ABLATE_CONNECT_TIMEOUT_S", "2")
    url = f"postgresql://ablate:s3cret@127.0.0.1:{_free_port()}/studies"
    err = _refused(["run", "s.yaml", "--quiet", "--storage", url], capsys, cwd, 8)
    assert "the Optuna storage at postgresql://ablate:***@127.0.0.1" in err and "s3cret" not in err


def test_a_sqlite_store_under_a_file_is_refused_at_once(cwd, capsys):
    (cwd / "afile").write_text("x")
    err = _refused(["run", "s.yaml", "--quiet", "--tracking-uri", f"sqlite:///{cwd}/afile/mlflow.db"],
                   capsys, cwd, 5)
    assert "afile" in err and "is a file, not a folder" in err and "--tracking-uri" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_refused(tmp_path):
    d = tmp_path / "ro"
    d.mkdir(mode=0o500)
    with pytest.raises(AblateError, match="not writable"):
        check_store(f"sqlite:///{d}/mlflow.db", "the MLflow tracking store", "--tracking-uri")


def test_a_writable_local_store_and_a_live_server_pass(tmp_path):
    check_store(f"sqlite:///{tmp_path}/new/mlflow.db", "the MLflow tracking store", "--tracking-uri")
    check_store(str(tmp_path / "optuna.journal"), "the Optuna storage", "--storage")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        check_store(f"postgresql://u@127.0.0.1:{server.getsockname()[1]}/db", "the Optuna storage", "--storage")
