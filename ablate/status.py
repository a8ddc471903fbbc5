"""`ablate status STUDY`: where a study stands, from its stores alone (any machine that sees them).

The cells come from the study file (with its overrides) or, given only a name, from the MLflow parent run's
arms and seeds; their states from the Optuna storage (scheduler/census.py); the parent run from MLflow.
Nothing is written, so it is safe beside running workers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ablate.errors import AblateError
from ablate.scheduler.census import DONE, FAILED, RUNNING, WAITING, CellState, census
from ablate.scheduler.storage import resolve_storage
from ablate.tracking import resolve_uri
from ablate.tracking.reader import find_parent, variant_ref
from ablate.uri import redact_uri
from ablate.validate import load_study

STATES = (DONE, RUNNING, FAILED, WAITING)


@dataclass
class StudyStatus:
    name: str
    cells: list[CellState]
    storage: str
    tracking_uri: str
    parent_run_id: str = ""
    parent_status: str = ""
    study_hash: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(c.state for c in self.cells)

    def by_host(self) -> dict[str, Counter]:
        out: dict[str, Counter] = {}
        for c in self.cells:
            if c.worker:
                out.setdefault(c.host, Counter())[c.state] += 1
        return out

    @property
    def updated(self) -> datetime | None:
        times = [c.updated for c in self.cells if c.updated is not None]
        return max(times) if times else None


def _cell_ids(arms, seeds) -> list[str]:
    return [f"{arm}/seed{seed}" for arm in arms for seed in seeds]  # as study.Cell.cell_id spells them


def study_status(target: str, overrides: tuple[str, ...] = (), storage: str | None = None,
                 tracking_uri: str | None = None, plugins: tuple[str, ...] = (), variant: str | None = None) -> StudyStatus:
    """A study file (its effective study) or a study name -> its status; AblateError when no store has it."""

    storage, uri = resolve_storage(storage), resolve_uri(tracking_uri)
    ids, name, want_hash = [], target, ""
    if target.endswith((".yaml", ".yml")) or Path(target).is_file():

        study = load_study(target, overrides, plugins)
        name, want_hash, ids = study.name, study.study_hash, [c.cell_id for c in study.cells()]
    if variant:  # a variant's hash, by its name (or hash prefix) as `ablate run` printed it
        want_hash = variant_ref(name, variant, uri)[0].partition("@")[2]  # "" for the first variant
    found = find_parent(f"{name}@{want_hash[:12]}" if want_hash else name, uri)
    parent, parent_status = found if found else (None, "")
    if parent is not None and not ids:
        ids = _cell_ids(parent.arms, parent.seeds)
    cells = census(storage, f"{name}@{want_hash[:12]}", ids) if want_hash else None  # a variant's Optuna study
    unrun = want_hash and parent is None and cells is None  # a variant not started: not the first one's cells
    cells = cells if cells is not None or unrun else census(storage, name, ids)
    if unrun and find_parent(name, uri) is None and census(storage, name, ids) is None:
        unrun = False  # no variant of the study at all: an unknown study
    if cells is None and parent is None and not unrun:
        raise AblateError(f"no study named {name!r} in the Optuna storage {redact_uri(storage)} or the MLflow store "
                          f"{redact_uri(uri)} (start it with `ablate run`, or give --storage/--tracking-uri)")
    status = StudyStatus(name, cells or [], storage, uri, parent.run_id if parent else "", parent_status,
                         parent.study_hash if parent else "")
    if cells is None:
        if not unrun:
            status.notes.append(f"the Optuna storage {redact_uri(storage)} has no study {name!r}: cell states "
                                "unknown")
        status.cells = [CellState(cid, WAITING) for cid in ids]
    if want_hash and not parent:
        status.notes.append(f"no variant of {name!r} with this study's hash ({want_hash[:12]}) has run yet: "
                            "`ablate run` starts it as a variant")
    return status


def _ago(when: datetime) -> str:
    seconds = (datetime.now(timezone.utc) - when.astimezone(timezone.utc)).total_seconds()
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h ago"


def format_status(s: StudyStatus, limit: int = 20) -> str:
    counts = s.counts
    lines = [f"study '{s.name}': {len(s.cells)} cells: " + ", ".join(f"{counts[k]} {k}" for k in STATES)]
    lines.append(f"  MLflow {redact_uri(s.tracking_uri)}: " + (
        f"parent run {s.parent_run_id} ({s.parent_status}, hash {s.study_hash[:12]})" if s.parent_run_id
        else "no parent run yet"))
    when = s.updated
    lines.append(f"  Optuna {redact_uri(s.storage)}: last update "
                 + (f"{when.astimezone().isoformat(timespec='seconds')} ({_ago(when)})" if when else "none"))
    lines += [f"  note: {n}" for n in s.notes]
    hosts = s.by_host()
    if hosts:
        lines.append("by worker host:")
        width = max(len(h) for h in hosts)
        for host, c in sorted(hosts.items()):
            lines.append(f"  {host:<{width}}  " + "  ".join(f"{k} {c[k]}" for k in STATES[:3] if c[k]))
    for state, title in ((RUNNING, "running"), (FAILED, "failed")):
        rows = [c for c in s.cells if c.state == state]
        if rows:
            lines.append(f"{title}:")
            for c in rows[:limit]:
                extra = f" on {c.worker}" if c.worker and state == RUNNING else ""
                since = f" since {c.updated.astimezone().strftime('%H:%M:%S')}" if c.updated and state == RUNNING \
                    else ""
                why = f": {c.reason.splitlines()[0]}" if c.reason else ""
                lines.append(f"  {c.cell_id}{extra}{since}{why}")
            if len(rows) > limit:
                lines.append(f"  ... and {len(rows) - limit} more")
    return "\n".join(lines)


def finished_answer(s: StudyStatus, reports_dir: Path) -> tuple[object | None, str]:
    """A finished study's answer (report/answer.py) as its report left it in reports_dir, and a note (no
    report there, or one older than the last cell); (None, "") while cells are running or waiting."""
    counts = s.counts
    if not s.cells or counts[RUNNING] or counts[WAITING]:
        return None, ""
    from ablate.orchestrate import report_slug
    from ablate.report.answer import Answer  # pandas and the statistics: ~1 s, only for a finished study

    folder = reports_dir / report_slug(s.name)
    answer = Answer.read(folder, s.name)
    if answer is None:
        return None, f"no report in {folder} yet: build it with `ablate report {s.name}`"
    when = s.updated
    if answer.report is not None and when is not None and answer.report.stat().st_mtime < when.timestamp():
        return answer, f"note: the report in {folder} is older than the last cell: `ablate report {s.name}` rebuilds it"
    return answer, ""

