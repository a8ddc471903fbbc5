"""The tune phase on Optuna: sample settings on one arm, prune on the validation metric, freeze the best.

Its trials live in their own Optuna study (`<name>:tune`, storage.tune_name), created by `ask` like any
Optuna trial (unlike the ablation's enqueued cells). What a trial trains is worker.py's; the values it
samples, its pruning, and the summary the report shows (every trial's course, parameter importances) are
here. A finished tune phase's frozen values are kept on its Optuna study, so they are never searched again.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from ablate.errors import AblateError
from ablate.records import TrialAttr
from ablate.scheduler import liveness
from ablate.scheduler.cells import Handle, fail_dead
from ablate.scheduler.storage import optuna_name, tune_name

if TYPE_CHECKING:
    from ablate.parentrun import ParentRun
    from ablate.study import Study

PED_ANOVA_MIN_TRIALS = 20


def tune_study_name(study: Study, storage) -> str:
    return tune_name(optuna_name(study, storage))


def sampler(study: Study) -> optuna.samplers.BaseSampler:
    from ablate.tuning import tune_seed

    spec, seed = study.tune, tune_seed(study)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, spec.trials // 3)))


def pruner(study: Study) -> optuna.pruners.BasePruner:
    spec = study.tune
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_epochs)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, spec.warmup_epochs),
                                              max_resource=spec.epochs or study.train.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_tune_study(study: Study, storage) -> optuna.Study:
    return optuna.create_study(study_name=tune_study_name(study, storage), storage=storage, load_if_exists=True,
                               direction=study.tune.direction, sampler=sampler(study), pruner=pruner(study))


def tune_counted(tstudy: optuna.Study) -> int:
    """Trials that used up the budget: complete, pruned, or failed for good (diverged); not interrupted ones."""
    return sum(1 for t in tstudy.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and t.user_attrs.get(TrialAttr.RETRY) is False))


def frozen(tstudy: optuna.Study) -> dict[str, float] | None:
    return tstudy.user_attrs.get(TrialAttr.TUNED)


def frozen_values(study: Study, storage) -> dict[str, float] | None:
    """The values a finished tune phase froze (None: no tune block, or the tune phase has not finished)."""
    if study.tune is None:
        return None
    try:
        return frozen(optuna.load_study(study_name=tune_study_name(study, storage), storage=storage))
    except KeyError:
        return None


def recover(tstudy: optuna.Study, parent: ParentRun) -> None:
    """Fail the trials whose worker died (they do not count) and close their MLflow runs."""
    for t in tstudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if liveness.gone(t) is not None:
            fail_dead(tstudy, t, "its worker stopped before the trial finished")
            if run_id := t.user_attrs.get(TrialAttr.RUN_ID):
                parent.finish_cell(run_id, "KILLED", "interrupted: the tune trial stopped")


def freeze(study: Study, tstudy: optuna.Study) -> dict[str, float]:
    """The best complete trial's values, kept on the tune study: the tune phase is over."""
    if not tstudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise AblateError(f"study '{study.name}': no tune trial completed (all {study.tune.trials} were pruned "
                          f"or failed); widen the ranges in tune.params or raise tune.trials")
    values = dict(tstudy.best_trial.params)
    tstudy.set_user_attr(TrialAttr.TUNED, values)
    return values


class TuneTrial(Handle):
    """One sampled configuration: its values, and how its worker reports epochs and ends it."""

    def __init__(self, tstudy: optuna.Study, trial: optuna.Trial, values: dict[str, float]):
        super().__init__(tstudy, trial)
        self.values = values

    def report(self, value: float, epoch: int) -> None:
        self.trial.report(value, epoch)

    def should_prune(self) -> bool:
        return self.trial.should_prune()

    def prune(self) -> None:
        self.ostudy.tell(self.trial, state=TrialState.PRUNED)


def ask(study: Study, tstudy: optuna.Study) -> TuneTrial:
    """A new trial, stamped with its worker, its values sampled from tune.params."""
    from ablate.tuning import search_space

    trial = tstudy.ask()
    trial.set_user_attr(TrialAttr.WORKER, liveness.host_id())
    trial.set_user_attr(TrialAttr.BEAT, time.time())
    values = {path: (trial.suggest_int(path, int(lo), int(hi), log=log) if kind is int
                     else trial.suggest_float(path, lo, hi, log=log))
              for path, (kind, lo, hi, log) in search_space(study).items()}
    return TuneTrial(tstudy, trial, values)


@dataclass(frozen=True)
class TuneStudy:
    """The tune phase's Optuna study as a worker drives it (Schedule.tune_study), so none holds Optuna's."""

    tstudy: optuna.Study

    def counted(self) -> int:
        return tune_counted(self.tstudy)

    def frozen(self) -> dict[str, float] | None:
        return frozen(self.tstudy)

    def recover(self, parent: ParentRun) -> None:
        recover(self.tstudy, parent)

    def ask(self, study: Study) -> TuneTrial:
        return ask(study, self.tstudy)

    def freeze(self, study: Study) -> dict[str, float]:
        return freeze(study, self.tstudy)


def tune_summary(study: Study, storage) -> dict[str, object]:
    """What the report shows of a finished tune phase: every trial's course, and parameter importances.

    Computed here, once, from the Optuna storage, and logged to MLflow: the report is built from MLflow
    alone. Importances use PED-ANOVA (it scores how much each setting matters among the best trials and
    needs no model fit) from 20 complete trials on; below that its top-10% set is a single trial, so
    fANOVA (a random forest over all complete trials) is used, and is the fallback either way.
    """
    from ablate.tuning import tune_arm, tune_seed

    tstudy = optuna.load_study(study_name=tune_study_name(study, storage), storage=storage)
    trials = sorted(tstudy.get_trials(deepcopy=False), key=lambda t: t.number)
    history = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                "run_id": t.user_attrs.get(TrialAttr.RUN_ID),
                "duration_s": t.duration.total_seconds() if t.duration else None} for t in trials]
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    importances, method = _importances(tstudy, complete)
    best, spec = tstudy.best_trial, study.tune
    setup = {"arm": tune_arm(study).name, "seed": tune_seed(study), "trials": spec.trials,
             "sampler": spec.sampler, "pruner": spec.pruner, "epochs": spec.epochs or study.train.epochs,
             "space": {k: v.model_dump() for k, v in spec.params.items()}}
    return {"metric": spec.metric, "direction": spec.direction, "setup": setup, "trials": history,
            "best_number": best.number, "best_value": best.value,
            "importances": {k: float(v) for k, v in importances.items()}, "importance_method": method,
            "optuna_study": tune_study_name(study, storage)}


def _importances(tstudy: optuna.Study, complete: int) -> tuple[dict[str, float], str]:
    importances, reason = {}, ""
    evaluators = [("PED-ANOVA", optuna.importance.PedAnovaImportanceEvaluator()),
                  ("fANOVA", optuna.importance.FanovaImportanceEvaluator(seed=0))]
    if complete < PED_ANOVA_MIN_TRIALS:  # its top-10% target set would hold one trial: every score equal
        evaluators.reverse()
    for method, evaluator in evaluators:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return optuna.importance.get_param_importances(tstudy, evaluator=evaluator), method
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            importances, reason = {}, f"{method}: {e}"
    return importances, f"none ({reason})"
