"""`ablate launch slurm`: one sbatch script, a job array of N long-lived `ablate worker`s.

Plain `sbatch --array`, not submitit: the script is a file the user can read, edit and resubmit with the
cluster's own tools (squeue, scancel, scontrol), nothing on the compute nodes needs more than ablate, and the
queue already lives in the Optuna storage, so submitit's pickled calls and result files would add nothing.

Preemption and time limits: `--signal=B:USR1@120` sends USR1 to the batch shell 120 s before the end. The
shell traps it and forwards SIGTERM to the worker, which ablate already handles (ablate/interrupts.py): the
running cell is marked interrupted and goes back to the queue, not failed. Then the shell requeues its own
task (`--requeue`), which drains what is left. ablate itself keeps handling SIGTERM only: a worker started by
hand or by any other engine stops the same way, and USR1 keeps its default meaning outside Slurm.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from ablate.launch.stores import LaunchError, Stores, Workers, beside, engine_command, write_private

SIGNAL_SECONDS = 120  # before the limit: a cell's return to the queue takes seconds; Slurm's KillWait is 30 s


def script(study_path: str, name: str, overrides: list[str], stores: Stores, workers: Workers,
           time: str | None = None, partition: str | None = None, extra: str = "") -> str:
    here = Path.cwd().resolve()
    study = Path(study_path).resolve()
    directives = [f"--job-name=ablate-{name}", f"--array=0-{workers.count - 1}",
                  f"--signal=B:USR1@{SIGNAL_SECONDS}", "--requeue", "--open-mode=append",
                  f"--output={study.parent / f'{name}.slurm-%A_%a.out'}", f"--chdir={here}"]
    directives += [f"--time={time}"] if time else []
    directives += [f"--partition={partition}"] if partition else []
    directives += [f"--cpus-per-task={workers.cpus}"] if workers.cpus else []
    directives += [f"--gres=gpu:{workers.gpus}"] if workers.gpus else []
    lines = [line.strip() for line in extra.replace(";", "\n").splitlines() if line.strip()]
    directives += [line.removeprefix("#SBATCH").strip() for line in lines]
    ablate = f"{shlex.quote(sys.executable)} -m ablate.cli"
    command = " ".join([ablate, "worker", shlex.quote(str(study)), *map(shlex.quote, overrides),
                        '--storage "$ABLATE_STORAGE" --tracking-uri "$MLFLOW_TRACKING_URI"', *workers.worker_flags()])
    return f"""#!/bin/bash
# Written by `ablate launch slurm` for study '{name}': {workers.count} long-lived workers as ONE job array.
# Each task drains the study's queue (never one job per cell); `ablate run --workers 0` coordinates.
{chr(10).join('#SBATCH ' + d for d in directives)}

# The shared stores. This file holds them, passwords included (so it is readable by you only). To keep a
# password out of it: delete these two lines, `export ABLATE_STORAGE=... MLFLOW_TRACKING_URI=...` in your
# shell, then `sbatch` this file (sbatch passes your environment on to the tasks by default).
export ABLATE_STORAGE={shlex.quote(stores.storage)}
export MLFLOW_TRACKING_URI={shlex.quote(stores.tracking_uri)}

# {SIGNAL_SECONDS} s before the time limit (or on preemption) Slurm sends USR1 to this shell: forward SIGTERM to the
# worker, which returns its running cell to the queue (interrupted, not failed), then requeue this task.
worker=
on_usr1() {{
  echo "ablate: USR1 from Slurm: stopping the worker; its cell goes back to the queue; requeueing this task"
  kill -TERM "$worker" 2>/dev/null; wait "$worker"
  scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}" || true
  exit 0
}}
trap on_usr1 USR1
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker"; exit 143' TERM

# edit the interpreter here if the compute nodes see ablate elsewhere
{command} &
worker=$!
wait "$worker"
exit $?  # 0: the queue is drained (a trap exits on its own, after the worker has stopped)
"""


def launch(study_path: str, name: str, overrides: list[str], stores: Stores, workers: Workers,
           time: str | None, partition: str | None, extra: str, dry_run: bool) -> list[str]:
    """Write the script (and submit it unless dry_run); returns the lines to print."""
    sbatch = None if dry_run else engine_command("sbatch", "add --dry-run to only write the script")
    path = beside(study_path, ".slurm.sh")
    write_private(path, script(study_path, name, overrides, stores, workers, time, partition, extra))
    out = [f"wrote {path} ({workers.count} workers as one job array; readable by you only: it holds the store URLs)"]
    if dry_run:
        return out + [f"dry run: nothing submitted; submit it yourself with:  sbatch {shlex.quote(str(path))}"]
    done = subprocess.run([sbatch, "--parsable", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise LaunchError(f"sbatch refused {path} (exit {done.returncode}): {done.stderr.strip()}; the script is "
                          f"kept: fix it (or the flags) and submit again")
    job = done.stdout.strip().split(";")[0]
    return out + [f"submitted job array {job} ({workers.count} tasks); Slurm's view:  squeue -j {job}"]
