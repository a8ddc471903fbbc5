"""The schema of what ablate stores: every MLflow tag and Optuna attribute name, in one place. A study is one
MLflow parent run (`ParentRecord`) and one child run per cell (`CellRecord`), frozen plain values: `to_mlflow()`
gives the tags to write, `from_mlflow()` reads them back from plain dicts, so only tracking/ holds an MLflow
object and everything else shares one spelling of each name. Nothing here imports torch/MLflow/Optuna."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ablate.records_names import Tag, TrialAttr  # noqa: F401  (re-exported: `from ablate.records import Tag`)

PARENT, CELL, TUNED_PARAM = "parent", "cell", "tuned."
PARENT_ASIDE = "parent-set-aside"  # a parent run `--fresh` retired: its cells stay, no lookup finds it  # TUNED_PARAM + setting path: a tune phase's frozen value
TAG_LIMIT = 7900  # MLflow keeps 8000 characters of a tag value
DESIGN_ARTIFACT = "design.json"


def json_tag(value: object, limit: int = TAG_LIMIT) -> str:
    """JSON for a tag; a value too long for one says where the whole of it is (the design artifact)."""
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else json.dumps({"truncated": True, "artifact": DESIGN_ARTIFACT})


def _json(tags: dict[str, str], key: str, default):
    try:
        value = json.loads(tags[key])
    except (KeyError, TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ParentRecord:
    """One study's parent run: what the study is, where it ran, and what its tune phase froze."""

    study: str
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
    precision: str = ""
    git_commit: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    machine: str = ""
    created: str = ""
    design_record: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)  # what the statistics need beyond the design
    ready: bool = False
    tuned: dict[str, float] | None = None
    tune_importances: dict[str, float] = field(default_factory=dict)
    tune_importance_method: str = ""
    tune_optuna_study: str = ""
    run_id: str = ""  # read back only
    params: dict[str, str] = field(default_factory=dict)  # read back only
    tags: dict[str, str] = field(default_factory=dict)  # read back only: every tag, as stored

    def to_mlflow(self) -> dict[str, str]:
        """The tags a new parent run is created with (READY and the tune tags are written later)."""
        tags = {
            Tag.ROLE: PARENT, Tag.STUDY: self.study, Tag.HASH: self.study_hash,
            Tag.DESCRIPTION: self.description[:5000], Tag.DESIGN: self.design, Tag.METRIC: self.metric,
            Tag.DIRECTION: self.direction, Tag.ARMS: json.dumps(list(self.arms)),
            Tag.FACTORS: json.dumps(list(self.factors)), Tag.SEEDS: json.dumps(list(self.seeds)),
            Tag.MODEL: self.model, Tag.DATASET: self.dataset, Tag.PRECISION: self.precision,
            Tag.GIT_COMMIT: self.git_commit, Tag.VERSIONS: json.dumps(self.versions), Tag.MACHINE: self.machine,
            Tag.CREATED: self.created, Tag.RUN_NAME: self.study,
        }
        tags.update({Tag.DESIGN_RECORD + k: json_tag(v) for k, v in self.design_record.items()})
        tags.update({Tag.ANALYSIS + k: json_tag(v) for k, v in self.analysis.items()})
        return {k: v for k, v in tags.items() if v != ""}

    @staticmethod
    def setup_params(shared: dict[str, object], n_arms: int, n_cells: int) -> dict[str, object]:
        """The parent run's params: the model/data/train settings every cell shares, and the study's size."""
        params = {k: v for k, v in shared.items() if k.split(".")[0] in ("model", "data", "train")}
        return {**params, "n_arms": n_arms, "n_cells": n_cells}

    @staticmethod
    def tuned_params(frozen: dict[str, float]) -> dict[str, float]:
        """The tune phase's frozen values as parent params `tuned.<path>` (searchable in the MLflow UI)."""
        return {TUNED_PARAM + k: v for k, v in frozen.items()}

    @staticmethod
    def ready_tags() -> dict[str, str]:
        return {Tag.READY: "1"}

    @staticmethod
    def verdict_tags(verdicts: dict[str, str]) -> dict[str, str]:
        """factor -> its verdict in words, as parent tags: searchable (`tags.`ablate.verdict.l2` LIKE 'helps%'`)."""
        return {Tag.VERDICT + factor: text[:TAG_LIMIT] for factor, text in verdicts.items()}

    @staticmethod
    def tune_tags(frozen: dict[str, float], summary: dict) -> dict[str, str]:
        """The tune phase's record; TUNED goes last, since its presence marks the record complete."""
        return {Tag.TUNE_IMPORTANCES: json.dumps(summary.get("importances", {}))[:TAG_LIMIT],
                Tag.TUNE_IMPORTANCE_METHOD: str(summary.get("importance_method", ""))[:TAG_LIMIT],
                Tag.TUNE_OPTUNA_STUDY: str(summary.get("optuna_study", ""))[:TAG_LIMIT],
                Tag.TUNED: json.dumps(frozen)[:TAG_LIMIT]}

    @classmethod
    def from_mlflow(cls, run_id: str, tags: dict[str, str], params: dict[str, str] | None = None) -> ParentRecord:
        """A parent run's tags back as a record; a missing or malformed tag degrades to empty, never raises."""
        tags = dict(tags)
        tuned = _json(tags, Tag.TUNED, {}) if Tag.TUNED in tags else None
        design_record, analysis = {}, {}
        for key in tags:
            for prefix, into in ((Tag.DESIGN_RECORD, design_record), (Tag.ANALYSIS, analysis)):
                if key.startswith(prefix):
                    try:
                        into[key[len(prefix):]] = json.loads(tags[key])
                    except ValueError:
                        continue
        return cls(
            study=tags.get(Tag.STUDY, ""), study_hash=tags.get(Tag.HASH, ""),
            description=tags.get(Tag.DESCRIPTION, ""), design=tags.get(Tag.DESIGN, ""),
            metric=tags.get(Tag.METRIC, "test_acc"), direction=tags.get(Tag.DIRECTION, "maximize"),
            arms=tuple(str(a) for a in _json(tags, Tag.ARMS, [])),
            factors=tuple(str(f) for f in _json(tags, Tag.FACTORS, [])),
            seeds=tuple(s for s in (_int(x) for x in _json(tags, Tag.SEEDS, [])) if s is not None),
            model=tags.get(Tag.MODEL, ""), dataset=tags.get(Tag.DATASET, ""),
            precision=tags.get(Tag.PRECISION, ""), git_commit=tags.get(Tag.GIT_COMMIT, ""),
            versions={str(k): str(v) for k, v in _json(tags, Tag.VERSIONS, {}).items()},
            machine=tags.get(Tag.MACHINE, ""), created=tags.get(Tag.CREATED, ""), design_record=design_record,
            analysis=analysis, ready=tags.get(Tag.READY) == "1", tuned=tuned,
            tune_importances=_json(tags, Tag.TUNE_IMPORTANCES, {}),
            tune_importance_method=tags.get(Tag.TUNE_IMPORTANCE_METHOD, ""),
            tune_optuna_study=tags.get(Tag.TUNE_OPTUNA_STUDY, ""),
            run_id=run_id, params=dict(params or {}), tags=tags,
        )


