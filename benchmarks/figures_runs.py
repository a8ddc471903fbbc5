"""Figures d, e, g: whole `ablate run` commands, as a user types them, each in a fresh directory.

Each run starts from empty stores in its own temporary directory, so store creation is included (as a user
pays it once) and no run resumes another's cells.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import QUICK, ROOT, side_by_side, write_yaml

from ablate.records import TrialAttr

QUICKSTART = ROOT / "studies" / "quickstart.yaml"
ABLATE = [sys.executable, "-m", "ablate.cli"]
REPS = 1  # the quickstart adds seeds until decided: about a minute per run now


def _study_file(tmp: Path, name: str, seeds=None, **train) -> Path:
    """The quickstart, or (BENCH_QUICK, or for e) a cut-down copy of it with fewer epochs and seeds."""
    study = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    study["name"] = name
    study["train"].update(train)
    if seeds is not None:
        study["seeds"] = seeds
    if QUICK:
        study["train"]["epochs"], study["seeds"] = 1, 1
    return write_yaml(tmp / f"{name}.yaml", study)


def _run(study: Path, workers: int, *extra: str, phases: list | None = None) -> float:
    """Seconds of one `ablate run` in a fresh directory (stores, workers, cells[, report]); `phases` gets
    its parts too, from the cell runs' times as MLflow recorded them (see _parts)."""
    with tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "MLFLOW_TRACKING_URI": "", "ABLATE_STORAGE": ""}
        t0 = time.time()
        subprocess.run([*ABLATE, "run", str(study), "--workers", str(workers), "--quiet", *extra], cwd=cwd,
                       env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.time() - t0
        if phases is not None:
            phases.append(_parts(study, Path(cwd), t0, t0 + seconds))
        return seconds


def _parts(study_file: Path, cwd: Path, t0: float, t1: float) -> dict[str, float]:
    """start: the command's start to its first cell's; cells: to when the first worker ran out of cells
    (every worker busy until then); tail: to the last cell's end (some worker idles); end: to the exit."""
    from ablate.tracking import Tracker
    from ablate.validate import load_study

    study = load_study(study_file)
    tracker = Tracker(f"sqlite:///{cwd}/mlflow.db")
    runs = tracker.cell_records(tracker.find_parent(study))
    last_of: dict[str, float] = {}
    for r in runs:
        last_of[r.worker] = max(last_of.get(r.worker, 0.0), r.end_time_ms / 1000)
    first, last = min(r.start_time_ms for r in runs) / 1000, max(last_of.values())
    idle = min(last_of.values())
    return {"start": first - t0, "cells": idle - first, "tail": last - idle, "end": t1 - last}


def fig_d() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        study = QUICKSTART if not QUICK else _study_file(Path(tmp), "quickstart")
        p1: list[dict] = []
        p2: list[dict] = []
        one, two = side_by_side(lambda: _run(study, 1, "--no-report", phases=p1),
                                lambda: _run(study, 2, "--no-report", phases=p2), REPS)
    med = lambda ps, k: statistics.median(p[k] for p in ps)  # noqa: E731
    parts = lambda ps: ", ".join(f"{k} {med(ps, k):.1f}" for k in ("start", "cells", "tail", "end"))  # noqa: E731
    c1, c2 = med(p1, "cells") + med(p1, "tail"), med(p2, "cells") + med(p2, "tail")
    return (f"d. quickstart --workers 2 vs --workers 1, wall time: {one / two:.2f}x speed-up (goal >= 1.6x) "
            f"[{one:.1f} s vs {two:.1f} s for the whole command with --no-report; parts (s): 1 worker "
            f"{parts(p1)}; 2 workers {parts(p2)}; cells + tail {c1 / c2:.2f}x; {os.cpu_count()} cores, "
            f"medians of {REPS}]")


def fig_e() -> str:
    from ablate.validate import load_study

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        # a fixed number of seeds: the quickstart's seeds-until-decided would add cells the count must include
        study_file = _study_file(Path(tmp), "exactly_once", seeds=4, epochs=1)
        n_cells = len(load_study(study_file).cells())
        for workers in (1, 2, 4):
            cwd = Path(tmp) / f"w{workers}"
            cwd.mkdir()
            env = {**os.environ, "MLFLOW_TRACKING_URI": "", "ABLATE_STORAGE": ""}
            subprocess.run([*ABLATE, "run", str(study_file), "--workers", str(workers), "--quiet", "--no-report"],
                           cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
            trials, distinct, runs = _count(load_study(study_file), cwd)
            ok = trials == distinct == runs == n_cells
            out.append(f"{trials / n_cells:.2f} with {workers} worker{'s' if workers > 1 else ''}"
                       + ("" if ok else f" (!: {distinct} distinct cells, {runs} MLflow runs)"))
    return f"e. trials executed / cells: {', '.join(out)} (must be 1.00) [{n_cells} cells, 1 epoch each]"


def _count(study, cwd: Path) -> tuple[int, int, int]:
    """Trials that trained a cell (they carry an MLflow run id), distinct cells among them, MLflow cell runs."""
    from ablate.scheduler.storage import DEFAULT_STORAGE, open_storage, open_study
    from ablate.tracking import Tracker

    ostudy = open_study(study, open_storage(str(cwd / DEFAULT_STORAGE)), create=False)
    executed = [t for t in ostudy.get_trials(deepcopy=False) if t.user_attrs.get(TrialAttr.RUN_ID)]
    tracker = Tracker(f"sqlite:///{cwd}/mlflow.db")
    runs = tracker.cell_records(tracker.find_parent(study))
    return len(executed), len({t.user_attrs.get(TrialAttr.CELL) for t in executed}), len(runs)


def fig_g(reps: int = 1) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        study = QUICKSTART if not QUICK else _study_file(Path(tmp), "quickstart")
        seconds = statistics.median(_run(study, 1) for _ in range(reps))
    return (f"g. quickstart end to end: {seconds:.1f} s [`ablate run studies/quickstart.yaml`, 32 cells x up to "
            f"12 epochs, fresh stores, report included, 1 worker]" if not QUICK else
            f"g. quickstart end to end (BENCH_QUICK cut-down): {seconds:.1f} s")
