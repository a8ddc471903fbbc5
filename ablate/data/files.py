"""Data files read strictly: a path must be a regular readable file of the right kind, and a CSV is parsed
with one explicit dialect, every row holding exactly the header's fields.

Why strict: a reader that guesses (pandas takes a first column with one extra field as the index) can turn a
typo into a wrong result that looks right, every cell finishing at test_acc 1.0. Each check names the file,
the line or key, the rule and what was found, so the message says what to fix.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

from ablate.bounded import DATA_BYTES, CappedReader, check_within, regular_file
from ablate.errors import AblateError

__all__ = ["GZIP_MAGIC", "ZIP_MAGIC", "csv_rows", "open_text", "regular_file"]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip (np.savez writes zips)
GZIP_MAGIC = (b"\x1f\x8b",)
def open_text(path: Path, where: str) -> io.TextIOBase:
    """A .csv or .csv.gz opened as UTF-8 text (a byte-order mark is allowed), after regular_file; the file
    and (gzip) what it decompresses to stay within the data budget (bounded.py)."""
    gz = path.name.endswith(".gz")
    st = regular_file(path, where, GZIP_MAGIC if gz else (), "a gzip file (its name ends in .gz)")
    check_within(f"{where}: {str(path)!r}", "its size", st.st_size, DATA_BYTES, "bytes")
    where = f"{where}: {str(path)!r}"
    raw = io.BufferedReader(CappedReader(gzip.open(path, "rb"), where, DATA_BYTES)) if gz else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def csv_rows(path: Path, where: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, fields)]): one explicit dialect (comma, double quotes, "" inside quotes),
    blank lines skipped, and any row whose field count differs from the header's is an error naming it."""
    rows: list[tuple[int, list[str]]] = []
    try:
        with open_text(path, where) as f:
            records = _records(f, where)
            header = next(records, None)
            if header is None:
                raise AblateError(f"{where}: {str(path)!r} is empty (needs a header line)")
            header_line, names = header
            _check_header(names, where)
            for line, fields in records:
                if len(fields) != len(names):
                    raise AblateError(
                        f"{where}: line {line} has {len(fields)} field(s) but the header (line {header_line}) "
                        f"has {len(names)} ({', '.join(names)}); a text holding commas must be quoted "
                        f"(\"a, b\") and a quote inside it doubled (\"\")")
                rows.append((line, fields))
    except UnicodeDecodeError as e:
        raise AblateError(f"{where}: {str(path)!r} is not UTF-8 text (byte {e.start}: {e.reason}); save it "
                          "as UTF-8") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise AblateError(f"{where}: cannot read {str(path)!r} ({e})") from None
    return names, rows


def _records(f, where: str) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its fields); csv.Error (a stray quote, a NUL) names its line."""
    reader = csv.reader(f, delimiter=",", quotechar='"', doublequote=True, strict=True, skipinitialspace=False)
    done = 0  # lines read so far: a quoted field may span several
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise AblateError(f"{where}: line {reader.line_num}: not valid CSV ({e})") from None
        start, done = done + 1, reader.line_num
        if any("\x00" in f for f in fields):
            raise AblateError(f"{where}: line {start}: not valid CSV (it holds a NUL byte: a binary file?)")
        if fields:
            yield start, fields


def _check_header(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise AblateError(f"{where}: the header names column {name!r} twice")
        seen.add(name)
