"""MLflow -> tidy pandas tables: everything a report needs, read back from the tracking store alone.

A report must be rebuildable on any machine that sees the store, long after the study ran, so nothing here
reads the study file, the Optuna storage or local state. All MLflow calls live in the two clearly marked
functions `_fetch_runs` and `log_report_artifacts` (DESIGN: side effects at the edges; they may move into
`ablate/tracking.py`). Everything else works on plain data and is testable without a store.
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.errors import AblateError

# Logged once at the end of a cell (step = last epoch); they are not curves, so no history is fetched.
FINAL_METRICS = ("test_acc", "test_loss", "best_val_acc", "best_epoch", "stopped_epoch", "ece")
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
class StudyInfo:
    """The parent run: what the study was and where it ran (provenance for the report header)."""

    name: str
    run_id: str
    study_hash: str = ""
    description: str = ""
    design: str = ""
    metric: str = "test_acc"
    direction: str = "maximize"
    arms: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    model: str = ""
    dataset: str = ""
    git_commit: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    machine: str = ""
    created: str = ""
    precision: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def baseline(self) -> str | None:
        """The arm every other arm is compared with: `baseline` when the design has it."""
        return "baseline" if "baseline" in self.arms else None


@dataclass
class Results:
    """One study as tidy tables: `cells` (one row per cell run), `history` (long per-epoch metrics)."""

    study: StudyInfo
    cells: pd.DataFrame
    history: pd.DataFrame
    weights: dict[str, dict[str, Any]]  # run_id -> weights.json ({"edges", "counts", "layers"})
    params: dict[str, dict[str, str]]  # run_id -> the cell's flattened params
    tracking_uri: str = ""

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


def load_results(study_name: str, tracking_uri: str) -> Results:
    """Read one study back from MLflow; raises AblateError naming the store when the study is absent."""
    parent, children, histories, weights = _fetch_runs(study_name, tracking_uri)
    study = parse_study(parent)
    cells, params = parse_cells(children, study.factors)
    cells = dedupe_cells(cells)
    kept = set(cells["run_id"])
    # curves and weights are the ablation's: a tune trial runs the tune arm under its own settings, and its
    # curves would blend into that arm's (the tune section reads the tune phase's own record instead)
    curves = set(cells.loc[cells["phase"] != "tune", "run_id"])
    history = parse_history({k: v for k, v in histories.items() if k in curves}, cells)
    return Results(
        study=study,
        cells=cells,
        history=history,
        weights={k: v for k, v in weights.items() if k in curves},
        params={k: v for k, v in params.items() if k in kept},
        tracking_uri=tracking_uri,
    )


# --------------------------------------------------------------------------------------------------------
# MLflow reads (the only place in this module that touches the store)
# --------------------------------------------------------------------------------------------------------
def _fetch_runs(study_name: str, tracking_uri: str):
    """Parent run, child runs, per-epoch histories and weight histograms of one study, as MLflow objects.

    Histories are fetched only for curve metrics (final metrics are single points already on the run) and
    in a few threads, since a study of 32 cells with per-layer norms means hundreds of small queries.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per cell is noise
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        known = [e.name for e in client.search_experiments()]
        raise AblateError(
            f"no study named {study_name!r} in the MLflow store {tracking_uri} "
            f"(experiments there: {', '.join(sorted(known)) or 'none'})"
        )
    exp_ids = [experiment.experiment_id]
    parents = _search_all(client, exp_ids, "tags.`ablate.role` = 'parent'")
    if not parents:
        raise AblateError(
            f"experiment {study_name!r} in {tracking_uri} has no ablate parent run "
            f"(tag ablate.role=parent); was it created by `ablate run`?"
        )
    parent = max(parents, key=lambda r: r.info.start_time or 0)
    children = [
        r
        for r in _search_all(client, exp_ids, "tags.`ablate.role` = 'cell'")
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]

    def history_of(run):
        keys = [k for k in run.data.metrics if k not in FINAL_METRICS]
        return run.info.run_id, {
            k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)] for k in keys
        }

    def weights_of(run):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = client.download_artifacts(run.info.run_id, "weights.json", tmp)
            except (MlflowException, OSError):
                return run.info.run_id, None
            return run.info.run_id, json.loads(Path(path).read_text())

    with ThreadPoolExecutor(max_workers=4) as pool:
        histories = dict(pool.map(history_of, children))
        weights = {k: v for k, v in pool.map(weights_of, children) if v is not None}
    return parent, children, histories, weights


