"""Malformed and hostile study files: each is refused with exit code 2 and a message naming the file and the
field, `ablate run` writes nothing (no MLflow store, no Optuna journal, no artifacts, no report), and no
YAML tag ever runs code. The corpus lives in corpus/; each file's first line names the field its error
must name (`line` for YAML errors, `<root>` for the document as a whole)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from faultkit import ablate_cmd, child_env

from ablate.cli import main

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yaml"))


def _field(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# field: "), path
    return first[len("# field: "):]


def test_the_corpus_is_large_and_each_file_says_what_to_expect():
    assert len(CORPUS) >= 50
    assert all(_field(p) for p in CORPUS)


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch):
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    for var in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    return d


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_study_is_refused_and_nothing_is_written(path, empty_cwd, capsys):
    expected = f"{path}: {_field(path)}"
    for argv in (["validate", str(path)], ["run", str(path), "--quiet"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert expected in err, f"{argv[0]}: expected {expected!r} in:\n{err}"
        assert "Traceback" not in err
    assert sorted(p.name for p in empty_cwd.iterdir()) == [], "a refused study wrote files"
    assert not list(path.parent.parent.glob("**/PWNED"))


def test_huge_file_is_refused_before_it_is_parsed(tmp_path, empty_cwd, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\ndescription: " + "x" * 1_100_000 + "\n")
    assert main(["run", str(path)]) == 2
    assert f"{path}: <root>: a study file must be at most 1000000 bytes" in capsys.readouterr().err
    assert list(empty_cwd.iterdir()) == []


def test_missing_file_and_directory_are_refused(tmp_path, empty_cwd, capsys):
    for path in (tmp_path / "absent.yaml", tmp_path):
        assert main(["run", str(path)]) == 2
        assert f"{path}: <root>: the study file must exist" in capsys.readouterr().err
    assert list(empty_cwd.iterdir()) == []


def test_the_real_cli_refuses_the_whole_corpus_in_one_call(tmp_path):
    """The installed `ablate` command: exit code 2, every file named, no traceback, nothing written."""
    out = subprocess.run([*ablate_cmd(), "validate", *map(str, CORPUS)], cwd=tmp_path, env=child_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    for path in CORPUS:
        assert f"{path}: {_field(path)}" in out.stderr, path.name
    assert "Traceback" not in out.stderr
    hostile = next(p for p in CORPUS if "python_object_apply" in p.name)
    out = subprocess.run([*ablate_cmd(), "run", str(hostile)], cwd=tmp_path, env=child_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and f"{hostile}: line" in out.stderr
    assert list(tmp_path.iterdir()) == []
