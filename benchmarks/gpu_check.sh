#!/usr/bin/env bash
# A cut-down cifar_ablation on the GPU: img/s, epoch seconds and the ratio to the bare loop (fp32 and bf16),
# host syncs in the step loop, train.compile's reuse. On a machine without CUDA it runs tiny, as a check.
# Needs torch, numpy, pyyaml, pydantic (mlflow/optuna only for its last line); no install: it runs from here.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ -x .venv/bin/python ] && [ -z "${GPU_CHECK_SYSTEM_PYTHON:-}" ]; then PY=.venv/bin/python; fi
export PYTHONUNBUFFERED=1
exec "$PY" benchmarks/gpu_check.py "$@"
