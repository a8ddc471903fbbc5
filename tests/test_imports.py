"""Commands that train nothing start without torch: the typed study, its designs and validation, and the
registries' declarations (names, Params, applicability) import no torch; the code that trains imports it where
it is used. Each check runs in a fresh interpreter, since this one has torch loaded already."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TORCH_FREE = ["ablate", "ablate.spec", "ablate.study", "ablate.designs", "ablate.tuning", "ablate.validate",
              "ablate.overrides", "ablate.api", "ablate.regularizers", "ablate.models", "ablate.data"]


def _heavy_modules(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & {{'torch', 'mlflow', 'optuna'}}))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own print of a list of names


def test_the_typed_study_and_validation_import_no_torch():
    assert _heavy_modules("\n".join(f"import {m}" for m in TORCH_FREE)) == []


def test_loading_a_study_imports_no_torch():
    code = ("from ablate.validate import load_study\n"
            "s = load_study('studies/quickstart.yaml', ('seeds=2',))\n"
            "assert len(s.cells()) == 2 * len(s.arms())")
    assert _heavy_modules(code) == []
