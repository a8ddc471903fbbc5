"""Writing a study: experiment per study, parent run per study, child run per cell, epoch metrics in batches.

Writes go through MlflowClient with explicit run ids (no fluent global state), so several worker processes
can log at once, and a cell's epoch metrics are one log_batch call a second at most (logger.WRITE_EVERY_S).
What is written is spelled in records.py; every read returns records (plain values), so no module outside
this package ever holds an MLflow object.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from mlflow.entities import Param
from mlflow.exceptions import MlflowException

from ablate.artifacts import cell_config
from ablate.errors import AblateError
from ablate.records import (
    CONFIG_ARTIFACT,
    DESIGN_ARTIFACT,
    PARENT_ASIDE,
    RESOLVED_STUDY_ARTIFACT,
    SEQUENTIAL_ARTIFACT,
    STUDY_ARTIFACT,
    TAG_LIMIT,
    TRAINING_EXPERIMENT,
    TUNE_HISTORY_ARTIFACT,
    TUNE_IMPORTANCES_ARTIFACT,
    CellRecord,
    ParentRecord,
    Tag,
    json_tag,
)
from ablate.study import Cell, Study
from ablate.testpoints import pause_point
from ablate.tracking import provenance
from ablate.tracking.client import (
    ARTIFACT_DIR,  # noqa: F401  (re-exported by ablate.tracking)
    artifact_json,
    artifact_location,
    cell_of,
    close_running,
    make_client,
    parent_run,
    resolve_uri,
    search_all,
)
from ablate.tracking.logger import MlflowLogger, run_tags
from ablate.tracking.summary import log_arm_summary

SYSTEM_METRICS_ENV = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"  # MLflow's own switch; `--system-metrics` sets it
SYSTEM_METRICS_SECONDS = 2.0  # sampling interval (MLflow's 10 s would miss every cell of a quick study)
NOTE_LIMIT = 5000


def cell_note(cell: Cell, name: str | None = None) -> str:
    """A child run's description in the MLflow UI: which cell, what is on, and the study's question."""
    study = cell.study
    on = [f.name + (f"={label}" if (label := cell.level_labels().get(f.name)) else "")
          for f in study.factors if cell.arm.on(study.factors)[f.name]]
    head = f"tune trial {name} on arm {cell.arm.name}" if name else f"{cell.arm.name} / seed {cell.seed}"
    first = re.split(r"(?<=[.?!])\s", " ".join(study.description.split()), maxsplit=1)[0]  # its first sentence
    return f"{head}: {', '.join(on) or 'no factor'} on" + (f"; {first}" if first else "")


def parent_record(study: Study) -> ParentRecord:
    """What a study's parent run records about it (the design's record included)."""
    arms = study.arms()
    return ParentRecord(
        study=study.name, study_hash=study.study_hash, description=study.description, design=study.design.name,
        metric=study.metric.name, direction=study.metric.resolved_direction, arms=tuple(a.name for a in arms),
        factors=tuple(f.name for f in study.factors), seeds=tuple(study.seeds), model=study.model.name,
        dataset=study.data.name, precision=study.train.precision, git_commit=provenance.git_commit(),
        versions=provenance.versions(), machine=provenance.machine(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        design_record=study.design_record(arms), analysis=analysis_record(study),
    )


def analysis_record(study: Study) -> dict[str, object]:
    """What the statistics need beyond the design: the margin a study set, and its seeds-until-decided plan."""
    out: dict[str, object] = {}
    if study.metric.min_effect is not None:
        out["min_effect"] = study.metric.min_effect
    if study.seed_max:
        out["seeds"] = {"initial": len(study.seeds), "max": study.seed_max}
    return out


def cell_record(parent_id: str, cell: Cell, trial_number: int, phase: str = "ablate",
                name: str | None = None) -> CellRecord:
    """A cell run's identity; `name` (a tune trial's) replaces the cell id as run name and cell id."""
    study = cell.study
    return CellRecord(
        study=study.name, arm=cell.arm.name, seed=cell.seed, cell_id=name or cell.cell_id,
        study_hash=study.study_hash, phase=phase, trial_number=trial_number,
        factors=cell.arm.on(study.factors), levels=cell.level_labels(), parent_run_id=parent_id,
        git_commit=provenance.git_commit(), worker=provenance.worker(), run_name=name or cell.cell_id,
    )


class Tracker:
    def __init__(self, uri: str | None = None, system_metrics: bool | None = None):
        """system_metrics: sample CPU, memory, disk, network (and GPU) into each cell run (`system/...`);
        None: as MLflow's MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING says (`--system-metrics` sets it, so local
        worker processes inherit it)."""
        self.uri = resolve_uri(uri)
        self.client = make_client(self.uri)
        self._experiments: dict[str, str] = {}  # parent run id -> experiment id (one lookup per worker)
        if system_metrics is None:
            system_metrics = os.environ.get(SYSTEM_METRICS_ENV, "").lower() in ("1", "true")
        self.system_metrics = system_metrics
        self._monitors: dict = {}  # run id -> its SystemMetricsMonitor

    # ----------------------------------------------------------------------------------------- experiments
    def experiment_id(self, name: str, create: bool = True) -> str | None:
        """Creating the store happens here, once, in the parent process (never concurrently in workers)."""
        exp = self.client.get_experiment_by_name(name)
        if exp is not None and exp.lifecycle_stage == "deleted":
            raise AblateError(f"the MLflow experiment '{name}' was deleted (in {self.uri}); restore it "
                              f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) or remove it "
                              f"for good (`mlflow gc`), or give the study a new `name:`")
        if exp is not None:
            return exp.experiment_id
        if not create:
            return None
        location = artifact_location(self.uri)
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:  # another machine created it a moment ago
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    # ----------------------------------------------------------------------------------------- parent run
    def find_parent(self, study: Study, first: bool = False) -> str | None:
        """This variant's parent run (by study hash); first=True: the study's first variant's, whatever its hash."""
        exp_id = self.experiment_id(study.name, create=False)
        if exp_id is None:
            return None
        run = parent_run(self.client, exp_id, None if first else study.study_hash)
        return run.info.run_id if run else None

    def retire_parent(self, run_id: str, reason: str) -> None:
        """`--fresh`: this variant's parent is no longer found (its cells stay under it, RUNNING ones closed)."""
        self.client.set_tag(run_id, Tag.ROLE, PARENT_ASIDE)
        close_running(self.client, self.client.get_run(run_id).info.experiment_id, reason, parent_id=run_id)
        if self.client.get_run(run_id).info.status == "RUNNING":  # nothing will write to it again
            self.client.set_terminated(run_id, "KILLED")

    def parent_record(self, run_id: str) -> ParentRecord:
        run = self.client.get_run(run_id)
        return ParentRecord.from_mlflow(run_id, run.data.tags, run.data.params)

    def parent_hash(self, run_id: str) -> str | None:
        return self.parent_record(run_id).study_hash or None

    def start_parent(self, study: Study, study_text: str | None = None, overrides: tuple[str, ...] = (),
                     variant: str = "") -> str:
        """Find the study's parent run again (resume) or create it with provenance and the study file.

        A parent whose setup a kill cut short is completed (READY marks a complete one); of two parents
        created at the same moment by two machines, the younger is deleted and the older used.
        """
        exp_id = self.experiment_id(study.name)
        self._mark_experiment(exp_id, study)
        found = self.find_parent(study)
        if found and self.parent_record(found).ready:
            return found
        record = parent_record(study)
        if found is None:
            tags = {**record.to_mlflow(), **self._parent_extras(study, overrides)}
            if variant:
                tags[Tag.VARIANT] = variant[:TAG_LIMIT]
            name = f"{study.name} [{variant}]"[:250] if variant else study.name
            mine = self.client.create_run(exp_id, tags={**tags, Tag.RUN_NAME: name}, run_name=name).info.run_id
            pause_point("parent.created")
            found = self.find_parent(study)
            if found != mine:
                self.client.delete_run(mine)
        self.client.log_dict(found, record.design_record, DESIGN_ARTIFACT)
        shared = study.cells()[0].flat_params()  # model/data/train settings are the same in every cell
        self._log_params(found, ParentRecord.setup_params(shared, len(record.arms), len(record.arms) * len(study.seeds)))
        if overrides:
            self._log_params(found, {"overrides": " ".join(overrides)})
        self.client.log_text(found, study_text or json.dumps(study.canonical(), indent=2), STUDY_ARTIFACT)
        self.client.log_dict(found, study.canonical(), RESOLVED_STUDY_ARTIFACT)
        self._set_tags(found, ParentRecord.ready_tags())
        return found

    def _mark_experiment(self, exp_id: str, study: Study) -> None:
        """A training experiment (the MLflow UI then opens on its runs table, not the GenAI page) whose
        description is the study's; set on old experiments too, and only when it differs."""
        have = self.client.get_experiment(exp_id).tags
        want = {Tag.EXPERIMENT_KIND: TRAINING_EXPERIMENT, Tag.NOTE: study.description.strip()[:NOTE_LIMIT]}
        for key, value in want.items():
            if value and have.get(key) != value:
                _once_more(self.client.set_experiment_tag, exp_id, key, value)

    @staticmethod
    def _parent_extras(study: Study, overrides: tuple[str, ...]) -> dict[str, str]:
        extras = {Tag.NOTE: study.description.strip()[:NOTE_LIMIT], Tag.OVERRIDES: " ".join(overrides)[:5000]}
        return {k: v for k, v in extras.items() if v}

    def finish_study(self, parent_id: str) -> None:
        """The study's last cell is settled: the per-arm summary on the parent, then the parent closed."""
        log_arm_summary(self.client, parent_id)
        self.finish(parent_id, "FINISHED")

    def parent_study(self, run_id: str) -> dict | None:
        """The canonical study a parent run recorded (to say what changed), or None if it cannot be read."""
        return artifact_json(self.client, run_id, RESOLVED_STUDY_ARTIFACT)

    def tuned(self, parent_id: str) -> dict[str, float] | None:
        """The tune phase's frozen values recorded on the parent run, or None when not yet frozen."""
        return self.parent_record(parent_id).tuned

    def record_tuned(self, parent_id: str, frozen: dict[str, float], summary: dict) -> None:
        """Params `tuned.<path>`, the tune artifacts, then the tune tags: TUNED marks the record complete."""
        self._log_params(parent_id, ParentRecord.tuned_params(frozen))
        self.client.log_dict(parent_id, summary.get("importances", {}), TUNE_IMPORTANCES_ARTIFACT)
        self.client.log_dict(parent_id, summary, TUNE_HISTORY_ARTIFACT)
        self._set_tags(parent_id, ParentRecord.tune_tags(frozen, summary))

    def seed_decision(self, parent_id: str) -> dict | None:
        """The recorded seeds-until-decided decision (stats/sequential.py), or None before it is made."""
        decision = self.parent_record(parent_id).analysis.get("sequential")
        return decision if isinstance(decision, dict) else None

    def record_seed_decision(self, parent_id: str, decision: dict) -> None:
        """The artifact first, then the tag: the tag's presence marks the decision made (read on resume)."""
        self.client.log_dict(parent_id, decision, SEQUENTIAL_ARTIFACT)
        self._set_tags(parent_id, {Tag.ANALYSIS + "sequential": json_tag(decision)})

    # ----------------------------------------------------------------------------------------- cell runs
    def start_cell(self, parent_id: str, cell: Cell, trial_number: int, phase: str = "ablate",
                   name: str | None = None) -> str:
        """A child run; `name` (a tune trial's) replaces the cell id as run name and cell id."""
        record = cell_record(parent_id, cell, trial_number, phase, name)
        tags = {**record.to_mlflow(), Tag.NOTE: cell_note(cell, name)[:NOTE_LIMIT]}
        run = self.client.create_run(self._experiment_of(parent_id), tags=tags, run_name=record.run_name)
        run_id = run.info.run_id
        self._log_params(run_id, cell.flat_params())
        self.client.log_dict(run_id, cell_config(cell), CONFIG_ARTIFACT)
        if self.system_metrics:
            self._monitors[run_id] = _monitor(run_id, self.uri)
        return run_id

    def _experiment_of(self, parent_id: str) -> str:
        if parent_id not in self._experiments:
            self._experiments[parent_id] = self.client.get_run(parent_id).info.experiment_id
        return self._experiments[parent_id]

    def finish(self, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
        if (monitor := self._monitors.pop(run_id, None)) is not None:
            monitor.finish()  # its last samples land before the run closes
        if reason:
            self._set_tags(run_id, CellRecord.failure_tags(reason))
        self.client.set_terminated(run_id, status=status)

    def logger(self, run_id: str) -> MlflowLogger:
        return MlflowLogger(self.client, run_id)

    def cell_records(self, parent_id: str, status: str | None = None, cell_id: str | None = None) -> list[CellRecord]:
        """Child runs of a parent (any phase), newest first; only one cell's (a claim's check), if given."""
        filt = f"tags.`{Tag.PARENT_RUN_ID}` = '{parent_id}'" + (f" and attributes.status = '{status}'" if status else "")
        if cell_id:
            filt += f" and tags.`{Tag.CELL_ID}` = '{cell_id.replace(chr(39), chr(39) * 2)}'"
        return [cell_of(r) for r in search_all(self.client, [self._experiment_of(parent_id)], filt)]

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    # ----------------------------------------------------------------------------------------- helpers
    def _set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=run_tags(tags))

    def _log_params(self, run_id: str, params: dict) -> None:
        """A None setting is left out (an unset option), never logged as the string "None"."""
        items = [Param(k, str(v)[:6000]) for k, v in params.items() if v is not None]
        for i in range(0, len(items), 100):
            _once_more(self.client.log_batch, run_id, params=items[i:i + 100])


def _once_more(write, *args, **kwargs) -> None:
    """A write that two processes make at the same moment (two `ablate run` starting one study: the same
    params on the same parent run, the same experiment tag). MLflow's SQL store reads what exists, then
    inserts what is new; the slower insert hits the unique key and fails. Tried again, it reads what the other
    process committed: equal params are skipped, a different value is MLflow's own error, a tag is updated.
    Any other failure fails again and is raised."""
    try:
        write(*args, **kwargs)
    except MlflowException:
        write(*args, **kwargs)


def _monitor(run_id: str, uri: str):
    """MLflow's own system-metrics sampler on one run (a thread; psutil reads the machine)."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError as e:  # psutil missing
        raise AblateError(f"--system-metrics needs psutil ({e}): pip install 'ablate[system-metrics]'") from None
    monitor = SystemMetricsMonitor(run_id, sampling_interval=SYSTEM_METRICS_SECONDS, tracking_uri=uri)
    monitor.start()
    return monitor
