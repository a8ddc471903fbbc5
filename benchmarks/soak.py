"""Soak: N random SIGKILLs of the whole process group of `ablate run studies/quickstart.yaml --workers 2`,
then a final clean run; prints one line: kills, cells lost, duplicate FINISHED runs, runs left RUNNING,
tracebacks seen. Not run by `make test` or `make bench` (minutes; run it by hand on a machine you can load).

Usage: python benchmarks/soak.py [N] [--seed S] [--keep]     (N default 30; overrides: SOAK_OVERRIDES)

The kills come in rounds of ROUND kills, each round in a new temporary project folder, so that every round
can kill while the stores are being created: its first kill lands 0-0.8 s after the MLflow store (its
temporary file or mlflow.db) appears; its last lands 0-4 s after the last cell finished, while the report is
built and written; the others at a uniformly random moment of a run. Each round ends with a clean run
that must finish every cell. Read back from the stores (SQLite and the journal, not through ablate):
  cells lost          cells of the study without a FINISHED MLflow run after the round's clean run
  duplicate FINISHED  FINISHED cell runs beyond the first, per cell (a cell trained twice)
  runs left RUNNING   MLflow runs (cells and parent) still RUNNING after the clean run
  tracebacks          "Traceback" in any run's output (killed ones included); the final runs' counted apart
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUND = 6
# short cells, and seeds added until decided kept small (2 to start, at most 4): the second stage runs too
OVERRIDES = os.environ.get("SOAK_OVERRIDES", "train.epochs=2 seeds.initial=2 seeds.max=4").split()
STORE_FILES = re.compile(r"^(\.mlflow\.db\..*\.tmp|mlflow\.db)$")
CELL_LINE = re.compile(r"^cell (\d+)/(\d+) ", re.M)
SUMMARY = re.compile(r"study '[^']*': (\d+)/(\d+) cells finished, (\d+) failed")


def ablate_cmd() -> list[str]:
    script = Path(sys.executable).with_name("ablate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ablate.cli"]


class Run:
    """`ablate run` in its own process group; its stderr read as it comes (the per-cell lines)."""

    def __init__(self, project: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "ABLATE_STORAGE")}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
                   GIT_PYTHON_REFRESH="quiet")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([*ablate_cmd(), "run", "quickstart.yaml", *OVERRIDES, "--workers", "2"],
                                     cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self.err: list[str] = []
        self.out: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                        for s, b in ((self.proc.stderr, self.err), (self.proc.stdout, self.out))]
        for t in self.readers:
            t.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def all_cells_done(self) -> bool:
        done = [(int(a), int(b)) for a, b in CELL_LINE.findall("".join(self.err))]
        return bool(done) and done[-1][0] >= done[-1][1]

    def kill(self) -> bool:
        """SIGKILL the whole group (the parent and its workers); False if it had already exited."""
        if not self.alive():
            return False
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float = 900) -> tuple[int, str]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        for t in self.readers:
            t.join(timeout=10)
        with_group_gone(self.proc.pid)
        return self.proc.returncode, "".join(self.out) + "".join(self.err)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc (a zombie nobody reaps still counts for
    killpg, and holds nothing)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(stat.parent.name))
    return out


def with_group_gone(pgid: int, timeout: float = 30) -> None:
    """Workers die with their parent; wait until none of the group is left (they hold the stores)."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_until(run: Run, test, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while run.alive() and time.monotonic() < deadline:
        if test():
            return True
        time.sleep(0.005)
    return False


def kill_at(run: Run, mode: str, project: Path, rng: random.Random, span: float) -> bool:
    if mode == "store":
        wait_until(run, lambda: any(STORE_FILES.match(p.name) for p in project.iterdir()))
        time.sleep(rng.uniform(0, 0.8))
    elif mode == "report":
        wait_until(run, run.all_cells_done)
        time.sleep(rng.uniform(0, 4.0))
    else:
        moment = rng.uniform(0.3, span)
        wait_until(run, lambda: time.monotonic() - run.t0 > moment, timeout=span + 5)
    return run.kill()