@dataclass(frozen=True)
class CellRecord:
    """One cell run (or one tune trial's run): its identity, its factor switches, and what it measured."""

    study: str
    arm: str
    seed: int | None
    cell_id: str
    study_hash: str = ""
    phase: str = "ablate"
    trial_number: int | None = None
    factors: dict[str, bool] = field(default_factory=dict)  # factor -> on
    levels: dict[str, str] = field(default_factory=dict)  # factor with levels -> the level's label
    parent_run_id: str = ""
    git_commit: str = ""
    worker: str = ""
    failure: str = ""  # read back only (written by tracking.finish)
    tune_state: str = ""  # read back only
    pruned: str = ""  # read back only
    runtime: dict[str, str] = field(default_factory=dict)  # read back only: device, precision, ...
    run_id: str = ""  # read back only
    run_name: str = ""
    status: str = ""  # read back only: RUNNING | FINISHED | FAILED | KILLED
    start_time_ms: int | None = None  # read back only
    end_time_ms: int | None = None  # read back only
    metrics: dict[str, float] = field(default_factory=dict)  # read back only: each metric's last value
    params: dict[str, str] = field(default_factory=dict)  # read back only

    def to_mlflow(self) -> dict[str, str]:
        tags = {
            Tag.PARENT_RUN_ID: self.parent_run_id, Tag.ROLE: CELL, Tag.STUDY: self.study,
            Tag.HASH: self.study_hash, Tag.ARM: self.arm, Tag.SEED: "" if self.seed is None else str(self.seed),
            Tag.PHASE: self.phase, Tag.CELL_ID: self.cell_id,
            Tag.TRIAL_NUMBER: "" if self.trial_number is None else str(self.trial_number),
            Tag.GIT_COMMIT: self.git_commit, Tag.WORKER: self.worker,
            **{Tag.FACTOR + k: "on" if v else "off" for k, v in self.factors.items()},
            **{Tag.LEVEL + k: v for k, v in self.levels.items()},
        }
        return {k: v for k, v in tags.items() if v != ""}

    @staticmethod
    def failure_tags(reason: str) -> dict[str, str]:
        return {Tag.FAILURE: reason[:5000]}

    @staticmethod
    def tune_tags(state: str, pruned: str = "") -> dict[str, str]:
        return {Tag.TUNE_STATE: state, **({Tag.PRUNED: pruned[:5000]} if pruned else {})}

    @staticmethod
    def runtime_tags(device: str, precision: str, channels_last: bool, compiled: bool, threads: int) -> dict:
        """How the cell really ran, resolved where it is decided (train.fit)."""
        return {Tag.DEVICE: device, Tag.PRECISION: precision, Tag.CHANNELS_LAST: str(channels_last).lower(),
                Tag.COMPILE: str(compiled).lower(), Tag.TORCH_THREADS: str(threads)}

    @classmethod
    def from_mlflow(cls, run_id: str, tags: dict[str, str], params: dict[str, str] | None = None,
                    metrics: dict[str, float] | None = None, status: str = "", run_name: str = "",
                    start_time_ms: int | None = None, end_time_ms: int | None = None) -> CellRecord:
        runtime_keys = (Tag.DEVICE, Tag.PRECISION, Tag.CHANNELS_LAST, Tag.COMPILE, Tag.TORCH_THREADS)
        return cls(
            study=tags.get(Tag.STUDY, ""), arm=tags.get(Tag.ARM, ""), seed=_int(tags.get(Tag.SEED)),
            cell_id=tags.get(Tag.CELL_ID, run_id), study_hash=tags.get(Tag.HASH, ""),
            phase=tags.get(Tag.PHASE, "ablate"), trial_number=_int(tags.get(Tag.TRIAL_NUMBER)),
            factors={k[len(Tag.FACTOR):]: v == "on" for k, v in tags.items() if k.startswith(Tag.FACTOR)},
            levels={k[len(Tag.LEVEL):]: v for k, v in tags.items() if k.startswith(Tag.LEVEL)},
            parent_run_id=tags.get(Tag.PARENT_RUN_ID, ""), git_commit=tags.get(Tag.GIT_COMMIT, ""),
            worker=tags.get(Tag.WORKER, ""), failure=tags.get(Tag.FAILURE, ""),
            tune_state=tags.get(Tag.TUNE_STATE, ""), pruned=tags.get(Tag.PRUNED, ""),
            runtime={k[len("ablate."):]: tags[k] for k in runtime_keys if k in tags},
            run_id=run_id, run_name=run_name or tags.get(Tag.RUN_NAME, ""), status=status,
            start_time_ms=start_time_ms, end_time_ms=end_time_ms, metrics=dict(metrics or {}),
            params=dict(params or {}),
        )


