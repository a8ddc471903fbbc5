"""The MLflow tag and Optuna attribute names ablate stores (records.py re-exports them; its records use them).
Nothing here imports anything of ablate's."""

from __future__ import annotations


class Tag:
    """MLflow tag names (`mlflow.*` and `git.commit` are MLflow's and Git's conventions, spelled here too)."""

    ROLE = "ablate.role"  # parent | cell
    STUDY = "ablate.study"
    HASH = "ablate.study_hash"
    DESCRIPTION = "ablate.description"
    DESIGN = "ablate.design"
    DESIGN_RECORD = "ablate.design."  # + key: the design's record (estimable terms, levels, aliases, analyses)
    ANALYSIS = "ablate.analysis."  # + key: min_effect, seeds ({initial, max}), sequential (the seed decision)
    METRIC, DIRECTION = "ablate.metric", "ablate.direction"
    ARMS, FACTORS, SEEDS = "ablate.arms", "ablate.factors", "ablate.seeds"
    MODEL, DATASET = "ablate.model", "ablate.dataset"
    PRECISION = "ablate.precision"
    VERSIONS = "ablate.versions"
    MACHINE = "ablate.machine"
    CREATED = "ablate.created"
    READY = "ablate.ready"  # "1" once the parent run's setup is complete
    NO_VERDICT = "ablate.no_verdict"  # why the study gets no verdict (report/stats/learned.py); absent when it does
    TUNED = "ablate.tuned"  # the tune phase's frozen values (JSON)
    TUNE_IMPORTANCES = "ablate.tune.importances"
    TUNE_IMPORTANCE_METHOD, TUNE_OPTUNA_STUDY = "ablate.tune.importance_method", "ablate.tune.optuna_study"
    VERDICT = "ablate.verdict."  # + factor: the report's verdict, "helps +1.27 [+0.65, +1.88] points"
    # cell runs
    ARM = "ablate.arm"
    SEED = "ablate.seed"
    PHASE = "ablate.phase"  # ablate | tune
    CELL_ID = "ablate.cell_id"
    WORKER = "ablate.worker"
    FAILURE = "ablate.failure"
    FACTOR = "ablate.factors."  # + factor name: on | off
    LEVEL = "ablate.levels."  # + factor name: the level's label (factors with levels)
    TUNE_STATE = "ablate.tune_state"  # complete | pruned
    PRUNED = "ablate.pruned"  # why a tune trial was pruned
    DEVICE = "ablate.device"
    CHANNELS_LAST = "ablate.channels_last"
    COMPILE, TORCH_THREADS = "ablate.compile", "ablate.torch_threads"
    CHECKPOINT = "ablate.checkpoint"  # which weights checkpoint/ holds: "best, epoch 7" | "last, epoch 12"
    VARIANT = "ablate.variant"  # what differs from the study's first variant, e.g. "train.epochs=2 seeds=1"
    OVERRIDES = "ablate.overrides"  # the command-line overrides the effective study was made with
    NOTE = "mlflow.note.content"  # the description the MLflow UI shows (experiment, parent, cells)
    EXPERIMENT_KIND = "mlflow.experimentKind"  # the MLflow UI opens a training experiment on its runs
    TRIAL_NUMBER = "optuna.trial_number"
    GIT_COMMIT, PARENT_RUN_ID, RUN_NAME = "git.commit", "mlflow.parentRunId", "mlflow.runName"


class TrialAttr:
    """Optuna user attributes of a trial (and of a study: STUDY_HASH, TUNED)."""

    CELL = "ablate.cell_id"
    WORKER = "ablate.worker"  # host:pid of the worker running the trial
    WORKER_START = "ablate.worker_start"  # that process's start time, against pid reuse
    BEAT = "ablate.heartbeat"  # journal storages: unix time of the worker's last heartbeat
    RUN_ID = "ablate.run_id"
    FAILURE = "ablate.failure"
    RETRY = "ablate.retry"  # False: failed for a reason retrying cannot fix (divergence)
    INTERRUPTED = "ablate.interrupted"  # the worker stopped (killed, Ctrl-C, stale), the cell did not fail
    DUPLICATE = "ablate.duplicate"  # a second trial of a cell, dropped unrun
    RETRY_OF = "ablate.retry_of"
    ADOPTED = "ablate.adopted"  # a COMPLETE trial rebuilt from a FINISHED MLflow run
    STUDY_HASH = "ablate.study_hash"  # study attribute: the hash of the study the Optuna study schedules
    TUNED = "ablate.tuned"  # tune study attribute: the frozen values
