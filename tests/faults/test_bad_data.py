"""Hostile and degenerate data files: each is refused by `ablate validate` and by `ablate run` before any
store is made, with exit code 2 and a message naming the field, the file and what is wrong (never a
traceback in every cell, never a wrong result read as a right one). The inputs live in corpus/data/; each
YAML's first lines name the field and a part of the message it must give; paths are relative to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from faultkit import ablate_cmd, child_env

from ablate.cli import main
from ablate.validate import load_study

DATA = Path(__file__).parent / "corpus" / "data"
CASES = sorted(p for p in DATA.glob("*.yaml") if not p.name.startswith("good"))


def _expect(path: Path) -> tuple[str, str]:
    field, message = path.read_text().splitlines()[:2]
    assert field.startswith("# field: ") and message.startswith("# message: "), path
    return field[len("# field: "):], message[len("# message: "):]


@pytest.fixture
def data_cwd(tmp_path, monkeypatch):
    """The corpus copied into an empty working directory, plus what git cannot hold (a FIFO, a folder)."""
    d = tmp_path / "cwd"
    shutil.copytree(DATA, d)
    os.mkfifo(d / "fifo.npz")
    (d / "a_folder.npz").mkdir()
    monkeypatch.chdir(d)
    for var in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    return d


def test_the_good_files_validate(data_cwd):
    for name in ("good_npz.yaml", "good_csv.yaml"):
        assert load_study(name).data.name in ("npz", "text_csv")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_data_is_refused_before_any_store_is_made(path, data_cwd, capsys):
    field, message = _expect(path)
    before = set(os.listdir(data_cwd))
    for argv in (["validate", path.name], ["run", path.name, "--quiet"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"{path.name}: {field}: " in err and message in err, f"{argv[0]}: expected {message!r}:\n{err}"
        assert "Traceback" not in err
    assert set(os.listdir(data_cwd)) == before, "a refused study wrote files"


def test_a_text_with_an_unquoted_comma_is_never_read_as_an_index(data_cwd):
    """The wrong result, silently, before: the first column became the index, texts became labels, and
    every cell finished at test_acc 1.0. The same rows, quoted, read as written."""
    from ablate.data.text import read_text_csv

    quoted = data_cwd / "quoted.csv"
    quoted.write_text((data_cwd / "unquoted_comma.csv").read_text().replace("hello, world,1", '"hello, world",1'))
    splits = read_text_csv(quoted, test_fraction=0.2)
    texts = splits.train[0] + splits.test[0]
    assert "hello, world" in texts and len(texts) == 41 and splits.class_names == ("0", "1")


def test_the_real_cli_with_two_workers_says_it_once(data_cwd):
    """A missing data file with --workers 2 printed two worker tracebacks and crashed the report."""
    out = subprocess.run([*ablate_cmd(), "run", "absent_npz.yaml", "--workers", "2"], cwd=data_cwd,
                         env=child_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("does not exist") == 1 and "Traceback" not in out.stderr, out.stderr
    assert not (data_cwd / "mlflow.db").exists() and not (data_cwd / "optuna.journal").exists()
