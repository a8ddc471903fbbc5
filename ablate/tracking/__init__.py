"""The only package that imports mlflow: the store (client), writing a study (writer), reading it (reader).

Everything crosses this boundary as records (ablate/records.py), so no other module holds an MLflow object.
`from ablate.tracking import Tracker, resolve_uri` is the public entry for writers (MlflowParentRun: the
run path's typed handle on one parent run, ablate.parentrun.ParentRun), `read_study` for readers.

Exports are lazy: a reader (`ablate report`, `ablate status`) imports the reader side only, never the
writer's torch (the cell config and checkpoint code), which is 2-3 s of a cold report process.

May import: ablate.records, ablate.study, ablate.artifacts (the cell config and checkpoint files),
ablate.errors, ablate.faults, ablate.testpoints, ablate.parentrun (the protocol tracking/parent.py
implements) (never scheduler, worker or report).
"""

_EXPORTS = {
    "ARTIFACT_DIR": "client", "DEFAULT_URI": "client", "resolve_uri": "client",
    "git_commit": "provenance", "versions": "provenance",
    "log_report": "reader", "read_study": "reader", "cell_timings": "reader", "variant_ref": "reader",
    "MlflowLogger": "writer", "Tracker": "writer", "cell_record": "writer", "parent_record": "writer",
    "MlflowParentRun": "parent",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ablate.tracking' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