def store_counts(project: Path, study: str, total: int) -> tuple[int, int, int]:
    """(cells lost, duplicate FINISHED runs, runs left RUNNING), read with sqlite3 from mlflow.db: of the
    `total` cells the clean run counted (seeds added until decided may add some), those with no FINISHED run
    are lost."""
    from ablate.records import CELL, Tag

    db = project / "mlflow.db"
    if not db.exists():
        return total, 0, 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT r.run_uuid, r.status, role.value, cell.value FROM runs r "
            "JOIN experiments e ON e.experiment_id = r.experiment_id "
            "LEFT JOIN tags role ON role.run_uuid = r.run_uuid AND role.key = ? "
            "LEFT JOIN tags cell ON cell.run_uuid = r.run_uuid AND cell.key = ? "
            "WHERE e.name = ? AND r.lifecycle_stage = 'active'", (Tag.ROLE, Tag.CELL_ID, study)).fetchall()
    finished = Counter(cell for _, status, role, cell in rows if role == CELL and status == "FINISHED")
    lost = max(0, total - len(finished))
    duplicates = sum(n - 1 for n in finished.values())
    running = sum(status == "RUNNING" for _, status, _, _ in rows)
    return lost, duplicates, running


def report_whole(project: Path) -> bool:
    page = project / "reports" / "quickstart" / "index.html"
    return page.is_file() and page.read_text(encoding="utf-8", errors="replace").rstrip().endswith("</html>")


def soak_round(index: int, kills: int, rng: random.Random, base: Path, totals: Counter, keep: bool) -> None:
    from ablate.validate import load_study

    project = base / f"round{index}"
    project.mkdir()
    shutil.copy(ROOT / "studies" / "quickstart.yaml", project / "quickstart.yaml")
    study = load_study(project / "quickstart.yaml", tuple(OVERRIDES))
    span = float(os.environ.get("SOAK_SPAN", "40"))  # seconds: random kills land within this of the start
    for k in range(kills):
        mode = "store" if k == 0 else "report" if k == kills - 1 else "random"
        run = Run(project)
        killed = kill_at(run, mode, project, rng, span)
        code, text = run.wait()
        totals["kills"] += killed
        totals[f"kills_{mode}"] += killed
        totals["tracebacks"] += text.count("Traceback")
        if not killed:
            totals["ended_before_kill"] += 1
            if code != 0:
                totals["bad_exits"] += 1
                print(f"round {index} run {k}: exit {code} without a kill:\n{text[-3000:]}", file=sys.stderr)
    final = Run(project)
    code, text = final.wait()
    totals["tracebacks"] += text.count("Traceback")
    totals["final_tracebacks"] += text.count("Traceback")
    summary = SUMMARY.search(text)
    total = int(summary.group(2)) if summary else len(study.cells())
    if code != 0 or not summary or summary.group(1) != summary.group(2):
        totals["final_failed"] += 1
        print(f"round {index}: the clean run exited {code}:\n{text[-3000:]}", file=sys.stderr)
    lost, duplicates, running = store_counts(project, study.name, total)
    totals["cells_lost"] += lost
    totals["duplicates"] += duplicates
    totals["running"] += running
    totals["reports_torn"] += not report_whole(project)
    totals["cells"] += total
    print(f"  round {index}: {kills} runs started, lost {lost}, duplicates {duplicates}, RUNNING {running}",
          file=sys.stderr, flush=True)
    if not keep:
        shutil.rmtree(project, ignore_errors=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", nargs="?", type=int, default=30, help="SIGKILLs in all (default 30)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the project folders (printed)")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    base = Path(tempfile.mkdtemp(prefix="ablate-soak-"))
    totals: Counter = Counter()
    t0 = time.monotonic()
    rounds, index = [], 0
    left = args.n
    while left > 0:
        rounds.append(min(ROUND, left) if left - ROUND != 1 else left)
        left -= rounds[-1]
    for index, kills in enumerate(rounds):
        soak_round(index, kills, rng, base, totals, args.keep)
    load = os.getloadavg()
    print(f"soak (seed {seed}, {len(rounds)} rounds, {time.monotonic() - t0:.0f}s, load {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}): kills {totals['kills']} (store creation {totals['kills_store']}, "
          f"report {totals['kills_report']}, random {totals['kills_random']}; {totals['ended_before_kill']} "
          f"runs ended first), cells lost {totals['cells_lost']}/{totals['cells']}, duplicate FINISHED runs "
          f"{totals['duplicates']}, runs left RUNNING {totals['running']}, tracebacks seen "
          f"{totals['tracebacks']} (final runs {totals['final_tracebacks']}), final runs failed "
          f"{totals['final_failed']}, torn reports {totals['reports_torn']}", flush=True)
    if args.keep:
        print(f"projects kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    bad = (totals["cells_lost"] or totals["duplicates"] or totals["running"] or totals["final_tracebacks"]
           or totals["final_failed"] or totals["bad_exits"] or totals["reports_torn"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
