"""Write a synthetic study into a real MLflow store, in exactly the layout `ablate/tracking.py` writes.

No training happens: metrics follow a planted model (metric = base + sum of effects of the factors that are
on + seed noise) so report and statistics tests know the right answer. The store is real (SQLite + local
artifacts through MlflowClient), never a mock.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from ablate.records import CellRecord, ParentRecord
from ablate.tracking.store import create as create_store


def design_record(design: str, factors) -> dict:
    """What tracking records for a design of two-level factors: the analyses the design says its cells
    support and, for a contribution design, the pair of factor sets behind each factor's contribution."""
    from ablate.designs import DESIGNS
    from ablate.study import Factor

    entry = DESIGNS.get(design)()
    record = {"estimable": list(factors), "analyses": list(entry.analyses)}
    if "contribution" in entry.analyses:
        two_level = tuple(Factor(f, (None, None)) for f in factors)
        record["contributions"] = {k: [list(a), list(b)] for k, (a, b) in entry.contributions(two_level).items()}
    return record


@dataclass
class SyntheticStudy:
    name: str = "synthetic"
    factors: tuple[str, ...] = ("l2", "dropout")
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 5
    design: str = "full_factorial"
    effects: dict[str, float] = field(default_factory=lambda: {"l2": 0.02, "dropout": 0.0})
    base: float = 0.80
    noise: float = 0.005
    failures: dict[tuple[str, int], str] = field(default_factory=dict)  # (arm, seed) -> reason
    killed_then_finished: tuple[str, int] | None = None
    description: str = "A synthetic study for tests"
    arms: list[str] | None = None  # default: every combination of factors (full factorial)
    # the penalized layers each arm's network has (a real model's names; default conv1 and fc in every arm)
    layers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    failed_epochs: int = 2  # epochs a failed cell logged before failing (0: it failed before any epoch)
    model: str = "cnn"
    analysis: dict = field(default_factory=dict)  # the parent's analysis record (min_effect, classes, ...)

    def arm_list(self) -> list[tuple[str, dict[str, bool]]]:
        if self.arms is not None:
            return [(a, {f: f in a.split("+") for f in self.factors}) for a in self.arms]
        out = []
        for bits in itertools.product([False, True], repeat=len(self.factors)):
            on = {f: b for f, b in zip(self.factors, bits, strict=True)}
            name = "+".join(f for f in self.factors if on[f]) or "baseline"
            out.append((name, on))
        return sorted(out, key=lambda a: (sum(a[1].values()), a[0] != "baseline"))


