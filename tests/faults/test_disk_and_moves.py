"""A full disk and a moved project (issue 14, findings 2, 7 and 10), with the real CLI and real stores.

The full disk is a small tmpfs, mounted here when the tests may mount (root in a container); elsewhere
those tests are skipped. A moved project is `mv project project2`: its MLflow store keeps absolute artifact
locations, which ablate carries along when it opens the store.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from faultkit import STUDY, finish, refused, run_ablate, start, wait_paused, write_study

from ablate.report.results import load_results

SMALL = {**STUDY, "name": "disk", "factors": {"dropout": {"p": 0.3}}, "train": {**STUDY["train"], "epochs": 1}}


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs of that size (skips the test where mounting is not allowed)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(folder: Path) -> None:
    """Fill the file system holding `folder` to the last byte (big writes, then single bytes)."""
    for name, chunk in (("filler", 65536), ("filler2", 1)):
        try:
            with open(folder / name, "wb") as f:
                while True:
                    f.write(b"\0" * chunk)
                    f.flush()
        except OSError:
            pass


def test_a_full_disk_while_the_store_is_made_leaves_nothing_half_made(tmpfs):
    """Before: ENOSPC during MLflow's migrations left a half-made mlflow.db every later run died on."""
    project = tmpfs("400k")
    write_study(project, SMALL)
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    refused(out, f"cannot create the MLflow store {project / 'mlflow.db'}", "the disk is full",
            "nothing was created")
    assert not (project / "mlflow.db").exists() and not list(project.glob(".mlflow.db.*"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(project)], check=True)
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--no-report")
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr


def test_a_full_disk_while_the_report_is_written_leaves_the_previous_report(tmp_path, tmpfs):
    """Before: a traceback, and a truncated index.html left in place."""
    project = tmp_path / "project"
    project.mkdir()
    write_study(project, SMALL)
    reports = tmpfs("8m")
    out = run_ablate(project, "run", "study.yaml", "--quiet", "--reports-dir", str(reports))
    assert out.returncode == 0, out.stderr
    folder = reports / "disk"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert before["index.html"].rstrip().endswith(b"</html>")
    _fill(reports)
    out = run_ablate(project, "report", "study.yaml", "--reports-dir", str(reports))
    refused(out, f"cannot write the report in {folder}", "the disk is full", "left as it was")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before, "the old report, whole, nothing else"


def test_a_moved_project_keeps_its_artifacts_and_says_when_they_are_missing(tmp_path):
    """Before: after `mv project project2` the report lost its weight figures ("no weights.json histograms
    were logged", as after `rm -rf mlartifacts`) and new artifacts went into the old folder."""
    project = tmp_path / "project"
    project.mkdir()
    write_study(project, SMALL)
    proc, flag = start(["run", "study.yaml", "--quiet", "--no-report"], project, pause="cell.run_created@2")
    wait_paused(proc, flag)  # one cell finished, the other's run made (its artifacts due in project/)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    moved = tmp_path / "project2"
    project.rename(moved)
    out = run_ablate(moved, "run", "study.yaml", "--quiet")
    assert out.returncode == 0 and "2/2 cells finished" in out.stdout, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert not project.exists(), "nothing is written into the old folder"
    results = load_results("disk", f"sqlite:///{moved / 'mlflow.db'}")
    assert len(results.weights) == 2 and results.artifacts_missing == ""
    assert (moved / "reports" / "disk" / "index.html").is_file()

    shutil.rmtree(moved / "mlartifacts")
    out = run_ablate(moved, "report", "study.yaml")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    results = load_results("disk", f"sqlite:///{moved / 'mlflow.db'}")
    assert results.weights == {}
    assert results.artifacts_missing.startswith(f"artifacts missing ({moved / 'mlartifacts'} not found")
    from ablate.report.figures.weights import weight_distribution

    texts = [t.get_text() for ax in weight_distribution(results).axes for t in ax.texts]
    assert any(t.startswith("artifacts missing (") for t in texts), texts
