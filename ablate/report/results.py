"""MLflow -> tidy pandas tables: everything a report needs, read back from the tracking store alone.

A report must be rebuildable on any machine that sees the store, long after the study ran, so nothing here
reads the study file, the Optuna storage or local state. The store is read by tracking.read_study, which
returns records (ablate/records.py); everything here works on those plain values, testable without a store.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from ablate.records import CellRecord, ParentRecord, StudyRecords

CELL_COLUMNS = [
    "run_id",
    "run_name",
    "cell_id",
    "status",
    "arm",
    "seed",
    "phase",
    "trial_number",
    "failure",
    "start_time",
    "duration_s",
]
HISTORY_COLUMNS = ["run_id", "arm", "seed", "epoch", "metric", "value"]


@dataclass(frozen=True)
class StudyInfo(ParentRecord):
    """The parent run as the report reads it: the record's fields (declared once, in records.py), plus what the
    report derives from them (the name, the margin, the seed plan, the baseline, what the design supports)."""

    @classmethod
    def of(cls, parent: ParentRecord) -> StudyInfo:
        """The parent record -> StudyInfo (a malformed tag has already degraded to empty in the record)."""
        return cls(**{f.name: getattr(parent, f.name) for f in fields(ParentRecord)})

    @property
    def name(self) -> str:
        return self.study

    @property
    def min_effect(self) -> float | None:
        """metric.min_effect; None: the metric's default (stats/margin.py)."""
        value = self.analysis.get("min_effect")
        return float(value) if isinstance(value, int | float) and value > 0 else None

    @property
    def seed_plan(self) -> dict[str, int]:
        """seeds: {initial, max}, when seeds are added until decided."""
        return {k: int(v) for k, v in (self.analysis.get("seeds") or {}).items() if isinstance(v, int)}

    @property
    def seed_decision(self) -> dict[str, Any] | None:
        """The recorded decision of seeds-until-decided (stats/sequential.py)."""
        decision = self.analysis.get("sequential")
        return decision if isinstance(decision, dict) else None

    @property
    def planned_epochs(self) -> int | None:
        """The epochs every cell was planned to train (train.epochs), for the convergence check."""
        try:
            return int(float(self.params["train.epochs"]))
        except (KeyError, ValueError):
            return None

    @property
    def baseline(self) -> str | None:
        """The arm every other arm is compared with: `baseline` when the design has it."""
        return "baseline" if "baseline" in self.arms else None

    def supports(self, analysis: str) -> bool:
        """Whether the design's record lists `analysis` ("factorial", "contribution", ...): each design says
        what its cells can support, so the report never branches on design names."""
        analyses = self.design_record.get("analyses")
        return isinstance(analyses, list | tuple) and analysis in analyses


@dataclass
class Results:
    """One study as tidy tables: `cells` (one row per cell run), `history` (long per-epoch metrics)."""

    study: StudyInfo
    cells: pd.DataFrame
    history: pd.DataFrame
    weights: dict[str, dict[str, Any]]  # run_id -> weights.json ({"edges", "counts", "layers"})
    params: dict[str, dict[str, str]]  # run_id -> the cell's flattened params
    tracking_uri: str = ""
    tune_summary: dict | None = None  # the tune phase's history (tune/history.json), when there was one
    artifacts_missing: str = ""  # why artifacts (weights.json) could not be read, when they could not
    # tables computed from these (computed_once): a replaced copy starts empty, so it never sees stale ones
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def arm_order(self) -> list[str]:
        """Design order first (baseline leads), then any arm the store has that the parent did not list."""
        seen = list(self.study.arms)
        extra = sorted(set(self.cells.get("arm", pd.Series(dtype=str)).dropna()) - set(seen))
        return seen + extra

    @property
    def ablation(self) -> pd.DataFrame:
        """Cells of the ablation phase (a tune phase's trials are not comparable cells)."""
        return self.cells[self.cells["phase"] != "tune"]

    @property
    def finished(self) -> pd.DataFrame:
        """Ablation cells that finished: the only rows statistics may use."""
        ablation = self.ablation
        return ablation[ablation["status"] == "FINISHED"]

    @property
    def failed(self) -> pd.DataFrame:
        """Ablation cells that did not finish (failed, killed, still running) with their reasons."""
        ablation = self.ablation
        return ablation[ablation["status"] != "FINISHED"]


def computed_once(fn):
    """A statistic of a whole Results, computed once per Results however many sections, figures and CSV
    files use it (the leaderboard's 20,000 posterior draws, the effect table's contrasts). Calls with other
    arguments are computed each time; each caller gets its own copy of a table, so none can edit another's."""

    @functools.wraps(fn)
    def once(results: Results, *args, **kwargs):
        if args or kwargs:
            return fn(results, *args, **kwargs)
        key, memo = f"{fn.__module__}.{fn.__qualname__}", results.__dict__.setdefault("_memo", {})
        if key not in memo:
            memo[key] = fn(results)
        value = memo[key]
        return value.copy() if hasattr(value, "copy") else value  # tables, dicts and lists alike

    return once


