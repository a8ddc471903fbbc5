"""Where the numbers came from."""

from __future__ import annotations

from ablate.report.page import Section
from ablate.report.results import Results
from ablate.report.sections.cells import run_url
from ablate.report.stats.factorial import METHOD
from ablate.report.stats.paired import PAIRED_METHOD
from ablate.uri import redact_uri


def provenance_section(results: Results) -> Section:
    """Where and from what the numbers came: enough to reproduce them or to distrust them."""
    s = results.study
    facts = [
        ("Study hash", s.study_hash),
        ("Git commit", s.git_commit),
        ("Created", s.created),
        ("Machine", s.machine),
        ("Precision", s.precision),
        ("Tracking store", redact_uri(results.tracking_uri)),
        ("Parent run id", {"text": s.run_id, "url": url} if (url := run_url(results.tracking_uri, s.run_id))
         else s.run_id),
        ("Statistics", f"{PAIRED_METHOD}; factorial: {METHOD}; per-arm CI: Student t; Holm within each "
         "named family; verdicts: Holm over one comparison per factor, TOST within ±min_effect"),
    ]
    return Section(
        "provenance",
        "Provenance",
        "_facts.html",
        {"facts": [(k, v) for k, v in facts if v], "versions": sorted(s.versions.items())},
    )