def _search_all(client, experiment_ids: list[str], filter_string: str) -> list:
    """search_runs over every page (a big study outgrows one page of 1000 runs)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def log_report_artifacts(tracking_uri: str, parent_run_id: str, files: list[Path]) -> None:
    """Attach the report to the study's parent run, so the MLflow UI links straight to it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    for path in files:
        client.log_artifact(parent_run_id, str(path), artifact_path="report")


# --------------------------------------------------------------------------------------------------------
# Parsing: MLflow objects -> plain tables (duck-typed on run.info / run.data)
# --------------------------------------------------------------------------------------------------------
def parse_study(parent) -> StudyInfo:
    """Tags of the parent run -> StudyInfo; a missing or malformed tag degrades to empty, never crashes."""
    tags = dict(parent.data.tags)
    return StudyInfo(
        name=tags.get("ablate.study", ""),
        run_id=parent.info.run_id,
        study_hash=tags.get("ablate.study_hash", ""),
        description=tags.get("ablate.description", ""),
        design=tags.get("ablate.design", ""),
        metric=tags.get("ablate.metric", "test_acc"),
        direction=tags.get("ablate.direction", "maximize"),
        arms=tuple(str(a) for a in _json_tag(tags, "ablate.arms", [])),
        factors=tuple(str(f) for f in _json_tag(tags, "ablate.factors", [])),
        seeds=tuple(int(s) for s in _json_tag(tags, "ablate.seeds", [])),
        model=tags.get("ablate.model", ""),
        dataset=tags.get("ablate.dataset", ""),
        git_commit=tags.get("git.commit", ""),
        versions={str(k): str(v) for k, v in _json_tag(tags, "ablate.versions", {}).items()},
        machine=tags.get("ablate.machine", ""),
        created=tags.get("ablate.created", ""),
        precision=tags.get("ablate.precision", ""),
        tags={k: v for k, v in tags.items() if not k.startswith("mlflow.")},
        params=dict(parent.data.params),
    )


def _json_tag(tags: dict[str, str], key: str, default):
    try:
        value = json.loads(tags[key])
    except (KeyError, TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def parse_cells(children: list, factors: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """One row per child run: identity, status, factor switches (bool columns) and final metric values."""
    rows, params = [], {}
    for run in children:
        tags, info = run.data.tags, run.info
        row = {
            "run_id": info.run_id,
            "run_name": info.run_name or tags.get("mlflow.runName", ""),
            "cell_id": tags.get("ablate.cell_id", info.run_id),
            "status": info.status,
            "arm": tags.get("ablate.arm", ""),
            "seed": _to_int(tags.get("ablate.seed")),
            "phase": tags.get("ablate.phase", "ablate"),
            "trial_number": _to_int(tags.get("optuna.trial_number")),
            "failure": tags.get("ablate.failure", ""),
            "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True) if info.start_time else pd.NaT,
            "duration_s": (info.end_time - info.start_time) / 1000
            if info.end_time and info.start_time
            else None,
        }
        for name in factors:
            row[name] = tags.get(f"ablate.factors.{name}", "off") == "on"
        # a multi-level factor's level label (ablate/report/levels.py plots the metric against it)
        row.update(
            {
                f"level:{k[len('ablate.levels.') :]}": v
                for k, v in tags.items()
                if k.startswith("ablate.levels.")
            }
        )
        row.update(run.data.metrics)
        rows.append(row)
        params[info.run_id] = dict(run.data.params)
    frame = pd.DataFrame(rows, columns=None if rows else CELL_COLUMNS + list(factors))
    for name in factors:
        frame[name] = frame[name].astype(bool)
    frame["seed"] = frame["seed"].astype("Int64")
    frame["trial_number"] = frame["trial_number"].astype("Int64")
    return frame, params


def _to_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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
