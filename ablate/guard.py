"""The change guard: results of two different studies never mix, and a changed study is a variant.

A study whose defining content (its hash) differs from what ran under its name is a *variant*: its own
parent run in the same MLflow experiment (found by hash), its own Optuna study (`<name>@<hash12>`; the first
variant keeps `<name>`), its own report, named by what differs (`train.epochs=2 seeds=1`). Nothing of
another variant is set aside or blocked. `--fresh` starts this variant afresh (its Optuna study moved
aside, its parent run retired; nothing deleted). A lost MLflow store (this variant's Optuna study finished
cells MLflow has no parent of) is refused, since its results could not be reported.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ablate.errors import StudyChanged
from ablate.scheduler import storage as st
from ablate.study import flatten

if TYPE_CHECKING:
    from ablate.study import Study
    from ablate.tracking.writer import Tracker

LABEL_FIELDS = 6  # a variant's name lists at most this many differing fields


def guard_changes(study: Study, tracker: Tracker, ostorage, fresh: bool, quiet: bool = False,
                  overrides: tuple[str, ...] = ()) -> str:
    """Refuse a lost MLflow store; `--fresh` sets this variant's earlier runs aside. Returns the variant's
    name ("" for the study's first variant)."""

    parent = tracker.find_parent(study)
    recorded, finished = st.recorded(study, ostorage)  # this variant's Optuna study: its hash, COMPLETE cells
    lost = parent is None and finished > 0 and recorded == study.study_hash  # the MLflow store is not the one
    if lost and not fresh:
        raise StudyChanged(lost_message(study, tracker.uri, finished))
    if fresh and (parent is not None or recorded is not None):
        _start_afresh(study, tracker, ostorage, parent)
    elif parent is not None:
        _check_arm_names(study, tracker, parent)
    return variant_label(study, tracker, overrides)


def variant_label(study: Study, tracker: Tracker, overrides: tuple[str, ...] = ()) -> str:
    """What tells this variant from the study's first one: the overrides given, else the fields that differ
    (`train.lr=0.02`); "" for the first variant itself."""
    first = tracker.find_parent(study, first=True)
    if first is None or tracker.parent_hash(first) == study.study_hash:
        return ""
    if overrides:
        return " ".join(overrides)
    recorded = tracker.parent_study(first)
    if recorded is None:
        return study.study_hash[:12]
    old, new, missing = flatten(recorded), flatten(study.canonical()), object()
    parts = [f"{k}={'(absent)' if new.get(k, missing) is missing else json.dumps(new[k])}"
             for k in sorted(set(old) | set(new)) if old.get(k, missing) != new.get(k, missing)]
    more = [f"+{len(parts) - LABEL_FIELDS} more"] if len(parts) > LABEL_FIELDS else []
    return " ".join(parts[:LABEL_FIELDS] + more) or study.study_hash[:12]


def _check_arm_names(study: Study, tracker: Tracker, parent: str | None) -> None:
    """Same hash, other arm names: the runs were made when arms were named in the file's factor order.
    Their cells would look new (and train again), so say so instead."""
    if parent is None:
        return
    recorded = set(tracker.parent_record(parent).arms)
    names = {a.name for a in study.arms()}
    if not recorded or recorded == names:
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


def changed_message(study: Study, old_hash: str, recorded: dict | None) -> str:
    """A worker whose study matches no running variant: what differs from the first one, field by field."""
    lines = [f"study '{study.name}' ({study.source}) differs from the study whose cells are recorded under "
             f"that name: its defining content hashes to {study.study_hash[:12]}, the recorded runs' to "
             f"{old_hash[:12]}."]
    if recorded is not None:
        diff = _diff(flatten(recorded), flatten(study.canonical()))
        lines += ["what changed (recorded -> now):", *diff[:12]]
        if len(diff) > 12:
            lines.append(f"  ... and {len(diff) - 12} more")
    lines.append("A worker must use the same study file (and overrides) as the study variant it joins.")
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


def _start_afresh(study: Study, tracker: Tracker, ostorage, parent: str | None) -> str:
    """Move this variant's Optuna studies aside (`<its name>@aside<k>`) and retire its parent run (its cells
    stay under it, RUNNING ones closed as KILLED); returns the name the Optuna study was moved to."""

    name = st.optuna_name(study, ostorage)
    taken = st.study_names(ostorage)
    aside = next(f"{name}@aside{i}" for i in range(1, 10**6) if f"{name}@aside{i}" not in taken)
    st.set_aside(ostorage, name, aside)
    if parent is not None:
        tracker.retire_parent(parent, f"set aside as '{aside}' (ablate run --fresh) before it finished")
    return aside
