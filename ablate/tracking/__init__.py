"""The only package that imports mlflow: the store (client), writing a study (writer), reading it (reader).

Everything crosses this boundary as records (ablate/records.py), so no other module holds an MLflow object.
`from ablate.tracking import Tracker, resolve_uri` is the public entry for writers, `read_study` for readers.
"""

from ablate.tracking.client import DEFAULT_URI, resolve_uri
from ablate.tracking.provenance import git_commit, versions
from ablate.tracking.reader import log_report, read_study
from ablate.tracking.writer import ARTIFACT_DIR, MlflowLogger, Tracker, cell_record, parent_record

__all__ = ["ARTIFACT_DIR", "DEFAULT_URI", "MlflowLogger", "Tracker", "cell_record", "git_commit", "log_report",
           "parent_record", "read_study", "resolve_uri", "versions"]
