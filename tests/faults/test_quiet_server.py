"""`--quiet` on a tracking server (issue 14, finding 11): MLflow prints "🏃 View run ... at: http://..." for
every run it ends on an http tracking URI, in the parent and in every worker; `--quiet` must leave those out.
A real `mlflow server` (SQLite backend) on a free local port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from faultkit import STUDY, ablate_cmd, child_env, write_study

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                             f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination",
                             str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], env=child_env(), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=log, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_quiet_leaves_out_mlflows_view_run_lines(tmp_path, server, workers):
    project = tmp_path / "project"
    project.mkdir()
    write_study(project, {**STUDY, "name": f"quiet{workers}", "factors": {"dropout": {"p": 0.3}},
                          "train": {**STUDY["train"], "epochs": 1}})
    out = subprocess.run([*ablate_cmd(), "run", "study.yaml", "--quiet", "--no-report", "--workers", workers,
                          "--tracking-uri", server], cwd=project, env=child_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    assert "View run" not in out.stdout + out.stderr and "View experiment" not in out.stdout + out.stderr, \
        out.stdout + out.stderr
