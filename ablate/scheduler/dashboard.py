"""`ablate dashboard`: optuna-dashboard over a study's Optuna storage (its ablation and tune studies)."""

from __future__ import annotations

from ablate.errors import AblateError
from ablate.scheduler.storage import open_storage, study_names, tune_name


def serve_dashboard(study_name: str, storage_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """optuna-dashboard over the storage (opened as ablate opens it, with the same journal lock)."""
    storage = open_storage(storage_url)
    names = sorted(study_names(storage))
    if study_name not in names:
        raise AblateError(f"no study named {study_name!r} in the Optuna storage {storage_url} (studies there: "
                          f"{', '.join(names) or 'none'}); run it first with `ablate run`")
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise AblateError("optuna-dashboard is not installed: `pip install -e '.[dashboard]'` (make dashboard "
                          "does it for you)") from None
    shown = [n for n in (study_name, tune_name(study_name)) if n in names]
    print(f"optuna-dashboard on http://{host}:{port}/dashboard/ (studies: {', '.join(shown)}); Ctrl-C stops it",
          flush=True)
    run_server(storage, host=host, port=port)
