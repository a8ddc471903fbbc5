"""The command line's shape: every command, its arguments and their help (cli.py reads argv with it)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  ablate validate studies/quickstart.yaml
  ablate plan studies/quickstart.yaml     (cells, architectures, measured time for 1/2/4 workers)
  ablate run studies/quickstart.yaml --workers 2
  ablate run studies/quickstart.yaml train.epochs=2 seeds=1     (overrides: dotted path = YAML value)
  ablate status studies/quickstart.yaml
  ablate report studies/quickstart.yaml
  ablate compare quickstart text_quickstart
  ablate analyze results.csv                             (statistics for a table from anywhere)
  ablate worker studies/quickstart.yaml --storage postgresql://user@db/ablate
  ablate launch slurm studies/cifar_ablation.yaml --workers 8 --gpus-per-worker 1 --time 4:00:00 \
      --storage postgresql://user@db/ablate --tracking-uri http://db:5000 [--dry-run]
  ablate ui

stores: MLflow at $MLFLOW_TRACKING_URI or sqlite:///mlflow.db (artifacts in mlartifacts/);
Optuna at $ABLATE_STORAGE or the journal file optuna.journal; reports in reports/<study>/index.html."""


RUN_EXIT_CODES = """exit codes:
  0    every cell finished (the report was built, unless --no-report)
  2    bad input: the study file, an override, a plugin, the data or a store; nothing ran
  3    the study ran, but some cells failed (each is named with its reason); fix the cause, then
       rerun the same command with --retry-failed (finished cells are never trained again)
  130  interrupted (Ctrl-C or SIGTERM): finished cells are kept; the same command resumes"""


VARIANT = ("which variant of the study (a run with overrides or an edited file): its name as `ablate run` printed "
           "it, e.g. 'train.epochs=2 seeds=1', or its study hash's first 6+ digits; default: the first variant")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ablate", description="Regularization ablation studies: YAML study -> "
                                "Optuna-driven PyTorch cells -> MLflow runs -> an HTML report with statistics.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"ablate {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    over = "overrides: key.path=value (YAML value) or ~key.path (delete), applied to the study file"

    def stores(sp, storage=True):
        sp.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                        "sqlite:///mlflow.db)")
        if storage:
            sp.add_argument("--storage", help="Optuna storage URL (default: $ABLATE_STORAGE or the journal "
                            "file optuna.journal); postgresql://... for many machines")

    def plugin(sp):
        sp.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a Python file or module that registers models, datasets or regularizers (runs "
                        "its code; beside the study's own `plugins:`); repeatable")

    r = sub.add_parser("run", help="run (or resume) a study and build its report",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUN_EXIT_CODES)
    r.add_argument("study", help="path to a study YAML file")
    r.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=over)
    r.add_argument("--workers", type=int, default=1, help="cells trained at a time here, by this process and "
                   "N-1 worker processes (threads = cores / N); 0 runs no cell here: it prepares the stores, "
                   "waits for `ablate worker`s elsewhere, reports")
    stores(r)
    plugin(r)
    r.add_argument("--reports-dir", default="reports", help="where reports/<study>/index.html goes")
    r.add_argument("--no-report", action="store_true", help="skip building the HTML report")
    r.add_argument("--fresh", action="store_true", help="start this study variant afresh: its Optuna study moved "
                   "aside (`<name>@aside<k>`), its parent run retired (nothing deleted; other variants untouched)")
    r.add_argument("--retry-failed", action="store_true", help="also rerun cells that failed (e.g. diverged)")
    r.add_argument("--quiet", action="store_true", help="no progress output (bar or lines)")
    r.add_argument("--system-metrics", action="store_true", help="sample CPU, memory, disk, network (and GPU) "
                   "into each cell run (MLflow's system metrics; needs psutil)")

    v = sub.add_parser("validate", help="check study files; print arms and cell counts; touch no store")
    v.add_argument("study", nargs="+", help="study files, then any overrides (KEY=VALUE) for all of them")
    plugin(v)
    v.add_argument("--check-plugins", action="store_true", help="also run ablate.testing's contract checks on "
                   "every model, dataset and regularizer the study's plugins register (trains a step or two)")
    v.add_argument("--check-shapes", action="store_true", help="also load the data and give each network one "
                   "forward (as `ablate run` does before any store): output (batch, classes), images (N, C, H, W)")

    pl = sub.add_parser("plan", help="cells, arms by architecture, and the time they will take here (measured "
                        "by a few-second probe; history from MLflow beside it); touches no store")
    pl.add_argument("study", help="path to a study YAML file")
    pl.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=over)
    stores(pl, storage=False)
    plugin(pl)
    pl.add_argument("--no-probe", action="store_true", help="cells and architectures only (no torch, no data)")

    rep = sub.add_parser("report", help="rebuild a study's report from MLflow alone")
    rep.add_argument("study", help="a study YAML file or a study name")
    stores(rep, storage=False)
    plugin(rep)
    rep.add_argument("--reports-dir", default="reports")
    rep.add_argument("--variant", help=VARIANT)

    an = sub.add_parser("analyze", help="the report's statistics for a results table from anywhere (no training)")
    an.add_argument("results", help="CSV: one row per cell: seed, a column per factor (its level; 0/off = off), "
                    "metric columns")
    an.add_argument("--design", default="infer", help="the design the rows came from (default: inferred "
                    "from the table's arms; e.g. full_factorial, add_one, loco, explicit, fractional); refused "
                    "when its arms are not the table's")
    an.add_argument("--metric", help="the metric column (default: the only one, else test_acc)")
    an.add_argument("--direction", choices=["maximize", "minimize"], help="default: by the metric's name")
    an.add_argument("--min-effect", type=float, help="the smallest difference that matters, in the metric's "
                    "units (0.005 = half a point of accuracy; default per metric)")
    an.add_argument("--classes", type=int, help="the data's class count: cells at chance (1/classes accuracy, "
                    "ln(classes) loss) then get no verdict; without it that check is skipped, and the page says so")
    an.add_argument("--out", default="analysis", help="directory for index.html, effects.csv, verdicts.csv")

    st = sub.add_parser("status", help="cells done/running/failed/waiting, per worker host, from the stores")
    st.add_argument("study", help="a study YAML file or a study name")
    st.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=over)
    stores(st)
    st.add_argument("--reports-dir", default="reports", help="where a finished study's report (its answer) is")
    st.add_argument("--variant", help=VARIANT)
    plugin(st)

    cmp = sub.add_parser("compare", help="two studies' verdicts and leaderboards side by side, from MLflow")
    cmp.add_argument("a", help="a study YAML file or a study name")
    cmp.add_argument("b", help="the other study (file or name)")
    stores(cmp, storage=False)
    cmp.add_argument("--tracking-uri-b", help="the second study's MLflow store, if not the first's")
    cmp.add_argument("--out", help="output folder (default reports/compare_<a>_vs_<b>/)")
    cmp.add_argument("--variant-a", help="a's variant (" + VARIANT + ")")
    cmp.add_argument("--variant-b", help="b's variant (`ablate compare s s --variant-b 'seeds=1'`: the study's "
                     "first variant against another)")

    ls = sub.add_parser("list", help="list registered regularizers, models, datasets and designs")
    ls.add_argument("what", nargs="?", choices=["regularizers", "models", "datasets", "designs"])
    plugin(ls)

    w = sub.add_parser("worker", help="join a running study from this machine (runs waiting cells)")
    w.add_argument("study", help="the same study YAML file the study was started with")
    w.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="the same overrides as `ablate run`")
    stores(w)
    plugin(w)
    w.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    w.add_argument("--system-metrics", action="store_true", help="as for `ablate run`")
    w.add_argument("--wait-seconds", type=float, default=120.0, help="how long to wait for `ablate run` to "
                   "start the study, if it has not yet (default 120)")

    launch(sub, stores, over)

    dash = sub.add_parser("dashboard", help="start optuna-dashboard over a study's Optuna storage "
                          "(the ablation's trials and, if any, its tune phase)")
    dash.add_argument("study", help="a study YAML file or a study name")
    dash.add_argument("--storage", help="Optuna storage URL (default: $ABLATE_STORAGE or optuna.journal)")
    dash.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    dash.add_argument("--port", type=int, default=8080)

    ui = sub.add_parser("ui", help="start the MLflow UI over the project's store")
    stores(ui, storage=False)
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--ui-workers", type=int, default=1, help="MLflow server worker processes (default 1)")
    return p


