"""Real MLflow stores (SQLite + local artifacts) holding synthetic studies, shared across report tests."""

from __future__ import annotations

import pytest
from synthetic import SyntheticStudy, write_study

XSS_NAME = "<script>alert(1)</script>"


def make_store(root, spec: SyntheticStudy) -> tuple[str, dict[str, str]]:
    """A fresh store under `root` holding `spec`; returns (tracking uri, run ids by cell)."""
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, write_study(uri, str(root / "artifacts"), spec)


@pytest.fixture(scope="session")
def study_store(tmp_path_factory):
    """A 2-factor full factorial, 3 seeds, one diverged cell and one KILLED-then-FINISHED resume."""
    spec = SyntheticStudy(failures={("dropout", 2): "diverged at epoch 2"}, killed_then_finished=("l2", 0))
    uri, ids = make_store(tmp_path_factory.mktemp("store"), spec)
    return uri, spec, ids


@pytest.fixture(scope="session")
def xss_store(tmp_path_factory):
    """A study whose every user-visible string tries to inject markup."""
    spec = SyntheticStudy(
        name=XSS_NAME,
        description="<b>bold</b> & <img src=x onerror=alert(2)>",
        factors=("l2",),
        seeds=(0, 1),
        effects={"l2": 0.01},
        failures={("l2", 1): "<script>alert(3)</script> diverged"},
    )
    uri, ids = make_store(tmp_path_factory.mktemp("xss"), spec)
    return uri, spec, ids
