"""Figure h: the quickstart's report. Its goal is the report's cost in the quickstart (`ablate run` prints
"report: ... (built in X s)", the time from the last cell's end to the page written and attached): the
report's modules are imported while the cells train, so that is reading the store, the statistics and the
figures. A cold `ablate report` process is timed too, with the part of it that is Python importing MLflow,
pandas, matplotlib, seaborn and scipy and opening the store, which no report can save."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import QUICK, ROOT
from figures_runs import ABLATE, _study_file

QUICKSTART = ROOT / "studies" / "quickstart.yaml"
BUILT = re.compile(r"^report: .* \(built in ([0-9.]+) s\)$", re.M)
OPEN = ("import ablate.cli, ablate.report.html, ablate.tracking.reader; from ablate.tracking.client import "
        "make_client, resolve_uri; make_client(resolve_uri(None))")


def fig_h(reps: int = 2) -> str:
    env = {**os.environ, "MLFLOW_TRACKING_URI": "", "ABLATE_STORAGE": ""}
    built = []
    with tempfile.TemporaryDirectory() as tmp:
        study = QUICKSTART if not QUICK else _study_file(Path(tmp), "quickstart")
        for i in range(reps):
            cwd = Path(tmp) / f"run{i}"
            cwd.mkdir()
            out = subprocess.run([*ABLATE, "run", str(study), "--workers", "2", "--quiet"], cwd=cwd, env=env,
                                 check=True, capture_output=True, text=True).stdout
            built.append(float(BUILT.search(out).group(1)))
        t0 = time.perf_counter()
        subprocess.run([*ABLATE, "report", str(study)], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", OPEN], cwd=cwd, env=env, check=True)
        imports = time.perf_counter() - t0
    return (f"h. quickstart report: {min(built):.1f} s (goal <= 3 s) [the report phase of `ablate run "
            f"studies/quickstart.yaml --workers 2`, best of {reps} fresh runs ({', '.join(f'{b:.1f}' for b in built)}"
            f" s); a cold `ablate report` process over the same store: {cold:.1f} s, of which {imports:.1f} s "
            f"interpreter, imports and opening the store; figures drawn in {min(os.cpu_count() or 1, 4)} "
            "processes]")
