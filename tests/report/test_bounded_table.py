"""`ablate analyze` reads its table within limits: regular files only (a FIFO blocked for ever, /dev/zero grew
to 4.6 GB), rows, factor columns, levels and seeds bounded before the statistics run; each refusal names the
file, the limit and the variable that raises it, exits 2 and writes nothing."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from refusals import refused

from ablate.bounded import OverBudget
from ablate.report.analyze import analyze, read_table


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("ABLATE_MAX_TABLE_ROWS", "ABLATE_MAX_TABLE_FACTORS", "ABLATE_MAX_TABLE_LEVELS",
                "ABLATE_MAX_TABLE_SEEDS", "ABLATE_MAX_TABLE_BYTES"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_a_fifo_is_refused_unopened(cwd, capsys):
    os.mkfifo(cwd / "pipe.csv")
    err = refused(["analyze", "pipe.csv"], capsys, cwd)
    assert "pipe.csv" in err and "FIFO" in err and "not a regular file" in err


def test_a_character_device_isrefused(cwd, capsys):
    err = refused(["analyze", "/dev/zero"], capsys, cwd)
    assert "/dev/zero" in err and "character device" in err


def test_a_missing_table_is_named(cwd, capsys):
    assert "does not exist" in refused(["analyze", "nope.csv"], capsys, cwd)


def test_too_many_rows_are_refused_without_parsing_them_all(cwd, capsys):
    lines = "".join(f"{i % 2},{i},0.5\n" for i in range(10_001))
    (cwd / "rows.csv").write_text("dropout,seed,test_acc\n" + lines)
    err = refused(["analyze", "rows.csv"], capsys, cwd)
    assert "rows.csv" in err and "more than 10,000" in err and "ABLATE_MAX_TABLE_ROWS" in err


def test_a_raised_row_limit_reads_the_table(cwd, monkeypatch):
    (cwd / "t.csv").write_text("dropout,seed,test_acc\n0,0,0.5\n1,0,0.6\n0,1,0.5\n1,1,0.7\n")
    monkeypatch.setenv("ABLATE_MAX_TABLE_ROWS", "3")
    with pytest.raises(OverBudget, match="ABLATE_MAX_TABLE_ROWS"):
        read_table("t.csv")
    monkeypatch.setenv("ABLATE_MAX_TABLE_ROWS", "4")
    assert len(read_table("t.csv")) == 4


def test_too_many_factor_columns_are_refused_at_once(cwd, capsys):
    frame = pd.DataFrame({**{f"f{i}": [0, 1] for i in range(100)}, "seed": [0, 0], "test_acc": [0.1, 0.2]})
    frame.to_csv(cwd / "wide.csv", index=False)
    err = refused(["analyze", "wide.csv"], capsys, cwd)
    assert "wide.csv: factor columns (f0, f1, f2, f3, f4, ...)" in err and "100" in err
    assert "ABLATE_MAX_TABLE_FACTORS" in err


def test_too_many_levels_and_seeds_arerefused(cwd, monkeypatch):
    frame = pd.DataFrame({"width": range(60), "seed": 0, "test_acc": 0.5})
    with pytest.raises(OverBudget, match=r"column 'width'.*levels is 60.*ABLATE_MAX_TABLE_LEVELS"):
        analyze(frame, out=None)
    frame = pd.DataFrame({"dropout": [0, 1] * 300, "seed": [s // 2 for s in range(600)], "test_acc": 0.5})
    with pytest.raises(OverBudget, match=r"column 'seed'.*distinct seeds is 300.*ABLATE_MAX_TABLE_SEEDS"):
        analyze(frame, out=None)