@dataclass(frozen=True)
class StudyRecords:
    """Everything a report reads about one study, as plain values (tracking.read_study fills it)."""

    parent: ParentRecord
    cells: list[CellRecord]
    histories: dict[str, dict[str, list[tuple[int, float]]]]  # run id -> metric -> [(epoch, value)]
    weights: dict[str, dict]  # run id -> weights.json ({"edges", "counts", "layers"})
    tune_summary: dict | None = None  # the parent's tune/history.json, when the study had a tune phase
    tracking_uri: str = ""
    artifacts_missing: str = ""  # why finished cells' artifacts could not be read (their folder is gone)


# Cell metrics logged once at the end (step = last epoch): not curves, so no history is read for them.
FINAL_METRICS = ("test_acc", "test_loss", "best_val_acc", "best_epoch", "stopped_epoch", "ece")
LAYER_NORM_METRIC = "norm/"  # + layer name: a cell's per-layer L2 norm, per epoch
WEIGHTS_ARTIFACT, CONFIG_ARTIFACT = "weights.json", "config.json"
CHECKPOINT_STATE, CHECKPOINT_MODEL = "checkpoint/state_dict.pt", "checkpoint/model.json"
TUNE_HISTORY_ARTIFACT, TUNE_IMPORTANCES_ARTIFACT = "tune/history.json", "tune/importances.json"
STUDY_ARTIFACT, RESOLVED_STUDY_ARTIFACT, REPORT_ARTIFACT_DIR = "study.yaml", "resolved_study.json", "report"
SEQUENTIAL_ARTIFACT = "sequential.json"  # the seeds-until-decided decision (also tag ablate.analysis.sequential)
TRAINING_EXPERIMENT = "custom_model_development"  # Tag.EXPERIMENT_KIND's value (the UI's enum)


def summary_metric(metric: str, kind: str, arm: str) -> str:
    """A parent metric per arm, `test_acc_mean/dropout l2`: MLflow names allow no `+` or `=`."""
    return f"{metric}_{kind}/" + re.sub(r"[^\w./ :-]", "_", arm.replace("+", " ").replace("=", ":"))
