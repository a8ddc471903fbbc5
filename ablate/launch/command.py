"""`ablate launch slurm|k8s`: the order every launch keeps, whatever the engine: refuse (stores that other
machines cannot reach, a missing engine command) before anything is written, load the study as its workers
will, write the file, submit, then say how to start the coordinator and how to watch."""

from __future__ import annotations

import shlex

from ablate.launch import k8s, slurm
from ablate.launch.stores import LaunchError, Workers, engine_command, shared_stores
from ablate.validate import load_study


def launch(engine: str, study: str, overrides: list[str], storage: str | None, tracking_uri: str | None,
           workers: int, gpus_per_worker: int = 0, cpus_per_worker: int | None = None, time: str | None = None,
           partition: str | None = None, sbatch: str = "", dry_run: bool = False, image: str | None = None,
           apply: bool = False, **_ignored) -> list[str]:
    """The lines to print; LaunchError (exit 2) for anything refused, before any file is written."""
    stores = shared_stores(storage, tracking_uri)
    shape = Workers(workers, gpus_per_worker, cpus_per_worker)
    if engine == "k8s" and not image:
        raise LaunchError("--image is required: the container image with ablate installed (e.g. "
                          "--image registry.example.com/ablate:0.1)")
    if engine == "slurm" and not dry_run:
        engine_command("sbatch", "add --dry-run to only write the script")
    if engine == "k8s" and apply:
        engine_command("kubectl", "leave out --apply to only write the manifest")
    loaded = load_study(study, tuple(overrides))  # a broken study is refused here, not in N pods
    if engine == "slurm":
        out = slurm.launch(study, loaded.name, overrides, stores, shape, time, partition, sbatch, dry_run)
    else:
        out = k8s.launch(study, loaded.name, loaded.plugins, overrides, stores, shape, image, apply)
    shown = " ".join(f"{flag} {shlex.quote(url)}" for flag, url in zip(("--storage", "--tracking-uri"),
                                                                        stores.shown()))
    tail = " ".join(shlex.quote(a) for a in [study, *overrides])
    return out + [
        f"the workers wait up to {shape.worker_flags()[1]} s for the study: start (or resume) it once, from any machine "
        f"that sees both stores (it enqueues the cells, retries dead workers' cells, builds the report):",
        f"  ablate run {tail} --workers 0 {shown}",
        "watch it:",
        f"  ablate status {tail} {shown}"]
