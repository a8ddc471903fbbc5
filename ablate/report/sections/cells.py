"""Every cell, traceable to its MLflow run (a link into the MLflow UI when the store is a tracking server)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ablate.report.figures.style import css_palette
from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.stats.leaderboard import epochs_run


def run_url(tracking_uri: str, run_id: str) -> str:
    """The run's page in the MLflow UI of an http(s) tracking server ("" for a local store, which has no UI
    until `ablate ui`). MLflow's own permalink `#/runs/<id>` finds the experiment itself; credentials in the
    URI never reach the page."""
    parts = urlsplit(tracking_uri or "")
    if parts.scheme not in ("http", "https") or not run_id:
        return ""
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/", "", f"/runs/{run_id}"))


def cells_section(results: Results) -> Section:
    """Every cell with its MLflow run id, so any number above can be traced to its run."""
    order = {arm: i for i, arm in enumerate(results.arm_order)}
    cells = results.ablation.assign(_o=lambda d: d["arm"].map(order)).sort_values(["_o", "seed"])
    epochs = epochs_run(results)
    metric = results.study.metric
    rows = [
        {
            "arm": r["arm"],
            "seed": r["seed"],
            "status": r["status"],
            "metric": r.get(metric, np.nan),
            "epochs": epochs.get(r["run_id"], np.nan),
            "seconds": r.get("duration_s"),
            "run_id": r["run_id"],
            "run_url": run_url(results.tracking_uri, r["run_id"]),
            "failure": r.get("failure") or "",
        }
        for r in cells.to_dict("records")
    ]
    return Section(
        "cells",
        f"Cells and MLflow runs ({len(rows)})",
        "_cells.html",
        {"rows": rows, "metric": metric, "palette": css_palette(results.arm_order)},
    )
