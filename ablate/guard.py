"""The change guard: results of two different studies never mix under one name.

A study whose defining content changed after some of its cells finished is refused (with what changed,
field by field, and the two ways forward); one changed before any cell finished just runs, its earlier
attempt set aside under `<name>@<old hash>` (MLflow experiment and Optuna studies, nothing deleted), as
`--fresh` does on request. A lost MLflow store (the Optuna study finished cells MLflow has no run of) is
refused too, since its results could not be reported.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from ablate.errors import StudyChanged
from ablate.scheduler import storage as st
from ablate.study import flatten

if TYPE_CHECKING:
    from ablate.study import Study
    from ablate.tracking.writer import Tracker


def guard_changes(study: Study, tracker: Tracker, ostorage, fresh: bool, quiet: bool = False) -> None:
    """Refuse a changed study (or a lost MLflow store) while cells of the recorded one finished; a study
    changed before any of its cells finished just runs (what was tried is set aside, nothing is lost)."""

    parent = tracker.find_parent(study)
    old = tracker.parent_hash(parent) if parent else None
    recorded, finished = st.recorded(study, ostorage)  # the Optuna study's hash and COMPLETE cells
    old = old or recorded
    lost = parent is None and finished > 0 and old == study.study_hash  # the MLflow store is not the one
    if lost and not fresh:
        raise StudyChanged(lost_message(study, tracker.uri, finished))
    if old == study.study_hash and not lost:
        _check_arm_names(study, tracker, parent, fresh, ostorage)
        return
    if old is None:
        return
    if parent is not None:
        finished += len(tracker.cell_records(parent, status="FINISHED"))
    if not fresh and finished:
        raise StudyChanged(changed_message(study, old, tracker.parent_study(parent) if parent else None))
    aside = _start_afresh(study, tracker, ostorage, old)
    if not fresh and not quiet:
        print(f"study '{study.name}' changed before any of its cells finished: it runs as it is now (the "
              f"earlier attempt is kept as '{aside}')", file=sys.stderr)


def _check_arm_names(study: Study, tracker: Tracker, parent: str | None, fresh: bool, ostorage) -> None:
    """Same hash, other arm names: the runs were made when arms were named in the file's factor order.
    Their cells would look new (and train again), so say so instead."""
    if parent is None:
        return
    recorded = set(tracker.parent_record(parent).arms)
    names = {a.name for a in study.arms()}
    if not recorded or recorded == names:
        return
    if fresh:
        _start_afresh(study, tracker, ostorage, study.study_hash)
        return
    raise StudyChanged(f"study '{study.name}' was run by an older ablate, which named arms in the file's "
                       f"factor order ({', '.join(sorted(recorded - names)[:4])}); arms are now named in "
                       f"factor-name order ({', '.join(sorted(names - recorded)[:4])}), so its finished cells "
                       f"would not be recognized. Start it afresh (the old runs are kept, moved aside):\n"
                       f"      ablate run {study.source} --fresh")


def lost_message(study: Study, uri: str, finished: int) -> str:
    return (f"study '{study.name}': the Optuna storage holds {finished} finished cell(s), but the MLflow store "
            f"{uri} has no run of this study: its results (metrics, curves, weights) are not there to report. "
            "Either point --tracking-uri / MLFLOW_TRACKING_URI at the store the study ran with, or start the "
            f"study afresh (the Optuna study is kept, moved aside):\n      ablate run {study.source} --fresh")


def changed_message(study: Study, old_hash: str, recorded: dict | None, worker: bool = False) -> str:
    """What changed (field by field, when the recorded study can be read) and the two ways forward."""
    lines = [f"study '{study.name}' ({study.source}) differs from the study whose cells are recorded under "
             f"that name: its defining content hashes to {study.study_hash[:12]}, the recorded runs' to "
             f"{old_hash[:12]}."]
    if recorded is not None:
        diff = _diff(flatten(recorded), flatten(study.canonical()))
        lines += ["what changed (recorded -> now):", *diff[:12]]
        if len(diff) > 12:
            lines.append(f"  ... and {len(diff) - 12} more")
    if worker:
        lines.append("A worker must use the same study file as the study it joins: copy that file here.")
        return "\n".join(lines)
    lines += ["Results of two different studies must not mix. Either:",
              f"  - give the changed study a new `name:` (it then runs beside '{study.name}'), or",
              f"  - start '{study.name}' afresh; the old runs are kept, moved aside as "
              f"'{study.name}@{old_hash[:12]}' (MLflow experiment and Optuna study):",
              f"      ablate run {study.source} --fresh"]
    return "\n".join(lines)


def _diff(old: dict[str, object], new: dict[str, object]) -> list[str]:
    missing = object()
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            show = lambda v: "(absent)" if v is missing else json.dumps(v)  # noqa: E731
            out.append(f"  {key}: {show(a)} -> {show(b)}")
    return out


def _start_afresh(study: Study, tracker: Tracker, ostorage, old_hash: str) -> str:
    """Move the old MLflow experiment and Optuna studies aside under a hash-suffixed name; returns it."""

    aside = _free_name(study.name, old_hash, tracker, ostorage)
    tracker.set_aside(study.name, aside)
    st.set_aside(ostorage, study.name, aside)
    return aside


def _free_name(name: str, old_hash: str, tracker: Tracker, ostorage) -> str:
    """`name@hash`, or `name@hash.2`... if a study went back and forth: nothing set aside is overwritten."""

    taken = st.study_names(ostorage)
    for i in range(1, 1000):
        aside = f"{name}@{old_hash[:12]}" + (f".{i}" if i > 1 else "")
        if aside not in taken and not tracker.experiment_exists(aside):
            return aside
    raise StudyChanged(f"study '{name}' has been set aside 999 times; give it a new `name:`")