def launch(sub, stores, over) -> None:
    """`ablate launch slurm|k8s`: N long-lived workers on a cluster's own engine (never one job per cell)."""
    la = sub.add_parser("launch", help="start N `ablate worker`s on Slurm (one job array) or Kubernetes "
                        "(one Indexed Job) against shared stores")
    engines = la.add_subparsers(dest="engine", metavar="ENGINE", required=True)
    for engine, text in (("slurm", "write <study>.slurm.sh (a job array of workers) and sbatch it"),
                         ("k8s", "write <study>.k8s.yaml (Secret, ConfigMap, Indexed Job); --apply applies it")):
        e = engines.add_parser(engine, help=text)
        e.add_argument("study", help="path to a study YAML file")
        e.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=over)
        e.add_argument("--workers", type=int, required=True, help="how many long-lived workers drain the queue")
        e.add_argument("--gpus-per-worker", type=int, default=0)
        e.add_argument("--cpus-per-worker", type=int, help="cores per worker (also its torch threads)")
        stores(e)
    s = engines.choices["slurm"]
    s.add_argument("--time", help="each task's time limit, e.g. 4:00:00 (a task stopped by it returns its "
                   "cell to the queue and is requeued)")
    s.add_argument("--partition")
    s.add_argument("--sbatch", default="", help='extra #SBATCH lines, e.g. "--account=lab\n--qos=low"')
    s.add_argument("--dry-run", action="store_true", help="write the script, submit nothing")
    k = engines.choices["k8s"]
    k.add_argument("--image", help="a container image with ablate installed (required)")
    k.add_argument("--apply", action="store_true", help="also `kubectl apply -f` the manifest")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ablate-studies")  # the distribution's name; `ablate` on PyPI is another project
    except metadata.PackageNotFoundError:
        from ablate import __version__

        return __version__
