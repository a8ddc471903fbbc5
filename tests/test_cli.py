"""The command line (issue 13): --version, a bare `ablate`, overrides on run/validate/worker, and progress
that a log file can use (one flushed line per finished cell when stderr is not a terminal)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ablate.cli import main
from ablate.records import Tag
from ablate.tracking import resolve_uri

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "studies" / "quickstart.yaml"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert re.fullmatch(r"ablate \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_bare_ablate_prints_help_and_succeeds(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ablate") and "run" in out and "status" in out and "compare" in out


def test_run_with_overrides_runs_the_effective_study(tiny_raw, write_study, workdir, capsys):
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--quiet", "train.epochs=1", "--no-report", "seeds=1"]) == 0
    assert "4/4 cells finished" in capsys.readouterr().out  # one cell per arm
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id])
    cells = [r for r in runs if r.data.tags.get(Tag.ROLE) == "cell"]
    assert len(cells) == 4 and {r.data.tags[Tag.SEED] for r in cells} == {"0"}
    assert all(r.data.params["train.epochs"] == "1" for r in cells)
    assert all([m.step for m in client.get_metric_history(r.info.run_id, "val_acc")] == [1] for r in cells)
    parent = next(r for r in runs if r.data.tags.get(Tag.ROLE) == "parent")
    assert parent.data.tags[Tag.OVERRIDES] == "train.epochs=1 seeds=1"

    # a worker must join with the same effective study: without the overrides it is refused as changed
    assert main(["worker", str(path), "--wait-seconds", "1"]) == 2
    assert "differs from the study whose cells are recorded" in capsys.readouterr().err
    assert main(["worker", str(path), "train.epochs=1", "seeds=1", "--wait-seconds", "1"]) == 0
    assert "worker ran 0 cell(s)" in capsys.readouterr().out


def test_a_bad_override_exits_2_naming_the_field_and_touches_no_store(workdir, capsys):
    assert main(["run", str(QUICKSTART), "train.epochs=-1", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "train.epochs: Input should be greater than or equal to 1 (given: -1)" in err
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna.journal").exists()
    assert main(["run", str(QUICKSTART), "trian.epochs=2"]) == 2
    assert "did you mean 'train'" in capsys.readouterr().err


def test_the_quickstart_takes_the_issue_s_overrides(capsys):
    assert main(["validate", str(QUICKSTART), "train.epochs=2", "seeds=1"]) == 0
    assert "8 arms x 1 seeds = 8 cells" in capsys.readouterr().out


def test_unknown_arguments_are_still_errors(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", str(QUICKSTART), "--no-such-flag"])
    assert e.value.code == 2


def test_makefile_passes_args_to_the_study(tmp_path):
    out = subprocess.run(["make", "-n", "-C", str(ROOT), "study", "name=quickstart", "args=train.epochs=2 seeds=1"],
                         capture_output=True, text=True, check=True).stdout
    assert re.search(r"ablate run studies/quickstart\.yaml --workers \d+\s+train\.epochs=2 seeds=1", out)


def test_a_pipe_gets_one_line_per_finished_cell(tiny_raw, write_study, workdir):
    """`ablate run ... | cat`: stderr is a pipe, so no live bar; each cell prints a line as it finishes."""
    tiny_raw["train"]["epochs"] = 1
    path = write_study(tiny_raw)
    proc = subprocess.run([sys.executable, "-m", "ablate.cli", "run", str(path), "seeds=1", "--no-report"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("cell ")]
    assert len(lines) == 4, proc.stderr
    pattern = r"cell (\d)/4 done (\S+/seed0) test_acc=\d\.\d{4} \d+\.\d+s elapsed \d+:\d\d( ETA \d+:\d\d)?"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert [re.fullmatch(pattern, line).group(1) for line in lines] == ["1", "2", "3", "4"]
    assert "ETA" in lines[0] and "ETA" not in lines[-1]
    assert "\x1b[" not in proc.stderr  # no terminal control codes in a log


def test_failures_get_a_line_too(tmp_path, capsys):
    from ablate.progress import Progress

    with Progress(3, 0, live=False, metric="test_acc") as progress:
        progress.event("start", cell="a/seed0")
        progress.event("done", cell="a/seed0", status="FINISHED", value=0.5)
        progress.event("done", cell="b/seed0", status="FAILED", reason="diverged at epoch 2")
        progress.event("count", done=3, total=3)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("cell 1/3 done a/seed0 test_acc=0.5000 ")
    assert lines[1].startswith("cell 2/3 FAILED b/seed0: diverged at epoch 2 ")


def test_the_answer_ends_run_report_and_status_and_is_tagged_on_the_parent(tiny_raw, write_study, workdir,
                                                                           capsys):
    """After the cells: the verdicts table, the best arm and the report's path are the last lines of `run`
    (--quiet too), `report` and `status` of the finished study; the verdicts are searchable parent tags."""
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--quiet", "train.epochs=1", "seeds=2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("report: reports/tiny/index.html (built in") and lines[-2].startswith("best arm: ")
    start = lines.index("answer (test_acc):")
    table = lines[start + 1:-2]
    assert table[0].split() == ["factor", "verdict", "effect", "[95%", "CI]", "(points)", "rests", "on"]
    assert [row.split()[0] for row in table[1:]] == ["dropout", "l2"] and all("2 seeds" in r for r in table[1:])

    assert main(["report", "tiny"]) == 0
    report_lines = capsys.readouterr().out.strip().splitlines()
    assert report_lines[-1] == "report: reports/tiny/index.html" and report_lines[1:-1] == table + [lines[-2]]
    assert main(["status", str(path), "train.epochs=1", "seeds=2"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-len(report_lines):] == report_lines

    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    exp = client.get_experiment_by_name("tiny")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(Tag.ROLE) == "parent")
    verdicts = {f: parent.data.tags[Tag.VERDICT + f] for f in ("dropout", "l2")}
    assert all(v.split()[0] in ("helps", "hurts", "negligible", "inconclusive") for v in verdicts.values())
    status = verdicts["l2"].split()[0]
    found = client.search_runs([exp.experiment_id], f"tags.`{Tag.VERDICT}l2` LIKE '{status}%'")
    assert [r.info.run_id for r in found] == [parent.info.run_id]


def test_run_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "--retry-failed" in out
    for code in ("0 ", "2 ", "3 ", "130"):
        assert f"\n  {code}" in out