def load_results(study_name: str, tracking_uri: str) -> Results:
    """Read one study back from MLflow; raises AblateError naming the store when the study is absent."""
    from ablate.tracking import read_study

    return results_from(read_study(study_name, tracking_uri))


def results_from(records: StudyRecords) -> Results:
    """Records (plain values, however they were read) -> the tidy tables."""
    study = StudyInfo.of(records.parent)
    cells, params = parse_cells(records.cells, study.factors)
    cells = dedupe_cells(cells)
    kept = set(cells["run_id"])
    # curves and weights are the ablation's: a tune trial runs the tune arm under its own settings, and its
    # curves would blend into that arm's (the tune section reads the tune phase's own record instead)
    curves = set(cells.loc[cells["phase"] != "tune", "run_id"])
    history = parse_history({k: v for k, v in records.histories.items() if k in curves}, cells)
    return Results(
        study=study,
        cells=cells,
        history=history,
        weights={k: v for k, v in records.weights.items() if k in curves},
        params={k: v for k, v in params.items() if k in kept},
        tracking_uri=records.tracking_uri,
        tune_summary=records.tune_summary,
        artifacts_missing=records.artifacts_missing,
    )


# --------------------------------------------------------------------------------------------------------
# Parsing: records -> plain tables
# --------------------------------------------------------------------------------------------------------
def parse_cells(children: list[CellRecord], factors: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """One row per child run: identity, status, factor switches (bool columns) and final metric values."""
    rows, params = [], {}
    for run in children:
        row = {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "cell_id": run.cell_id,
            "status": run.status,
            "arm": run.arm,
            "seed": run.seed,
            "phase": run.phase,
            "trial_number": run.trial_number,
            "failure": run.failure,
            "start_time": pd.to_datetime(run.start_time_ms, unit="ms", utc=True) if run.start_time_ms else pd.NaT,
            "duration_s": (run.end_time_ms - run.start_time_ms) / 1000
            if run.end_time_ms and run.start_time_ms
            else None,
        }
        for name in factors:
            row[name] = run.factors.get(name, False)
        # a multi-level factor's level label (ablate/report/levels.py plots the metric against it)
        row.update({f"level:{k}": v for k, v in run.levels.items()})
        row.update(run.metrics)
        rows.append(row)
        params[run.run_id] = dict(run.params)
    frame = pd.DataFrame(rows, columns=None if rows else CELL_COLUMNS + list(factors))
    for name in factors:
        frame[name] = frame[name].astype(bool)
    frame["seed"] = frame["seed"].astype("Int64")
    frame["trial_number"] = frame["trial_number"].astype("Int64")
    return frame, params


def dedupe_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """One run per ablation cell: the latest FINISHED one if any, else the latest attempt.

    A resumed study leaves KILLED (interrupted) or FAILED attempts beside the run that later finished;
    counting both would double a seed. Tune-phase trials are all distinct and kept as they are.
    """
    if cells.empty:
        return cells.reset_index(drop=True)
    tune = cells[cells["phase"] == "tune"]
    ablation = cells[cells["phase"] != "tune"].assign(_done=lambda d: d["status"] == "FINISHED")
    ablation = ablation.sort_values(["_done", "start_time"], na_position="first")
    ablation = ablation.drop_duplicates("cell_id", keep="last").drop(columns="_done")
    return pd.concat([ablation, tune]).sort_values(["phase", "arm", "seed"]).reset_index(drop=True)


def parse_history(
    histories: dict[str, dict[str, list[tuple[int, float]]]], cells: pd.DataFrame
) -> pd.DataFrame:
    """Long table (run_id, arm, seed, epoch, metric, value): seaborn and groupby want it in this shape."""
    ident = cells.set_index("run_id")[["arm", "seed"]].to_dict("index")
    run_ids, metrics, epochs, values = [], [], [], []
    for run_id, per_key in histories.items():
        for key, points in per_key.items():
            for step, value in points:
                run_ids.append(run_id)
                metrics.append(key)
                epochs.append(step)
                values.append(value)
    frame = pd.DataFrame({"run_id": run_ids, "epoch": epochs, "metric": metrics, "value": values})
    frame["arm"] = frame["run_id"].map(lambda r: ident[r]["arm"])
    frame["seed"] = frame["run_id"].map(lambda r: ident[r]["seed"]).astype("Int64")
    frame = frame.drop_duplicates(["run_id", "metric", "epoch"], keep="last")
    return frame[HISTORY_COLUMNS].sort_values(["arm", "seed", "metric", "epoch"]).reset_index(drop=True)
