"""Cells that did not finish, and why."""

from __future__ import annotations

from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.sections.cells import run_url


def failures_section(results: Results) -> Section:
    """Cells that did not finish, with the recorded reason: a silent gap would bias the means."""
    failed = results.failed.sort_values(["arm", "seed"])
    rows = [
        {
            "arm": r.arm,
            "seed": r.seed,
            "status": r.status,
            "failure": r.failure or "(no reason recorded)",
            "run_id": r.run_id,
            "run_url": run_url(results.tracking_uri, r.run_id),
        }
        for r in failed.itertuples()
    ]
    return Section("failures", f"Failed cells ({len(rows)})", "_failures.html", {"rows": rows})
