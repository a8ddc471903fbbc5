"""One check of a refusal, for in-process tests of bad input (the fast layers)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def refused(argv: list[str], capsys, where: Path, seconds: float = 10) -> str:
    """`ablate ARGV` in-process refuses as bad input should: exit 2 within `seconds`, nothing written in
    `where`, no traceback; returns what it said on stderr."""
    from ablate.cli import main

    before = set(os.listdir(where))
    t0 = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - t0 < seconds
    assert set(os.listdir(where)) == before
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err
