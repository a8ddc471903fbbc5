"""Tune, then ablate: validation of the tune block, frozen values, resume, pruning (real stores, tiny cells)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from ablate import worker
from ablate.errors import StudyError
from ablate.orchestrate import run_study
from ablate.records import Tag, TrialAttr
from ablate.report.results import load_results
from ablate.report.sections.tune import tune_section
from ablate.scheduler import liveness, tune
from ablate.scheduler.storage import open_storage
from ablate.studyrun import StudyRun
from ablate.tracking import Tracker
from ablate.tuning import apply_tuned, tune_arm, tune_cell
from ablate.validate import validate_study

TUNE = {"trials": 3, "sampler": "random", "pruner": "median", "startup_trials": 1, "warmup_epochs": 0,
        "params": {"train.lr": {"low": 1e-6, "high": 3e-2, "log": True},
                   "factors.l2.lambda": {"low": 1e-6, "high": 1e-2, "log": True}}}


@pytest.fixture
def tuned_raw(tiny_raw):
    tiny_raw.update(name="tinytune", seeds=1, tune=json.loads(json.dumps(TUNE)))
    tiny_raw["train"]["epochs"] = 2
    return tiny_raw


@pytest.mark.parametrize("params,field,rule", [
    ({"factors.l3.lambda": {"low": 1e-4, "high": 1e-3}}, "tune.params.factors.l3.lambda", "no factor entry 'l3'"),
    ({"train.foo": {"low": 1, "high": 2}}, "tune.params.train.foo", "not a setting of train"),
    ({"train.optimizer": {"low": 1, "high": 2}}, "tune.params.train.optimizer", "only numeric settings"),
    ({"train.epochs": {"low": 1.5, "high": 3}}, "tune.params.train.epochs", "integer setting"),
    ({"factors.dropout.p": {"low": 0.1, "high": 1.0}}, "tune.params.factors.dropout.p.high", "less than 1"),
    ({"train.lr": {"low": 1e-2, "high": 1e-3}}, "tune.params.train.lr", "`low < high` must hold"),
    ({"train.lr": {"low": 0, "high": 1e-3, "log": True}}, "tune.params.train.lr", "log range needs low > 0"),
    ({"lr": {"low": 1e-4, "high": 1e-3}}, "tune.params.lr", "e.g. train.lr"),
])
def test_bad_tune_params_name_field_and_rule(tiny_raw, params, field, rule):
    tiny_raw["tune"] = {"params": params}
    with pytest.raises(StudyError) as err:
        validate_study(tiny_raw)
    assert f": {field}: " in str(err.value) and rule in str(err.value), str(err.value)


def test_tuned_factor_must_be_on_in_the_tune_arm(tiny_raw):
    tiny_raw["tune"] = {"arm": ["l2"], "params": {"factors.dropout.p": {"low": 0.1, "high": 0.5}}}
    with pytest.raises(StudyError, match="factor 'dropout' is off in the tune arm"):
        validate_study(tiny_raw)


def test_levels_cannot_be_tuned(tiny_raw):
    tiny_raw["factors"]["dropout"] = {"p": [0.0, 0.3]}
    tiny_raw["factors"]["l2"] = {"lambda": [0, 1e-3, 1e-2]}
    tiny_raw["tune"] = {"params": {"factors.l2.lambda": {"low": 1e-4, "high": 1e-2}}}
    with pytest.raises(StudyError, match="lists levels, which the ablation compares"):
        validate_study(tiny_raw)


def test_applying_tuned_values_keeps_the_identity(tuned_raw):
    study = validate_study(tuned_raw)
    tuned = apply_tuned(study, {"train.lr": 0.002, "factors.l2.lambda": 1e-4})
    assert tuned.study_hash == study.study_hash and tuned.train.lr == 0.002
    assert tuned.cells()[-1].flat_params()["reg.l2.lambda"] == 1e-4
    assert [c.cell_id for c in tuned.cells()] == [c.cell_id for c in study.cells()]
    cell = tune_cell(study, {"train.lr": 0.002, "factors.l2.lambda": 1e-4})
    assert cell.arm == tune_arm(study) and cell.arm.name == "dropout+l2" and cell.seed == 1


def test_tune_then_ablate_freezes_records_and_resumes(tuned_raw, workdir):
    study = validate_study(tuned_raw)
    storage = open_storage("optuna.journal")
    tracker = Tracker()
    # an earlier run stopped after one tune trial: it counts, and the tune phase goes on from there
    run = StudyRun.join(study, "optuna.journal", tracker.uri, tracker.start_parent(study), create=True)
    tuning = run.schedule.tune_study(study)
    worker.run_tune_trial(run, tuning)
    # ... and a second trial was cut off mid-way: its worker process is gone
    here = liveness.host_id().rpartition(":")[0]  # this machine as liveness names it (with its pid namespace)
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1000  # above pid_max: no such process
    tuning.tstudy.ask().set_user_attr(TrialAttr.WORKER, f"{here}:{dead}")

    summary = run_study(study, report=False, quiet=True)
    assert summary.finished == summary.total == 4
    ostudy = optuna.load_study(study_name="tinytune:tune", storage=storage)
    states = [t.state.name for t in ostudy.trials]
    assert states.count("FAIL") == 1 and states[1] == "FAIL"  # the interrupted one, not counted
    assert tune.tune_counted(ostudy) == 3 and len(ostudy.trials) == 4
    frozen = ostudy.user_attrs[TrialAttr.TUNED]
    assert frozen == ostudy.best_trial.params

    client = MlflowClient(tracker.uri)
    run = client.get_run(summary.parent_run_id)
    assert json.loads(run.data.tags[Tag.TUNED]) == frozen
    assert float(run.data.params["tuned.train.lr"]) == pytest.approx(frozen["train.lr"])
    arts = {a.path for a in client.list_artifacts(summary.parent_run_id, "tune")}
    assert arts == {"tune/history.json", "tune/importances.json"}
    children = client.search_runs([run.info.experiment_id], f"tags.`{Tag.ROLE}` = 'cell'")
    tune_runs = [r for r in children if r.data.tags[Tag.PHASE] == "tune"]
    cells = [r for r in children if r.data.tags[Tag.PHASE] == "ablate"]
    assert len(tune_runs) == 3 and len(cells) == 4  # the interrupted trial never got as far as a run
    assert {r.info.run_name for r in tune_runs} == {f"tune/trial{i:03d}" for i in (0, 2, 3)}
    for r in cells:  # every ablation cell ran with the frozen values, under the file's identity
        assert float(r.data.params["train.lr"]) == pytest.approx(frozen["train.lr"])
        assert r.data.tags[Tag.HASH] == study.study_hash
        if r.data.tags[Tag.FACTOR + "l2"] == "on":
            assert float(r.data.params["reg.l2.lambda"]) == pytest.approx(frozen["factors.l2.lambda"])

    # the report's tune section is rebuilt from MLflow alone
    results = load_results("tinytune", tracker.uri)
    section = tune_section(results)
    facts = dict(section.context["facts"])
    assert facts["Trials"].startswith("4: ") and "1 failed" in facts["Trials"]
    assert "seed 1 (a seed no ablation cell uses)" in facts["Tuned on"]
    assert {r["setting"] for r in section.context["frozen"]} == {"train.lr", "factors.l2.lambda"}
    assert {f.id for f in section.context["figures"]} >= {"tune-history", "tune-curves", "tune-importance"}
    assert len(results.finished) == 4  # tune trials are not ablation cells, nor are their curves the arm's
    assert set(results.history["run_id"]) == set(results.finished["run_id"])

    # run again: nothing tuned or trained again, the same frozen values
    again = run_study(study, report=False, quiet=True)
    assert again.ran_now == 0 and len(optuna.load_study(study_name="tinytune:tune", storage=storage).trials) == 4
    assert json.loads(client.get_run(again.parent_run_id).data.tags[Tag.TUNED]) == frozen


def test_bad_trials_are_pruned_every_epoch(tuned_raw, workdir):
    tuned_raw["tune"].update(trials=5, params={"train.lr": {"low": 1e-7, "high": 3e-2, "log": True}})
    tuned_raw["train"]["epochs"] = 3
    study = validate_study(tuned_raw)
    storage = open_storage("optuna.journal")
    tracker = Tracker()
    frozen = worker.run_tune(StudyRun.join(study, "optuna.journal", tracker.uri, tracker.start_parent(study),
                                           create=True))
    trials = optuna.load_study(study_name="tinytune:tune", storage=storage).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [(t.params, t.intermediate_values) for t in trials]
    assert all(len(t.intermediate_values) < 3 for t in pruned)  # stopped before the last epoch
    assert all(len(t.intermediate_values) == 3 for t in trials if t.state.name == "COMPLETE")
    assert frozen["train.lr"] > 1e-4
    summary = tune.tune_summary(study, storage)
    assert {t["state"] for t in summary["trials"]} >= {"PRUNED", "COMPLETE"}
    assert summary["importance_method"] in ("PED-ANOVA", "fANOVA")


@pytest.mark.parametrize("pruner", ["hyperband", "none"])
def test_hyperband_prunes_and_none_never_does(tuned_raw, workdir, pruner):
    # a range where trials differ at epoch 1 (hyperband promotes ties: a flat range of dead trials never prunes)
    tuned_raw["tune"].update(trials=12, pruner=pruner, params={"train.lr": {"low": 1e-3, "high": 1e-1, "log": True}})
    tuned_raw["train"]["epochs"] = 3
    study = validate_study(tuned_raw)
    assert isinstance(tune.pruner(study), {"hyperband": optuna.pruners.HyperbandPruner,
                                              "none": optuna.pruners.NopPruner}[pruner])
    storage = open_storage("optuna.journal")
    tracker = Tracker()
    frozen = worker.run_tune(StudyRun.join(study, "optuna.journal", tracker.uri, tracker.start_parent(study),
                                           create=True))
    trials = optuna.load_study(study_name="tinytune:tune", storage=storage).trials
    states = [t.state.name for t in trials]
    assert len(trials) == 12 and "FAIL" not in states
    if pruner == "none":
        assert set(states) == {"COMPLETE"}
    else:
        assert "PRUNED" in states, [(t.params, t.intermediate_values) for t in trials]
        assert all(len(t.intermediate_values) < 3 for t in trials if t.state.name == "PRUNED")
    assert frozen["train.lr"] == max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value).params[
        "train.lr"]
