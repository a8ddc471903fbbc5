"""`--quiet` on a tracking server (issue 14, finding 11): MLflow prints "🏃 View run ... at: http://..." for
every run it ends on an http tracking URI, in the parent and in every worker; `--quiet` must leave those out.
A real `mlflow server` (SQLite backend) on a free local port."""

from __future__ import annotations

import os
import signal

import pytest
from faultkit import STUDY, run_ablate, start_mlflow_server, write_study


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for both tests (each its own study): it takes ~20 s to start here."""
    where = tmp_path_factory.mktemp("server")
    proc, url = start_mlflow_server(f"sqlite:///{where / 'server.db'}", where, where / "server.log")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)  # the server and the uvicorn process it started
    proc.wait(timeout=30)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_quiet_leaves_out_mlflows_view_run_lines(tmp_path, server, workers):
    project = tmp_path / "project"
    project.mkdir()
    write_study(project, {**STUDY, "name": f"quiet{workers}", "factors": {"dropout": {"p": 0.3}},
                          "train": {**STUDY["train"], "epochs": 1}})
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report", "--workers", workers,
                     "--tracking-uri", server)
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    assert "View run" not in out.stdout + out.stderr and "View experiment" not in out.stdout + out.stderr, \
        out.stdout + out.stderr
