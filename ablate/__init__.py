"""ablate: regularization ablation studies for deep learning (PyTorch + Optuna + MLflow + statistics).

The supported Python API is ``__all__``: load_study, run, analyze, build_report, and register_model,
register_dataset, register_regularizer for plugins (ablate/api.py says what each takes). Every name is
loaded lazily: importing ablate must not import torch, MLflow or Optuna.

May import: ablate.api, ablate.orchestrate, ablate.report.analyze (each on first use; this line covers this
file alone: the modules beside it are layered by DESIGN.md, cli -> orchestrate -> scheduler/worker -> train).
"""

__version__ = "0.1.0"
__all__ = ["load_study", "run", "analyze", "build_report", "register_model", "register_dataset",
           "register_regularizer"]
_API = {"load_study", "run", "build_report", "register_model", "register_dataset", "register_regularizer"}


def __getattr__(name):
    if name in _API:
        from ablate import api

        return getattr(api, name)
    if name == "run_study":  # the orchestration entry point under its own name (a Study in, no overrides)
        from ablate.orchestrate import run_study

        return run_study
    if name == "analyze":
        from ablate.report.analyze import analyze

        return analyze
    raise AttributeError(f"module 'ablate' has no attribute '{name}'")
