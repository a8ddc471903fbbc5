"""Launchers on the engines people already run: a Slurm job array (slurm.py) or a Kubernetes Indexed Job
(k8s.py) of N long-lived `ablate worker`s that drain the study's queue. Never one job per cell: a cell is a
claim in the shared Optuna storage, so N workers run every cell exactly once, whatever the cell count, and a
preempted worker's cell goes back to the queue for the others (or its own requeued task) to take.

stores.py refuses what cannot work on many machines (a local journal file, a SQLite or file tracking store)
before anything is written, and finds the engine's command (sbatch, kubectl) unless nothing is submitted.

May import: ablate.errors, ablate.uri, ablate.validate (to load the study and its plugins, as workers will).
"""
