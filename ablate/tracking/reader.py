"""Reading a whole study back, as records: the report's one source (and where the report is attached)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ablate.errors import AblateError
from ablate.records import (
    CELL,
    FINAL_METRICS,
    PARENT,
    REPORT_ARTIFACT_DIR,
    TAG_LIMIT,
    TUNE_HISTORY_ARTIFACT,
    WEIGHTS_ARTIFACT,
    ParentRecord,
    StudyRecords,
    Tag,
)
from ablate.tracking import store
from ablate.tracking.client import (
    artifact_json,
    cell_of,
    make_client,
    missing_artifacts,
    parent_run,
    search_all,
    variants,
)
from ablate.tracking.logger import run_tags
from ablate.tracking.summary import log_arm_summary


def read_study(study_name: str, tracking_uri: str) -> StudyRecords:
    """Parent, cells, per-epoch histories and weight histograms of one study, as records.

    Histories are read in bulk (_histories) and local artifacts in place, so a 32-cell study reads in a
    fraction of a second. Raises AblateError naming the store when the study is absent.
    """
    client = make_client(tracking_uri)
    experiment, variant = _resolve(client, study_name)
    if experiment is None:
        known = [e.name for e in client.search_experiments()]
        raise AblateError(f"no study named {study_name!r} in the MLflow store {tracking_uri} "
                          f"(experiments there: {', '.join(sorted(known)) or 'none'})")
    exp_ids = [experiment.experiment_id]
    top = parent_run(client, experiment.experiment_id, variant)
    if top is None:
        raise AblateError(f"experiment {study_name!r} in {tracking_uri} has no ablate parent run "
                          f"(tag {Tag.ROLE}={PARENT}); was it created by `ablate run`?")
    parent = ParentRecord.from_mlflow(top.info.run_id, top.data.tags, top.data.params)
    children = [r for r in search_all(client, exp_ids, f"tags.`{Tag.PARENT_RUN_ID}` = '{parent.run_id}'")
                if r.data.tags.get(Tag.ROLE) == CELL]

    histories = _histories(client, children)
    weights = {}
    for run in children:
        found = artifact_json(client, run.info.run_id, WEIGHTS_ARTIFACT, run.info.artifact_uri)
        if found is not None:
            weights[run.info.run_id] = found
    tune = (artifact_json(client, parent.run_id, TUNE_HISTORY_ARTIFACT, top.info.artifact_uri)
            if parent.tuned is not None else None)
    return StudyRecords(parent=parent, cells=[cell_of(r) for r in children], histories=histories,
                        weights=weights, tune_summary=tune, tracking_uri=tracking_uri,
                        artifacts_missing=missing_artifacts([r.info.artifact_uri for r in children
                                                             if r.info.run_id not in weights
                                                             and r.info.status == "FINISHED"]))


def _resolve(client, ref: str):
    """A study reference -> (its experiment or None, the variant's hash prefix or None): `name` is the
    study's first variant, `name@<hash prefix>` another (an experiment of that very name wins: `--fresh`
    of older versions kept set-aside studies under such names)."""
    experiment = client.get_experiment_by_name(ref)
    if experiment is not None or "@" not in ref:
        return experiment, None
    name, _, prefix = ref.rpartition("@")
    return client.get_experiment_by_name(name), prefix


def variant_ref(study_name: str, variant: str | None, tracking_uri: str) -> tuple[str, str]:
    """`--variant` (its name, as the terminal and the report show it, or a prefix of its study hash) ->
    (the reference readers take, `name@<hash12>`, and the variant's name); AblateError listing the study's variants when none fits."""
    if not variant:
        return study_name, ""
    client = make_client(tracking_uri)
    experiment = client.get_experiment_by_name(study_name)
    found = variants(client, experiment.experiment_id) if experiment is not None else []
    for study_hash, label in found:
        if variant in (label, study_hash[:len(variant)]) and len(variant) >= (1 if variant == label else 6):
            return (f"{study_name}@{study_hash[:12]}" if label else study_name), label
    known = ", ".join(repr(label or "(first)") + f" [{h[:12]}]" for h, label in found) or "none"
    raise AblateError(f"study {study_name!r} has no variant {variant!r} in {tracking_uri} (its variants: {known})")


def _histories(client, runs) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """run_id -> curve metric -> [(step, value)], for every curve metric the runs logged (final metrics are
    single points, already on the run). A SQL store is read in bulk (store.metric_points); a tracking
    server is asked per run and metric, in a few threads."""
    keys_of = {r.info.run_id: [k for k in r.data.metrics if k not in FINAL_METRICS] for r in runs}
    points = store.metric_points(client, list(keys_of))
    if points is None:
        def history_of(rid):
            return rid, {k: [(m.step, m.value) for m in client.get_metric_history(rid, k)] for k in keys_of[rid]}

        with ThreadPoolExecutor(max_workers=4) as pool:
            return dict(pool.map(history_of, keys_of))
    out: dict[str, dict[str, list[tuple[int, float]]]] = {rid: {k: [] for k in ks} for rid, ks in keys_of.items()}
    for rid, key, step, value in points:
        curve = out[rid].get(key)
        if curve is not None:
            curve.append((step, value))
    return out


def cell_timings(study_name: str, tracking_uri: str) -> list[tuple[float, int, float | None]]:
    """(median epoch_seconds, epochs, run seconds) of each finished ablation cell; [] without the study."""
    try:
        records = read_study(study_name, tracking_uri)
    except AblateError:
        return []
    out = []
    for c in records.cells:
        curve = [v for _, v in records.histories.get(c.run_id, {}).get("epoch_seconds", [])]
        if c.status == "FINISHED" and c.phase == "ablate" and curve:
            wall = (c.end_time_ms - c.start_time_ms) / 1000 if c.start_time_ms and c.end_time_ms else None
            out.append((sorted(curve)[len(curve) // 2], len(curve), wall))
    return out


def find_parent(study_name: str, tracking_uri: str) -> tuple[ParentRecord, str] | None:
    """The study's parent run (client.parent_run: the one read_study and the writer take) and its status;
    None when absent."""
    client = make_client(tracking_uri)
    experiment, variant = _resolve(client, study_name)
    run = parent_run(client, experiment.experiment_id, variant) if experiment is not None else None
    if run is None:
        return None
    return ParentRecord.from_mlflow(run.info.run_id, run.data.tags, run.data.params), run.info.status


def studies(tracking_uri: str) -> list[tuple[str, str]]:
    """(study name, experiment id) of every experiment in the store that holds an ablate parent run."""
    client = make_client(tracking_uri)
    out = []
    for exp in client.search_experiments(order_by=["last_update_time DESC"]):  # the latest study first
        if client.search_runs([exp.experiment_id], f"tags.`{Tag.ROLE}` = '{PARENT}'", max_results=1):
            out.append((exp.name, exp.experiment_id))
    return out


def log_report(tracking_uri: str, parent_run_id: str, files: list[Path], verdicts: dict[str, str] | None = None,
               no_verdict: str | None = None) -> None:
    """Attach the report to the study's parent run, so the MLflow UI links straight to it, tag the parent
    with each factor's verdict (searchable), and refresh the parent's per-arm summary metrics (a report may
    follow cells that `ablate worker`s finished later). `no_verdict`: why the study gets no verdict, kept
    as a tag on the parent (removed once it has one)."""
    client = make_client(tracking_uri)
    for path in files:
        client.log_artifact(parent_run_id, str(path), artifact_path=REPORT_ARTIFACT_DIR)
    if tags := ParentRecord.verdict_tags(verdicts or {}):
        client.log_batch(parent_run_id, tags=run_tags(tags))
    if no_verdict:
        client.set_tag(parent_run_id, Tag.NO_VERDICT, no_verdict[:TAG_LIMIT])
    elif Tag.NO_VERDICT in client.get_run(parent_run_id).data.tags:
        client.delete_tag(parent_run_id, Tag.NO_VERDICT)
    log_arm_summary(client, parent_run_id)
