"""Seeds until decided, in a running study: decide once after the initial seeds, then run the seeds asked.

A study with `seeds: {initial, max}` runs its initial seeds for every arm; when every one of those cells
has finished (or failed for good), the decision (report/stats/sequential.py: Stein's two-stage procedure,
from the stage-1 spread) is computed from the MLflow store, recorded on the parent run (a JSON artifact,
then the tag that marks it made) and never computed again: a resumed or joined study reads it back and
runs the same seeds. The extra cells, for every arm so that seeds stay paired, go through the scheduler's
enqueue-once machinery like any other cell.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ablate.study import Study
    from ablate.studyrun import StudyRun


def with_seeds(study: Study, decision: dict | None) -> Study:
    """The study with the seeds a decision asks for (unchanged without one, or for fixed seeds)."""
    if not study.seed_max or not decision:
        return study
    seeds = max(len(study.seeds), min(int(decision.get("seeds", 0)), study.seed_max))
    return dataclasses.replace(study, seeds=tuple(range(seeds)))


def recorded(run: StudyRun) -> StudyRun:
    """The run with its study as the recorded decision extends it (a resume, or a worker joining)."""
    if not run.study.seed_max:
        return run
    return run.with_study(with_seeds(run.study, run.parent.seed_decision()))


def decide(run: StudyRun, settled: bool) -> StudyRun | None:
    """After stage 1: the run with its study extended when seeds are to be added now; None when nothing more
    runs (fixed seeds, already decided, or stage-1 cells still unsettled). Computed once, then read back."""
    study, parent = run.study, run.parent
    if not study.seed_max or parent.seed_decision() is not None or not settled:
        return None
    from ablate.report.results import load_results
    from ablate.report.stats.sequential import decide_seeds

    decision = decide_seeds(load_results(study.name, parent.uri), len(study.seeds), study.seed_max)
    if decision is None:
        return None
    parent.record_seed_decision(decision)
    decision = parent.seed_decision() or decision  # another coordinator's, if it wrote last
    if not run.options.quiet:
        total, initial = decision["seeds"], len(study.seeds)
        capped = ", capped at seeds.max" if decision.get("capped") else ""
        print(f"seeds until decided: every verdict decided by the initial {initial} seeds; none added"
              if total <= initial else
              f"seeds until decided: {total} seeds in all ({total - initial} added to the initial {initial}"
              f"{capped})", file=sys.stderr)
    return _extended(run, decision)


def await_decision(run: StudyRun, wait_seconds: float) -> StudyRun | None:
    """A worker that ran out of stage-1 cells waits a while for the decision; the run with its study
    extended if the decision asks for more seeds than the worker had, else None."""
    if not run.study.seed_max:
        return None
    deadline = time.monotonic() + wait_seconds
    while (decision := run.parent.seed_decision()) is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(2.0)
    return _extended(run, decision)


def _extended(run: StudyRun, decision: dict) -> StudyRun | None:
    extended = with_seeds(run.study, decision)
    return run.with_study(extended) if len(extended.seeds) > len(run.study.seeds) else None
