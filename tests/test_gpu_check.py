"""benchmarks/gpu_check.sh in its CPU smoke mode: the GPU check a device session runs must run at all (tiny
sizes, 1 and 2 concurrent cells, the projection line), so it is not first found broken on a borrowed GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)  # ~45 s of CPU (~1 min on a quiet 2-core machine); load stretches the wall time
def test_gpu_check_smoke_mode_prints_every_figure():
    env = {**os.environ, "GPU_CHECK_SIZE": "tiny", "PY": sys.executable, "GPU_CHECK_SYSTEM_PYTHON": "1",
           "CUDA_VISIBLE_DEVICES": "", "MLFLOW_TRACKING_URI": "", "ABLATE_STORAGE": ""}
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True,
                         text=True, timeout=580)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    for start in ("# gpu_check on cpu", "fp32: framework epoch", "bf16: framework epoch", "all hooks",
                  "ablate run (2 arms", "concurrent cells 1:", "concurrent cells 2:", "projected cifar_ablation"):
        assert any(line.startswith(start) for line in lines), (start, out.stdout)
    assert "2/2 cells" in out.stdout
