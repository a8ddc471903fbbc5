"""Hostile data files are refused from what they declare, before anything is allocated: an .npz header
claiming 4e9 labels, a zip entry declaring gigabytes, a gzip bomb. Each message names the file, the limit and
the variable that raises it; `ablate validate` exits 2 and nothing is written."""

from __future__ import annotations

import gzip
import io
import time
import zipfile

import numpy as np
import pytest
from refusals import refused

from ablate.bounded import OverBudget
from ablate.data.npz import headers
from ablate.data.text import read_text_csv

STUDY = """name: budget
model: {{name: {model}}}
data: {{name: {data}, path: {path}}}
train: {{epochs: 1}}
factors: {{dropout: {{p: 0.1}}}}
seeds: 1
"""


def _npy(array: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    """An .npy file whose header declares `shape` (default: the array's own) over the array's bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                               "fortran_order": False, "shape": shape or array.shape})
    return buf.getvalue() + array.tobytes()


def _npz(path, shapes: dict | None = None) -> None:
    arrays = {"x_train": np.zeros((8, 4, 4), np.uint8), "y_train": np.arange(8) % 2,
              "x_test": np.zeros((4, 4, 4), np.uint8), "y_test": np.arange(4) % 2}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, a in arrays.items():
            z.writestr(f"{key}.npy", _npy(a, (shapes or {}).get(key)))


def _validate(tmp_path, capsys, data: str, name: str, model: str = "cnn") -> str:
    (tmp_path / "s.yaml").write_text(STUDY.format(model=model, data=data, path=name))
    return refused(["validate", "s.yaml"], capsys, tmp_path)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ABLATE_MAX_DATA_BYTES", raising=False)
    return tmp_path


def test_a_header_declaring_4e9_labels_is_refused_unread(cwd, capsys):
    _npz(cwd / "huge.npz", {"y_train": (4_000_000_000,)})
    with pytest.raises(OverBudget, match="ABLATE_MAX_DATA_BYTES"):
        headers("huge.npz")
    err = _validate(cwd, capsys, "npz", "huge.npz")
    assert "huge.npz" in err and "over the limit of 2.0 GiB" in err and "ABLATE_MAX_DATA_BYTES" in err


def test_a_zip_bomb_is_refused_from_its_declared_size(cwd, capsys, monkeypatch):
    _npz(cwd / "ok.npz")
    assert set(headers("ok.npz")) >= {"x_train", "y_test"}
    with zipfile.ZipFile(cwd / "ok.npz", "a", zipfile.ZIP_DEFLATED) as z, z.open("pad.bin", "w", force_zip64=True) as f:
        chunk = bytes(1 << 20)
        for _ in range(64):  # 64 MiB of zeros: ~64 kB on disk
            f.write(chunk)
    monkeypatch.setenv("ABLATE_MAX_DATA_BYTES", str(32 << 20))
    err = _validate(cwd, capsys, "npz", "ok.npz")
    assert "declared decompressed size" in err and "32.0 MiB" in err and "ABLATE_MAX_DATA_BYTES" in err
    monkeypatch.setenv("ABLATE_MAX_DATA_BYTES", str(128 << 20))  # raised: the same file is read
    assert set(headers("ok.npz")) >= {"x_train", "y_test"}


def test_a_gzip_bomb_csv_stops_at_the_budget(cwd, capsys, monkeypatch):
    with gzip.open(cwd / "bomb.csv.gz", "wb", compresslevel=1) as f:
        f.write(b"text,label\n")
        line = b"a," + b"0" * 1000 + b"\n"
        for _ in range(200_000):  # 200 MB decompressed, ~1 MB on disk
            f.write(line)
    monkeypatch.setenv("ABLATE_MAX_DATA_BYTES", str(16 << 20))
    t0 = time.monotonic()
    with pytest.raises(OverBudget, match=r"bomb\.csv\.gz.*decompressed size.*16\.0 MiB.*ABLATE_MAX_DATA_BYTES"):
        read_text_csv(cwd / "bomb.csv.gz")
    assert time.monotonic() - t0 < 5
    err = _validate(cwd, capsys, "text_csv", "bomb.csv.gz", "transformer")
    assert "bomb.csv.gz" in err and "ABLATE_MAX_DATA_BYTES" in err


def test_a_plain_csv_over_the_budget_is_refused_by_its_size(cwd, monkeypatch):
    (cwd / "big.csv").write_text("text,label\n" + "a b,0\nc d,1\n" * 1000)
    monkeypatch.setenv("ABLATE_MAX_DATA_BYTES", "1000")
    with pytest.raises(OverBudget, match="its size is"):
        read_text_csv(cwd / "big.csv")


def test_a_bad_limit_variable_is_named(cwd, monkeypatch):
    _npz(cwd / "ok.npz")
    monkeypatch.setenv("ABLATE_MAX_DATA_BYTES", "lots")
    with pytest.raises(Exception, match=r"\$ABLATE_MAX_DATA_BYTES must be a positive whole number"):
        headers("ok.npz")
