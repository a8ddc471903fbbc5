"""The only package that imports optuna: storage.py (URLs, opening, whole studies), cells.py (enqueue once,
claim, settle, adopt), liveness.py (heartbeats, dead workers), tune.py (the tune phase), dashboard.py.
Private Optuna access sits in _optuna.py alone. Nothing is imported here: importing a submodule stays cheap.

May import: ablate.study, ablate.records, ablate.tuning, ablate.errors, ablate.faults, ablate.procs,
ablate.testpoints, ablate.uri, ablate.parentrun (the parent run as a protocol: its MLflow side is
tracking's) (never tracking, worker or train: the queue knows cells, not training).
"""