def new_store(uri: str) -> str:
    """Make a SQLite store as ablate does, a copy of MLflow's empty store (tracking/template.py): MLflow's
    own ~60 migrations cost 2-7 s per store, most of a report test's time. Returns the uri."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        create_store(Path(uri[len("sqlite:///"):]))
    return uri


def write_study(uri: str, artifact_root: str, spec: SyntheticStudy) -> dict[str, str]:
    """Populate the store; returns {"parent": run_id, "<arm>/seed<k>": run_id, ...}."""
    new_store(uri)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(spec.name)
    exp_id = (
        exp.experiment_id if exp else client.create_experiment(spec.name, artifact_location=artifact_root)
    )
    arms = spec.arm_list()
    record = ParentRecord(
        study=spec.name, study_hash="abc123def456", description=spec.description, design=spec.design,
        metric="test_acc", direction="maximize", arms=tuple(a for a, _ in arms), factors=tuple(spec.factors),
        seeds=tuple(spec.seeds), model=spec.model, dataset="digits", precision="fp32", git_commit="0123456789abcdef",
        versions={"torch": "2.14.1", "mlflow": "3.17.2"}, machine="test-host (2 cores, cpu)",
        created="2026-01-01T00:00:00", design_record=design_record(spec.design, spec.factors),
        analysis=dict(spec.analysis),
    )
    parent = client.create_run(exp_id, run_name=spec.name, tags=record.to_mlflow())
    pid = parent.info.run_id
    client.log_batch(
        pid, params=[Param("train.epochs", str(spec.epochs)), Param("seeds", str(len(spec.seeds)))]
    )
    client.log_text(pid, f"name: {spec.name}\n", "study.yaml")
    ids = {"parent": pid}
    for arm, on in arms:
        for seed in spec.seeds:
            if spec.killed_then_finished == (arm, seed):
                _write_cell(client, exp_id, pid, spec, arm, on, seed, status="KILLED", reason="interrupted")
            reason = spec.failures.get((arm, seed))
            status = "FAILED" if reason else "FINISHED"
            ids[f"{arm}/seed{seed}"] = _write_cell(client, exp_id, pid, spec, arm, on, seed, status, reason)
    client.set_terminated(pid)
    return ids


def _write_cell(client, exp_id, pid, spec, arm, on, seed, status, reason=None) -> str:
    cell_id = f"{arm}/seed{seed}"
    tags = CellRecord(
        study=spec.name, arm=arm, seed=seed, cell_id=cell_id, study_hash="abc123def456", phase="ablate",
        trial_number=seed, factors={f: on[f] for f in spec.factors}, parent_run_id=pid,
        git_commit="0123456789abcdef",
    ).to_mlflow()
    if reason:
        tags.update(CellRecord.failure_tags(reason))
    run = client.create_run(exp_id, run_name=cell_id, tags=tags)
    rid = run.info.run_id
    rng = np.random.default_rng(seed * 1000 + sum(ord(c) for c in arm))
    shift = sum(spec.effects.get(f, 0.0) for f in spec.factors if on[f])
    params = [Param("seed", str(seed)), Param("train.epochs", str(spec.epochs)), Param("model.width", "8")]
    params += [Param(f"reg.{f}.strength", "0.1") for f in spec.factors if on[f]]
    epochs = spec.epochs if status == "FINISHED" else spec.failed_epochs
    layers = spec.layers.get(arm, ("conv1.weight", "fc.weight"))
    ts = int(time.time() * 1000)
    metrics = []
    l2_on = on.get("l2", False)
    for e in range(1, epochs + 1):
        train_loss = 2.0 * math.exp(-0.5 * e) + 0.05
        val_loss = train_loss * (1.1 + 0.05 * e * (0.3 if l2_on else 1.0)) + 0.01 * rng.standard_normal()
        l2 = 5.0 + e * (0.2 if l2_on else 0.6)
        values = {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "train_acc": 1 - train_loss / 3,
            "val_acc": 1 - val_loss / 3,
            "l1_norm": 40 * l2,
            "l2_norm": l2,
            **{f"norm/{layer}": l2 / (2 + i) for i, layer in enumerate(layers)},
            "sparsity": 0.01 * e,
            "lr": 1e-3,
            "epoch_seconds": 0.5,
        }
        values["gap_acc"] = values["train_acc"] - values["val_acc"]
        values["overfit_ratio"] = val_loss / train_loss
        metrics += [Metric(k, float(v), ts, e) for k, v in values.items()]
    if status == "FINISHED":
        test_acc = spec.base + shift + spec.noise * rng.standard_normal()
        final = {
            "test_acc": test_acc,
            "test_loss": 1 - test_acc,
            "best_val_acc": test_acc - 0.01,
            "best_epoch": epochs,
            "stopped_epoch": epochs,
            "ece": 0.03,
        }
        metrics += [Metric(k, float(v), ts, epochs) for k, v in final.items()]
        edges = np.linspace(-0.5, 0.5, 21)
        counts = np.histogram(rng.normal(0, 0.05 if l2_on else 0.15, 2000), edges)[0]
        weights = {
            "edges": edges.tolist(),
            "counts": counts.tolist(),
            "layers": {layers[0]: {"edges": edges.tolist(), "counts": counts.tolist()}},
        }
        client.log_dict(rid, weights, "weights.json")
    client.log_batch(rid, metrics=metrics, params=params)
    client.log_dict(rid, {"arm": arm, "seed": seed}, "config.json")
    client.set_terminated(rid, status=status)
    return rid
