"""ablate: regularization ablation studies for deep learning (PyTorch + Optuna + MLflow + statistics)."""

__version__ = "0.1.0"
__all__ = ["load_study", "run_study", "build_report"]


def __getattr__(name):  # lazy: importing ablate must not import torch/mlflow/optuna
    if name == "load_study":
        from ablate.validate import load_study

        return load_study
    if name == "run_study":
        from ablate.orchestrate import run_study

        return run_study
    if name == "build_report":
        from ablate.report import build_report

        return build_report
    raise AttributeError(name)
