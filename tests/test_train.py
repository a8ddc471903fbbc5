"""The training loop: deterministic per cell, paired across arms by seed, fails diverging cells cleanly."""

from __future__ import annotations

import pytest
import torch

from ablate.errors import CellFailed
from ablate.regularizers import cell_regularizers
from ablate.train import fit
from ablate.validate import validate_study

EPOCH_KEYS = {"train_loss", "train_acc", "val_loss", "val_acc", "gap_acc", "overfit_ratio", "l1_norm",
              "l2_norm", "sparsity", "lr", "epoch_seconds"}
FINAL_KEYS = {"test_acc", "test_loss", "best_val_acc", "best_epoch", "stopped_epoch", "ece"}


def _strip_time(history):
    return [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]


def test_same_cell_twice_gives_identical_metrics(tiny_raw):
    tiny_raw["factors"] = {"dropout": {"p": 0.3}, "augment": {"crop": 1, "flip": True, "rotation": 10}}
    cell = validate_study(tiny_raw).cells()[-1]
    a, b = fit(cell), fit(cell)
    assert _strip_time(a.history) == _strip_time(b.history)
    assert a.final == b.final


def test_seeds_differ_and_arms_share_the_init(tiny_raw):
    study = validate_study(tiny_raw)
    by_id = {c.cell_id: c for c in study.cells()}
    s0, s1 = fit(by_id["baseline/seed0"]), fit(by_id["baseline/seed1"])
    assert s0.final != s1.final
    # paired seeds: l2 changes only the loss, so at init (before any step) both arms hold the same weights
    from ablate.data import DATASETS
    from ablate.train import build_model

    weights = []
    for cid in ("baseline/seed0", "l2/seed0"):
        cell = by_id[cid]
        torch.manual_seed(cell.seed)
        data = DATASETS.get(cell.study.data.name).load(cell.study.data)
        weights.append(torch.cat([p.flatten() for p in build_model(cell, data, cell_regularizers(cell)).parameters()]))
    assert torch.equal(*weights)


def test_every_epoch_and_final_metric_is_reported(tiny_raw):
    result = fit(validate_study(tiny_raw).cells()[0])
    assert len(result.history) == 2
    for h in result.history:
        assert EPOCH_KEYS <= set(h) and any(k.startswith("norm/") for k in h)
        assert h["gap_acc"] == pytest.approx(h["train_acc"] - h["val_acc"])
        assert h["overfit_ratio"] == pytest.approx(h["val_loss"] / h["train_loss"])
    assert FINAL_KEYS <= set(result.final)
    assert 0.0 <= result.final["ece"] <= 1.0 and 0.0 <= result.final["test_acc"] <= 1.0


def test_diverging_loss_fails_the_cell_with_its_epoch(tiny_raw):
    # sgd with lr * lambda = 1000 multiplies the weights by -999 per step: they overflow within an epoch
    tiny_raw["train"].update(optimizer="sgd", lr=100.0, momentum=0.9)
    tiny_raw.update(always={}, factors={"l2": {"lambda": 10.0}})
    with pytest.raises(CellFailed, match=r"diverged at epoch 1"):
        fit(validate_study(tiny_raw).cells()[-1])


def test_bf16_precision_trains(tiny_raw):
    tiny_raw["train"]["precision"] = "bf16"
    result = fit(validate_study(tiny_raw).cells()[0])
    assert result.final["test_acc"] > 0.1
