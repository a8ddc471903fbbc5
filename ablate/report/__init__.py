"""The study report: records -> tidy tables (results) -> numbers (stats/) -> figures (figures/) -> page
(sections/, one file per part; page.py holds the shared page types) -> HTML (html).

Lazy exports, so `import ablate.report` stays cheap until a report is actually built.

May import: ablate.bounded (an analysed table's limits), ablate.records, ablate.tracking (read_study and log_report, on first use), ablate.designs,
ablate.study, ablate.spec (a table analysed without a store gets its design here), ablate.errors,
ablate.faults, ablate.procs (the figure processes die with the report), ablate.uri. Never torch, never the
run path: a report is rebuilt from the store alone.
"""

__all__ = ["build_report", "load_results", "render_report", "Results"]


def __getattr__(name):
    if name in {"build_report", "render_report"}:
        from ablate.report import html

        return getattr(html, name)
    if name in {"load_results", "Results"}:
        from ablate.report import results

        return getattr(results, name)
    raise AttributeError(name)
