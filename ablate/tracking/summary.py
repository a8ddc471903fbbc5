"""The parent run's per-arm metrics, so the MLflow UI compares arms without expanding every child run.

`<metric>_mean/<arm>`: the arm's mean over its finished seeds; `<metric>_diff_vs_baseline/<arm>`: the mean of
the arm-minus-baseline differences over the seeds both finished (paired, as the report pairs them). Plain
arithmetic on records: the report's statistics (intervals, tests) stay in the report.
"""

from __future__ import annotations

import math
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from ablate.records import CellRecord, ParentRecord, Tag, summary_metric
from ablate.tracking.client import cell_of, search_all

BASELINE = "baseline"


def arm_values(cells: list[CellRecord], metric: str) -> dict[str, dict[int, float]]:
    """arm -> seed -> the metric of that cell's latest finished ablation run."""
    out: dict[str, dict[int, float]] = {}
    for c in sorted(cells, key=lambda c: c.start_time_ms or 0):
        value = c.metrics.get(metric)
        if c.phase != "ablate" or c.status != "FINISHED" or c.seed is None or value is None \
                or not math.isfinite(value):
            continue
        out.setdefault(c.arm, {})[c.seed] = value
    return out


def arm_summary(cells: list[CellRecord], metric: str) -> dict[str, float]:
    """The parent metrics (name -> value) for these cell records."""
    values = arm_values(cells, metric)
    out = {summary_metric(metric, "mean", arm): sum(v.values()) / len(v) for arm, v in values.items()}
    base = values.get(BASELINE, {})
    for arm, by_seed in values.items():
        paired = [by_seed[s] - base[s] for s in by_seed if s in base]
        if arm != BASELINE and paired:
            out[summary_metric(metric, "diff_vs_baseline", arm)] = sum(paired) / len(paired)
    return out


def log_arm_summary(client: MlflowClient, parent_id: str) -> dict[str, float]:
    """Compute the summary from the store and log it on the parent run (idempotent: step 0, last wins)."""
    parent_run = client.get_run(parent_id)
    parent = ParentRecord.from_mlflow(parent_id, parent_run.data.tags)
    runs = search_all(client, [parent_run.info.experiment_id], f"tags.`{Tag.PARENT_RUN_ID}` = '{parent_id}'")
    summary = arm_summary([cell_of(r) for r in runs], parent.metric)
    ts = int(time.time() * 1000)
    batch = [Metric(k, float(v), ts, 0) for k, v in summary.items()]
    for i in range(0, len(batch), 1000):
        client.log_batch(parent_id, metrics=batch[i:i + 1000])
    return summary
