"""`ablate launch k8s`: a Kubernetes Indexed Job of N long-lived `ablate worker`s, with a Secret holding the
store URLs and a ConfigMap holding the study file and its plugin files, mounted at /config.

A pod that is evicted or preempted gets SIGTERM: ablate returns its running cell to the queue within the
grace period, and the pod failure policy does not count the disruption against backoffLimit, so the Job
starts the index again and it drains what is left. Each index completes when its worker finds the queue
empty (exit 0).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from ablate.launch.stores import LaunchError, Stores, Workers, beside, engine_command, write_private

GRACE_SECONDS = 120  # SIGTERM -> SIGKILL: returning a cell takes seconds; the last MLflow write may be slow
MOUNT = "/config"


def _dns_name(name: str) -> str:
    """A study name as a Kubernetes object name (lower-case DNS label, short enough for pod-name suffixes)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"ablate-{slug or 'study'}"


def config_files(study_path: str, plugins) -> tuple[dict[str, str], list[str]]:
    """The ConfigMap's files (study.yaml and each plugin file, by its file name) and the override that points
    the mounted study at them, when a plugin path is not already its bare file name. A plugin's hash counts its
    file name and content only, so the mounted study is the same study (workers are not refused)."""
    files = {"study.yaml": Path(study_path).read_text(encoding="utf-8")}
    listed, moved = [], False
    for p in plugins:
        if p.kind != "file":  # an importable module: the image must have it installed
            listed.append(p.given)
            continue
        name = Path(p.target).name
        if name in files:
            raise LaunchError(f"two plugin files are named {name!r}: a ConfigMap holds files by name; rename one")
        files[name] = Path(p.target).read_text(encoding="utf-8")
        listed.append(name)
        moved |= p.given != name
    return files, ([f"plugins=[{','.join(listed)}]"] if moved else [])


def manifests(study_path: str, name: str, plugins, overrides: list[str], stores: Stores, workers: Workers,
              image: str) -> list[dict]:
    base = _dns_name(name)
    labels = {"app.kubernetes.io/name": "ablate", "app.kubernetes.io/instance": base}
    files, plugin_override = config_files(study_path, plugins)
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": f"{base}-stores", "labels": dict(labels)},
              "stringData": {"storage": stores.storage, "tracking-uri": stores.tracking_uri}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{base}-study", "labels": dict(labels)},
              "data": files}
    env = [{"name": var, "valueFrom": {"secretKeyRef": {"name": f"{base}-stores", "key": key}}}
           for var, key in (("ABLATE_STORAGE", "storage"), ("MLFLOW_TRACKING_URI", "tracking-uri"))]
    resources: dict = {}
    if workers.cpus:
        resources["requests"] = {"cpu": str(workers.cpus)}
    if workers.gpus:
        resources["limits"] = {"nvidia.com/gpu": str(workers.gpus)}
    container = {"name": "worker", "image": image,
                 "command": ["ablate", "worker", f"{MOUNT}/study.yaml", *overrides, *plugin_override,
                             "--storage", "$(ABLATE_STORAGE)", "--tracking-uri", "$(MLFLOW_TRACKING_URI)",
                             *workers.worker_flags()],
                 "env": env, "resources": resources,
                 "volumeMounts": [{"name": "study", "mountPath": MOUNT, "readOnly": True}]}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": base, "labels": dict(labels)},
           "spec": {"completionMode": "Indexed", "completions": workers.count, "parallelism": workers.count,
                    "backoffLimit": max(3, workers.count),  # crashes, all indexes together
                    "podFailurePolicy": {"rules": [  # eviction and preemption are not failures
                        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
                    "template": {"metadata": {"labels": dict(labels)}, "spec": {
                        "restartPolicy": "Never",  # a pod failure policy needs it; the Job starts a new pod
                        "terminationGracePeriodSeconds": GRACE_SECONDS,
                        "containers": [container],
                        "volumes": [{"name": "study", "configMap": {"name": f"{base}-study"}}]}}}}
    return [secret, config, job]


HEADER = """# Written by `ablate launch k8s` for study '{name}': {n} long-lived workers as ONE Indexed Job
# (each drains the study's queue; `ablate run --workers 0` coordinates). The Secret below holds the store URLs,
# passwords included: keep this file private, or delete the Secret document and create it from your shell:
#   kubectl create secret generic {base}-stores --from-literal=storage=... --from-literal=tracking-uri=...
# The image needs ablate (and any plugin modules: {modules}); data paths in the study must exist in the pod.
"""


def launch(study_path: str, name: str, plugins, overrides: list[str], stores: Stores, workers: Workers,
           image: str, apply: bool) -> list[str]:
    """Write the manifest (and `kubectl apply` it when asked); returns the lines to print."""
    kubectl = engine_command("kubectl", "leave out --apply to only write the manifest") if apply else None
    docs = manifests(study_path, name, plugins, overrides, stores, workers, image)
    modules = ", ".join(p.given for p in plugins if p.kind != "file") or "none"
    path = beside(study_path, ".k8s.yaml")
    header = HEADER.format(name=name, n=workers.count, base=_dns_name(name), modules=modules)
    write_private(path, header + yaml.safe_dump_all(docs, sort_keys=False, width=120))
    out = [f"wrote {path} (Secret, ConfigMap with the study and {len(docs[1]['data']) - 1} plugin file(s), "
           f"Indexed Job of {workers.count}; readable by you only: it holds the store URLs)"]
    if not apply:
        return out + [f"apply it with:  kubectl apply -f {path}"]
    done = subprocess.run([kubectl, "apply", "-f", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise LaunchError(f"kubectl apply failed (exit {done.returncode}): {done.stderr.strip()}; {path} is kept")
    return out + [done.stdout.strip(), f"Kubernetes' view:  kubectl get pods -l app.kubernetes.io/instance="
                  f"{_dns_name(name)}"]
