"""Run ids in the report link to the MLflow UI when the tracking URI is a server (and never leak its password)."""

from __future__ import annotations

import dataclasses

from ablate.report.html import render_report
from ablate.report.results import load_results
from ablate.report.sections.cells import run_url


def test_run_url_for_servers_only():
    assert run_url("http://mlflow.lab:5000", "abc") == "http://mlflow.lab:5000/#/runs/abc"
    assert run_url("https://user:secret@host/mlflow/", "abc") == "https://host/mlflow/#/runs/abc"
    assert run_url("sqlite:////tmp/mlflow.db", "abc") == ""
    assert run_url("postgresql://u:p@db/mlflow", "abc") == ""
    assert run_url("http://host", "") == ""


def test_cells_failures_and_parent_link_to_their_runs(study_store, tmp_path):
    uri, _, ids = study_store
    local = load_results("synthetic", uri)
    served = dataclasses.replace(local, tracking_uri="http://ui.example:5000")
    page = render_report(served, tmp_path / "served").read_text()
    for key in ("parent", "baseline/seed0", "dropout/seed2"):  # dropout/seed2 is the failed cell
        assert f'<a href="http://ui.example:5000/#/runs/{ids[key]}">{ids[key]}</a>' in page
    plain = render_report(local, tmp_path / "local").read_text()
    assert "/#/runs/" not in plain and ids["baseline/seed0"] in plain
