"""Issue 5's framework parts: the compile cache, the per-process device copy of a dataset, the runtime tags a
cell records, the SQLite store's WAL mode, and epoch metrics written at most once a second. (The speed
figures themselves are `make bench`'s.)"""

from __future__ import annotations

import sqlite3

import pytest
import torch

from ablate import train
from ablate.data.base import DataSpec
from ablate.models import MODELS
from ablate.records import Tag
from ablate.tracking import Tracker
from ablate.validate import validate_study

SPEC = DataSpec(kind="image", num_classes=3, in_channels=1, image_size=(6, 6))


def _cnn(seed: int, **reg) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MODELS.get("cnn").build(MODELS.get("cnn").Params(width=2), SPEC, **reg)


def test_compile_cache_shares_one_compiled_module_per_shape_with_each_cells_weights():
    cache = train.WorkerCache()
    first, second = _cnn(0), _cnn(1)
    want = {k: v.clone() for k, v in second.state_dict().items()}
    model_a, net_a = cache.compiled_module(first, torch.device("cpu"), False)
    model_b, net_b = cache.compiled_module(second, torch.device("cpu"), False)
    assert model_b is model_a is first and net_b is net_a  # one compiled module, reused
    got = model_b.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # ... trained from the second cell's init
    model_c, net_c = cache.compiled_module(_cnn(0, dropout=0.5), torch.device("cpu"), False)
    assert net_c is not net_a and len(cache.compiled) == 2  # another structure: its own entry


class _FunctionalDropout(torch.nn.Module):
    """A knob kept as a plain attribute, as timm keeps drop_rate: repr() does not show it."""

    def __init__(self, p: float):
        super().__init__()
        self.fc, self.p = torch.nn.Linear(4, 3), p

    def forward(self, x):
        return self.fc(torch.nn.functional.dropout(x, self.p, self.training))


def test_compile_cache_keeps_apart_networks_that_differ_only_in_a_knob_repr_does_not_show():
    cache = train.WorkerCache()
    off, on = _FunctionalDropout(0.0), _FunctionalDropout(0.5)
    assert repr(off) == repr(on)
    model_off, _ = cache.compiled_module(off, torch.device("cpu"), False, built_with="dropout=0.0")
    model_on, _ = cache.compiled_module(on, torch.device("cpu"), False, built_with="dropout=0.5")
    assert model_on is on and model_on.p == 0.5 and model_off.p == 0.0 and len(cache.compiled) == 2


def test_a_worker_copies_a_dataset_to_the_device_once(tiny_raw):
    study = validate_study(tiny_raw)
    cache = train.WorkerCache()
    data = cache.dataset(study.data)
    assert cache.dataset(study.data) is data  # ... and loads it once
    x1, y1 = cache.on_device(data, torch.device("cpu"))
    x2, y2 = cache.on_device(data, torch.device("cpu"))
    assert x1 is x2 and y1 is y2 and x1["train"].data_ptr() == data.x_train.data_ptr()


def test_a_cell_records_how_it_ran_and_the_sqlite_store_is_in_wal_mode(tiny_raw, tmp_path):
    tiny_raw["train"].update(epochs=1, precision="bf16")
    cell = validate_study(tiny_raw).cells()[0]
    db = tmp_path / "mlflow.db"
    tracker = Tracker(f"sqlite:///{db}")
    run_id = tracker.start_cell(tracker.start_parent(cell.study), cell, 0)
    train.fit(cell, tracker.logger(run_id))
    tags = tracker.client.get_run(run_id).data.tags
    assert tags[Tag.PRECISION] == "bf16" and tags[Tag.CHANNELS_LAST] == "true"
    assert tags[Tag.DEVICE].startswith("cpu") and tags[Tag.COMPILE] == "false"
    assert int(tags[Tag.TORCH_THREADS]) >= 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_worker_cache_loads_a_rewritten_data_file_again(tmp_path):
    import os

    from ablate.data.text import TextCsv

    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"w{i} v{i % 3},{i % 2}\n" for i in range(40)))
    params = TextCsv.Params(name="text_csv", path=str(path))
    cache = train.WorkerCache()
    first = cache.dataset(params)
    assert cache.dataset(params) is first
    path.write_text("text,label\n" + "".join(f"x{i} y{i % 5},{i % 2}\n" for i in range(40)))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later mtime, whatever the clock says
    again = cache.dataset(params)
    assert again is not first and again.spec.vocab_size != first.spec.vocab_size


