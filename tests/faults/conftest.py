"""The fault tests import their helpers from faultkit.py beside them; the shared stores of the many-machines
tests (PostgreSQL, databases in it, an `mlflow server` over one) are fixtures here."""

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faultkit import start_mlflow_server  # noqa: E402

PG_START = Path(__file__).with_name("pg_start.sh")


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install 'ablate[postgres]')")
    url = os.environ.get("ABLATE_TEST_PG_URL")
    if url:
        yield url
        return
    found = subprocess.run(["bash", "-c", "command -v initdb || ls /usr/lib/postgresql/*/bin/initdb"],
                           capture_output=True, text=True)
    if found.returncode != 0 or shutil.which("runuser") is None and os.getuid() == 0:
        pytest.skip("PostgreSQL is not installed (no initdb; Debian: apt-get install postgresql) and "
                    "ABLATE_TEST_PG_URL is not set; .ci/run installs and starts it")
    out = subprocess.run([str(PG_START)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {out.stderr.strip()[-500:]}")
    url, data_dir = out.stdout.split()
    yield url
    subprocess.run([str(PG_START), "stop", data_dir], capture_output=True, timeout=60)


@pytest.fixture
def databases(pg_url):
    """Two fresh databases (Optuna and MLflow both keep an alembic_version table), dropped afterwards."""
    import psycopg2

    names = [f"ablate_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("optuna", "mlflow")]
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"CREATE DATABASE {name}")
    base = pg_url.rsplit("/", 1)[0]
    # MLflow 3 picks the psycopg (3) driver for a bare postgresql:// URL; name the installed one
    yield [f"{base}/{names[0]}", f"{base.replace('postgresql://', 'postgresql+psycopg2://')}/{names[1]}"]
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


@pytest.fixture
def mlflow_server(databases, tmp_path):
    proc, url = start_mlflow_server(databases[1], tmp_path, tmp_path / "mlflow-server.log")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
