"""train.Logger over one MLflow run: epoch metrics in one log_batch at most once a second (never per step);
the cell's dataset as an MLflow input; its final metrics and files (weights histogram, checkpoint) in one
artifact upload."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from ablate.records import CHECKPOINT_MODEL, Tag

# Epoch metrics are written at most this often: every epoch keeps its own step and timestamp, so the MLflow
# UI draws the same curves, up to a second late. An SQL store's log_batch costs ~10 ms of Python (MLflow's
# ORM, latest-metrics upsert) and a write lock other workers wait on: one per 70 ms epoch (the quickstart's)
# was 13% of a cell; an epoch of a second or more is written as it ends, as before.
WRITE_EVERY_S = 1.0
DATASET_CONTEXT = "training"  # the MLflow UI's context column: what the run did with the dataset


def _now_ms() -> int:
    return int(time.time() * 1000)


def run_tags(tags: dict[str, object]) -> list[RunTag]:
    """Tags as MLflow takes them; a None value is left out (never the string "None")."""
    return [RunTag(k, str(v)) for k, v in tags.items() if v is not None]


class MlflowLogger:
    """train.Logger over one MLflow run."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client, self.run_id = client, run_id
        self.last_epoch, self.pending, self.written = 0, [], time.monotonic()

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        ts = _now_ms()
        self.last_epoch = epoch
        self.pending += [Metric(k, float(v), ts, epoch) for k, v in metrics.items()]
        if time.monotonic() - self.written >= WRITE_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Write the epochs not yet written (a failed or pruned cell's too, before its run is closed)."""
        batch, self.pending = self.pending, []
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000], synchronous=True)
        self.written = time.monotonic()

    def log_dataset(self, facts: dict[str, str]) -> None:
        """The cell's dataset (artifacts.dataset_facts) in the run's Datasets panel, context `training`."""
        dataset = Dataset(name=facts["name"], digest=facts["digest"], source_type=facts["source_type"],
                          source=facts["source"], schema=facts.get("schema"), profile=facts.get("profile"))
        inputs = [DatasetInput(dataset, [InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXT)])]
        for attempt in range(3):
            try:
                self.client.log_inputs(self.run_id, inputs)
                return
            except MlflowException as e:
                # two workers logging the same new dataset at once: MLflow inserts it twice (check, then
                # insert) and one insert fails on the unique key; once it exists, a retry only links it
                if attempt == 2 or not any(w in str(e) for w in ("UNIQUE constraint", "duplicate key")):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def log_final(self, metrics: dict[str, float], artifacts: dict[str, object]) -> None:
        """Final metrics, then every file in one upload: JSON-able values as .json, bytes as they are."""
        ts = _now_ms()
        self.pending += [Metric(k, float(v), ts, self.last_epoch) for k, v in metrics.items()]
        self.flush()  # with the last epochs: one write
        if not artifacts:
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, obj in artifacts.items():
                path = Path(tmp, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(obj, bytes):
                    path.write_bytes(obj)
                else:
                    path.write_text(json.dumps(obj), encoding="utf-8")
            self.client.log_artifacts(self.run_id, tmp)
        model = artifacts.get(CHECKPOINT_MODEL)
        if isinstance(model, dict):
            self.set_tags({Tag.CHECKPOINT: f"{model['weights']}, epoch {model['epoch']}"})

    def set_tags(self, tags: dict[str, object]) -> None:
        self.client.log_batch(self.run_id, tags=run_tags(tags))
