"""The report and the MLflow UI in a real headless Chromium (Debian's `chromium` package, no downloads).

Screenshots land in reports/_test_screenshots/ (git-ignored) so a person can look at what the browser saw.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import XSS_NAME

from ablate.report.html import build_report

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "_test_screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium; `make install` does it)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _open(browser, url: str, width: int = 1300, height: int = 900):
    """A page that records console errors, uncaught exceptions and any dialog (alert = injected script)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(url)
    page.wait_for_load_state("load")
    return page


@pytest.fixture(scope="module")
def report_page(browser, study_store, tmp_path_factory):
    uri, _, _ = study_store
    index = build_report("synthetic", uri, tmp_path_factory.mktemp("browser"), log_artifacts=False)
    page = _open(browser, index.as_uri())
    yield page
    page.close()


def test_report_has_no_console_errors_and_every_image_loads(report_page):
    page = report_page
    page.screenshot(path=str(SHOTS / "report_full.png"), full_page=True)
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
    assert len(images) >= 10
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert page.problems == []


def _column(page, index: int) -> list[str]:
    return page.eval_on_selector_all(
        "#leaderboard-table tbody tr", f"rows => rows.map(r => r.cells[{index}].getAttribute('data-sort'))"
    )


def test_leaderboard_sorts_on_click(report_page):
    page = report_page
    headers = page.eval_on_selector_all("#leaderboard-table thead th", "els => els.map(e => e.textContent)")
    mean_col, arm_col = headers.index("test_acc mean"), headers.index("arm")
    header = page.locator("#leaderboard-table thead th").nth(mean_col)
    header.click()
    ascending = [float(v) for v in _column(page, mean_col)]
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert [float(v) for v in _column(page, mean_col)] == sorted(ascending, reverse=True)
    page.locator("#leaderboard-table thead th").nth(arm_col).click()
    arms = _column(page, arm_col)
    assert arms == sorted(arms)
    page.locator("#leaderboard").screenshot(path=str(SHOTS / "leaderboard_sorted_by_arm.png"))
    assert page.problems == []


def test_hostile_study_name_shows_as_text(browser, xss_store, tmp_path):
    uri, spec, _ = xss_store
    index = build_report(XSS_NAME, uri, tmp_path, log_artifacts=False)
    page = _open(browser, index.as_uri())
    page.screenshot(path=str(SHOTS / "report_xss.png"))
    assert page.locator("#study-name").text_content() == XSS_NAME
    assert page.title() == f"ablate report: {XSS_NAME}"
    assert "<script>alert(3)</script> diverged" in page.locator("#failures").text_content()
    assert page.problems == []  # no alert dialog, no CSP violation, no error
    page.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_ui(study_store, tmp_path_factory):
    """`mlflow ui` over the test store on a free loopback port; stopped (its process group) afterwards."""
    uri, _, _ = study_store
    port = _free_port()
    log = (tmp_path_factory.mktemp("ui") / "ui.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow ui did not start on {base}; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_mlflow_ui_shows_parent_run_with_its_children(browser, mlflow_ui, study_store):
    from mlflow.tracking import MlflowClient

    uri, spec, ids = study_store
    exp_id = MlflowClient(uri).get_experiment_by_name("synthetic").experiment_id
    page = _open(browser, f"{mlflow_ui}/#/experiments/{exp_id}/runs", height=1600)
    parent = page.locator(f"a[href$='/runs/{ids['parent']}']").first
    parent.wait_for(timeout=90_000)
    assert parent.text_content() == "synthetic"
    row = page.locator("[role=row]", has=parent).first
    row.locator("button[data-component-id*='runnamecellrenderer']").click()  # expand the nested runs
    page.get_by_role("link", name="baseline/seed0", exact=True).wait_for(timeout=30_000)
    links = page.eval_on_selector_all("a", "els => els.map(e => e.textContent)")
    children = [t for t in links if re.fullmatch(r"[\w+]+/seed\d+", t)]
    page.screenshot(path=str(SHOTS / "mlflow_ui_runs.png"))
    assert {"baseline/seed0", "l2/seed0", "dropout/seed2"} <= set(children)
    page.close()
