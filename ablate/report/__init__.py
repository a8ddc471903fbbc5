"""The study report: records -> tidy tables (results) -> numbers (stats/) -> figures (figures/) -> page
(sections/, one file per part; page.py holds the shared page types) -> HTML (html).

Lazy exports, so `import ablate.report` stays cheap until a report is actually built.
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
