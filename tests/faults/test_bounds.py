"""Bounded validation (issue 14, finding 9): a 5 KB study of 6 factors x 100 levels (10^12 arms) ran 615 s
at 1.5 GB ignoring SIGTERM, since the cell cap was checked only after every arm was listed (in C, where a
signal waits). Now the cap is checked from the factor sizes first: `ablate validate` answers in seconds."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from faultkit import ablate_cmd, child_env

BOMB = Path(__file__).parent / "corpus" / "106_levels_bomb.yaml"


def test_a_levels_bomb_is_refused_in_seconds_and_sigterm_is_answered(tmp_path):
    assert BOMB.stat().st_size < 1_000_000
    proc = subprocess.Popen([*ablate_cmd(), "validate", str(BOMB)], cwd=tmp_path, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=20)  # the command's start (imports) on a loaded machine
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError("validation ran past 20 s and ignored SIGTERM") from None
        raise AssertionError(f"validation ran past 20 s (ended by SIGTERM):\n{err}") from None
    assert proc.returncode == 2 and "at most 10000 cells" in err and "Traceback" not in err, err
    assert "1000000000000 arms" in err  # counted from the factor sizes: 100^6 arms, none listed


def test_validating_the_bomb_in_process_takes_well_under_five_seconds():
    from ablate.errors import StudyError
    from ablate.validate import load_study

    t0 = time.monotonic()
    try:
        load_study(BOMB)
    except StudyError as e:
        assert "at most 10000 cells" in str(e)
    else:
        raise AssertionError("the bomb validated")
    assert time.monotonic() - t0 < 5