def _cell_and_logger(tiny_raw, tmp_path, epochs: int):
    tiny_raw["train"]["epochs"] = epochs
    tiny_raw["data"]["train_subset"] = 200
    cell = validate_study(tiny_raw).cells()[0]
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = tracker.start_cell(tracker.start_parent(cell.study), cell, 0)
    writes = []
    log_batch = tracker.client.log_batch

    def counted(run_id, metrics=(), **kwargs):  # the real call, counted when it carries metrics
        if metrics:
            writes.append(len(metrics))
        return log_batch(run_id, metrics=metrics, **kwargs)

    tracker.client.log_batch = counted
    return cell, tracker, run_id, writes


@pytest.mark.parametrize("every, writes_for_6_epochs", [(3600.0, 1), (0.0, 7)])
def test_epoch_metrics_are_written_at_most_once_a_second_and_every_epoch_keeps_its_step(
        tiny_raw, tmp_path, monkeypatch, every, writes_for_6_epochs):
    from ablate.tracking import logger

    monkeypatch.setattr(logger, "WRITE_EVERY_S", every)
    cell, tracker, run_id, writes = _cell_and_logger(tiny_raw, tmp_path, epochs=6)
    result = train.fit(cell, tracker.logger(run_id))
    # fast epochs: one write with the final metrics; epochs slower than the interval: one each, and the last
    # epoch goes with the final metrics
    assert len(writes) == writes_for_6_epochs
    history = tracker.client.get_metric_history(run_id, "val_acc")
    assert [m.step for m in history] == [1, 2, 3, 4, 5, 6]
    assert [m.value for m in history] == pytest.approx([h["val_acc"] for h in result.history])
    stamps = [m.timestamp for m in history]
    assert stamps == sorted(stamps)  # each epoch keeps the time it ended, not the time it was written
    run = tracker.client.get_run(run_id)
    assert run.data.metrics["val_acc"] == pytest.approx(result.history[-1]["val_acc"])  # the latest: epoch 6


def test_a_cell_stopped_mid_way_has_its_epochs_written_before_its_run_is_closed(tiny_raw, tmp_path, monkeypatch):
    from ablate import worker
    from ablate.tracking import logger

    monkeypatch.setattr(logger, "WRITE_EVERY_S", 3600.0)
    cell, tracker, run_id, writes = _cell_and_logger(tiny_raw, tmp_path, epochs=6)

    def ctrl_c_after(epoch: int, epochs: int) -> None:
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        worker._fit(cell, tracker.logger(run_id), on_epoch=ctrl_c_after)
    assert len(writes) == 1
    assert [m.step for m in tracker.client.get_metric_history(run_id, "train_loss")] == [1, 2, 3]


def test_a_store_that_refuses_the_last_epochs_does_not_turn_a_ctrl_c_into_another_error(tiny_raw, tmp_path,
                                                                                         monkeypatch):
    from ablate import worker
    from ablate.tracking import logger

    monkeypatch.setattr(logger, "WRITE_EVERY_S", 3600.0)
    cell, tracker, run_id, writes = _cell_and_logger(tiny_raw, tmp_path, epochs=6)

    def closed_then_ctrl_c(epoch: int, epochs: int) -> None:
        if epoch == 2:
            tracker.client.delete_run(run_id)  # MLflow refuses metrics for a deleted run
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        worker._fit(cell, tracker.logger(run_id), on_epoch=closed_then_ctrl_c)
    assert len(writes) == 1  # tried (and refused): the Ctrl-C is what comes out, as the failure policy needs
    assert tracker.client.get_metric_history(run_id, "train_loss") == []
