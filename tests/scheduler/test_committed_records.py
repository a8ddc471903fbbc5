"""A committed record is never dropped, and a finished cell is never trained again (issue 27, item 2).

Two independent guards: the journal refuses damage inside its last complete line (rather than dropping it as
"never committed", which forgot a finished cell); and a claimed cell that MLflow already holds a FINISHED run
of is adopted, not trained (whatever lost its trial)."""

from __future__ import annotations

import dataclasses

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ablate import worker
from ablate.errors import AblateError
from ablate.orchestrate import open_run
from ablate.scheduler.schedule import Schedule
from ablate.scheduler.storage import open_storage
from ablate.studyrun import RunOptions
from ablate.validate import validate_study


def _journal_with_finished_trials(path) -> bytes:
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    return path.read_bytes()


def test_damage_inside_the_last_complete_journal_line_is_refused_not_dropped(tmp_path):
    path = tmp_path / "optuna.journal"
    data = bytearray(_journal_with_finished_trials(path))
    start = data.rstrip(b"\n").rfind(b"\n") + 1  # the last line: the trial's COMPLETE
    for i in (start + 5, start + 20):  # 2 bytes flipped, the newline kept
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    line = data.count(b"\n")
    with pytest.raises(AblateError) as e:
        open_storage(str(path))
    assert f"line {line} is not a valid record" in str(e.value)
    assert f"mv {path} {path}.broken" in str(e.value)
    assert path.read_bytes() == bytes(data)  # nothing dropped


def test_a_torn_last_line_without_its_newline_is_still_dropped(tmp_path, capsys):
    path = tmp_path / "optuna.journal"
    whole = _journal_with_finished_trials(path)
    path.write_bytes(whole + b'{"op_code": 5, "worker_id": "x')
    storage = open_storage(str(path))
    assert path.read_bytes() == whole and "half-written last record" in capsys.readouterr().err
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2


def test_a_cell_mlflow_holds_as_finished_is_adopted_when_claimed_not_trained(tiny_raw, workdir, monkeypatch):
    tiny_raw.update(seeds=1)
    tiny_raw["train"]["epochs"] = 1
    study = validate_study(tiny_raw)
    run = open_run(study, None, None, RunOptions(quiet=True))
    run.schedule.enqueue(study)
    assert worker.run_cells(run, wait=False) == 4
    first = {r.cell_id: r.run_id for r in run.parent.cell_records(status="FINISHED")}
    # the queue forgets every finished cell (a lost journal record; here a fresh storage), and enqueues
    # each again without the start-up adoption: only the claim-time check stands between them and training
    run = dataclasses.replace(run, schedule=Schedule.open(study, "other.journal"))
    ostudy = run.schedule.ostudy
    assert run.schedule.enqueue(study).enqueued == 4
    trained = []
    monkeypatch.setattr(worker, "run_one", lambda *a, **k: trained.append(a[1].cell_id))
    events = []
    worker.run_cells(run.with_emit(lambda kind, **data: events.append((kind, data))), wait=False)
    assert trained == []
    finished, failed = run.schedule.outcomes(study)
    assert finished == {c.cell_id for c in study.cells()} and not failed
    records = run.parent.cell_records(status="FINISHED")
    assert sorted(r.cell_id for r in records) == sorted(first)  # one FINISHED run per cell, none added
    adopted = {t.user_attrs["ablate.cell_id"]: t for t in ostudy.get_trials() if t.user_attrs.get("ablate.adopted")}
    assert {c: t.user_attrs["ablate.run_id"] for c, t in adopted.items()} == first
    assert sorted(d["cell"] for k, d in events if k == "done" and d["status"] == "FINISHED") == sorted(first)
