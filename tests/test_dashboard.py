"""`ablate dashboard` (make dashboard): optuna-dashboard on 127.0.0.1 over a study's journal storage."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

from ablate.cli import main
from ablate.scheduler.storage import open_storage


def test_unknown_study_is_a_clear_error(workdir, capsys):
    open_storage("optuna.journal")
    assert main(["dashboard", "nosuch", "--port", "1"]) == 2
    assert "no study named 'nosuch' in the Optuna storage optuna.journal" in capsys.readouterr().err


def test_missing_optuna_dashboard_is_a_clear_error(workdir, capsys, monkeypatch):
    storage = open_storage("optuna.journal")
    optuna.create_study(study_name="demo", storage=storage)
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # what an install without the extra looks like
    assert main(["dashboard", "demo", "--port", "1"]) == 2
    assert "optuna-dashboard is not installed" in capsys.readouterr().err


def test_dashboard_serves_the_study_on_loopback(workdir):
    pytest.importorskip("optuna_dashboard")
    storage = open_storage("optuna.journal")
    for name in ("demo", "demo:tune"):
        optuna.create_study(study_name=name, storage=storage)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ablate.cli", "dashboard", "demo", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 60, None
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert {s["study_name"] for s in body["study_summaries"]} == {"demo", "demo:tune"}
    finally:
        proc.kill()  # the server's own process, started above
        proc.wait(timeout=30)
