"""Figure h: the quickstart's report, `ablate report` as a user types it, over a store the quickstart filled."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import QUICK, ROOT
from figures_runs import ABLATE, _study_file

QUICKSTART = ROOT / "studies" / "quickstart.yaml"


def fig_h(reps: int = 2) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        study = QUICKSTART if not QUICK else _study_file(Path(tmp), "quickstart")
        env = {**os.environ, "MLFLOW_TRACKING_URI": "", "ABLATE_STORAGE": ""}
        subprocess.run([*ABLATE, "run", str(study), "--workers", "2", "--quiet", "--no-report"], cwd=tmp,
                       env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run([*ABLATE, "report", str(study)], cwd=tmp, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ablate.report, ablate.tracking"], check=True, env=env)
        imports = time.perf_counter() - t0
    best = min(seconds)
    return (f"h. quickstart report: {best:.1f} s (goal <= 3 s) [`ablate report studies/quickstart.yaml` over "
            f"the store a 2-worker quickstart filled, best of {reps}; of which interpreter + imports "
            f"{imports:.1f} s; figures drawn in {min(os.cpu_count() or 1, 4)} processes]")
