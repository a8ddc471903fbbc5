"""Named moments where the fault tests stop a process, so a SIGKILL lands at an exact point, not after a sleep.

`ABLATE_TEST_PAUSE=point` (or `point@n` for its n-th visit) makes the process write its pid to
`ABLATE_TEST_PAUSE_FILE` when it reaches that point, then hold still for `ABLATE_TEST_PAUSE_HOLD` seconds
(default: an hour; 0 marks the moment and goes on, for a kill "somewhere in what follows"). The test waits
for the file and sends its signal. `ABLATE_TEST_PAUSE_IN=worker` pauses a local worker process there; `ablate
run` itself, which trains cells too, waits at the point until a worker has paused, then goes on (so the
worker gets a cell however few are left). Unset, as always outside tests, a point costs one environment
lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_VISITS: dict[str, int] = {}
ROLE = "run"  # "worker" in a local worker process (ablate/pool.py)


def pause_point(name: str) -> None:
    spec = os.environ.get("ABLATE_TEST_PAUSE")
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    target = Path(os.environ["ABLATE_TEST_PAUSE_FILE"])
    if os.environ.get("ABLATE_TEST_PAUSE_IN", ROLE) != ROLE:
        while not target.exists():
            time.sleep(0.05)
        return
    _VISITS[name] = _VISITS.get(name, 0) + 1
    if _VISITS[name] != int(nth or 1):
        return
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(target)  # the test never reads a half-written file
    hold = float(os.environ.get("ABLATE_TEST_PAUSE_HOLD", "3600"))
    if hold > 0:
        time.sleep(hold)
