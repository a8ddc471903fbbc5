"""The distribution: a name of its own on the package index (`ablate` there is another project), an SPDX
license (no setuptools deprecation warning at install), and README install lines that name it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def test_the_distribution_has_its_own_name_and_an_spdx_license():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ablate-studies" and project["license"] == "MIT"
    assert project["scripts"]["ablate"] == "ablate.cli:entry"


def test_readme_installs_never_name_the_other_projects_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"pip install '?ablate\[", readme)  # `ablate[timm]` from the index is someone else's
    for extra in ("timm", "text", "postgres", "system-metrics"):
        assert f"`{extra}`" in readme
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme and "ablate-studies" in readme
