"""`ablate run|validate|report|list|worker|ui`: argument parsing and wiring only."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ablate.errors import AblateError

EPILOG = """examples:
  ablate validate studies/quickstart.yaml
  ablate run studies/quickstart.yaml --workers 2
  ablate report studies/quickstart.yaml
  ablate worker studies/quickstart.yaml --storage postgresql://user@db/ablate
  ablate ui

stores: MLflow at $MLFLOW_TRACKING_URI or sqlite:///mlflow.db (artifacts in mlartifacts/);
Optuna at $ABLATE_STORAGE or the journal file optuna.journal; reports in reports/<study>/index.html."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ablate", description="Regularization ablation studies: YAML study -> "
                                "Optuna-driven PyTorch cells -> MLflow runs -> an HTML report with statistics.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def plugin(sp):
        sp.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a Python file or module that registers models, datasets or regularizers (runs "
                        "its code; beside the study's own `plugins:`); repeatable")

    def stores(sp, storage=True):
        sp.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                        "sqlite:///mlflow.db)")
        if storage:
            sp.add_argument("--storage", help="Optuna storage URL (default: $ABLATE_STORAGE or the journal "
                            "file optuna.journal); postgresql://... for many machines")

    r = sub.add_parser("run", help="run (or resume) a study and build its report")
    r.add_argument("study", help="path to a study YAML file")
    r.add_argument("--workers", type=int, default=1, help="local worker processes (threads = cores / N); 0 "
                   "runs no cell here: it prepares the stores, waits for `ablate worker`s elsewhere, reports")
    stores(r)
    plugin(r)
    r.add_argument("--reports-dir", default="reports", help="where reports/<study>/index.html goes")
    r.add_argument("--no-report", action="store_true", help="skip building the HTML report")
    r.add_argument("--fresh", action="store_true", help="the study file changed (or its MLflow store was lost): set the old runs aside "
                   "(renamed with their hash) and start this study afresh")
    r.add_argument("--retry-failed", action="store_true", help="also rerun cells that failed (e.g. diverged)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    v = sub.add_parser("validate", help="check study files; print arms and cell counts; touch no store")
    v.add_argument("study", nargs="+")
    plugin(v)

    rep = sub.add_parser("report", help="rebuild a study's report from MLflow alone")
    rep.add_argument("study", help="a study YAML file or a study name")
    stores(rep, storage=False)
    plugin(rep)
    rep.add_argument("--reports-dir", default="reports")

    ls = sub.add_parser("list", help="list registered regularizers, models, datasets and designs")
    ls.add_argument("what", nargs="?", choices=["regularizers", "models", "datasets", "designs"])
    plugin(ls)

    w = sub.add_parser("worker", help="join a running study from this machine (runs waiting cells)")
    w.add_argument("study", help="the same study YAML file the study was started with")
    stores(w)
    plugin(w)
    w.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    w.add_argument("--wait-seconds", type=float, default=120.0, help="how long to wait for `ablate run` to "
                   "start the study, if it has not yet (default 120)")

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    previous = _on_sigterm(_interrupt)  # a batch system's SIGTERM stops as cleanly as Ctrl-C
    try:
        return COMMANDS[args.command](args)
    except AblateError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        cmd = " ".join(shlex.quote(a) for a in ["ablate", *(sys.argv[1:] if argv is None else argv)])
        print(f"\ninterrupted: the running cell was marked (KILLED in MLflow) and will run again; finished "
              f"cells are kept. Resume with:\n  {cmd}", file=sys.stderr)
        return 130
    finally:
        _on_sigterm(previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _on_sigterm(handler):
    import signal
    import threading

    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def cmd_validate(args) -> int:
    from ablate.validate import load_study

    code = 0
    for path in args.study:
        try:
            study = load_study(path, plugins=args.plugin)
        except AblateError as e:
            print(str(e), file=sys.stderr)
            code = 2
            continue
        arms = study.arms()
        print(f"{path}: study '{study.name}' ({study.design.name}, model {study.model.name}, "
              f"data {study.data.name}, hash {study.study_hash[:12]})")
        for arm in arms:
            print(f"  {arm.name}")
        for line in study.design.describe(study.factors, arms):
            print(line)
        if study.tune is not None:
            from ablate.tuning import tune_arm

            print(f"tune phase first: {study.tune.trials} trials on arm '{tune_arm(study).name}' "
                  f"({', '.join(study.tune.params)})")
        print(f"{len(arms)} arms x {len(study.seeds)} seeds = {len(arms) * len(study.seeds)} cells")
    return code


def cmd_run(args) -> int:
    from ablate.pool import worker_context

    if args.workers < 0:
        raise AblateError(f"--workers must be 0 (coordinate only) or more (given: {args.workers})")
    worker_context(args.workers)  # the fork server imports torch & co. while this process loads and sets up
    from ablate.orchestrate import run_study
    from ablate.validate import load_study

    study = load_study(args.study, plugins=args.plugin)
    s = run_study(study, storage=args.storage, tracking_uri=args.tracking_uri, workers=args.workers,
                  report=not args.no_report, reports_dir=args.reports_dir, quiet=args.quiet,
                  study_text=Path(args.study).read_text(encoding="utf-8"), fresh=args.fresh,
                  retry_failed=args.retry_failed)
    print(f"study '{study.name}': {s.finished}/{s.total} cells finished, {len(s.failed)} failed, "
          f"{s.ran_now} run now")
    for cid, reason in s.failed.items():
        print(f"  failed {cid}: {reason.splitlines()[0] if reason else ''}")
    if s.report:
        print(f"report: {s.report}")
    return 0


def _study_name(given: str, plugins: list[str] = ()) -> str:
    """A study YAML file's study name, or the name itself."""
    if given.endswith((".yaml", ".yml")) or Path(given).is_file():
        from ablate.validate import load_study

        return load_study(given, plugins=plugins).name
    return given


def cmd_report(args) -> int:
    from ablate.orchestrate import report_slug
    from ablate.report import build_report
    from ablate.tracking import resolve_uri

    name = _study_name(args.study, args.plugin)
    out = build_report(name, resolve_uri(args.tracking_uri), Path(args.reports_dir) / report_slug(name))
    print(f"report: {out}")
    return 0


def cmd_list(args) -> int:
    from ablate.data import DATASETS
    from ablate.designs import DESIGNS
    from ablate.models import MODELS
    from ablate.plugins import load_entry_points, study_plugins
    from ablate.regularizers import REGULARIZERS, applies_note

    load_entry_points()
    study_plugins((), "<command line>", args.plugin)
    tables = {"regularizers": REGULARIZERS, "models": MODELS, "datasets": DATASETS, "designs": DESIGNS}
    for title, reg in tables.items():
        if args.what and args.what != title:
            continue
        print(f"{title}:")
        for name in reg.names():
            entry = reg.get(name)
            extra = ""
            if title == "regularizers":
                extra = f" [{applies_note(entry)}]"
            print(f"  {name:<18} {getattr(entry, 'summary', '')}{extra}")
    return 0


def cmd_worker(args) -> int:
    from ablate.orchestrate import work
    from ablate.validate import load_study

    study = load_study(args.study, plugins=args.plugin)
    n = work(study, storage=args.storage, tracking_uri=args.tracking_uri, threads=args.threads,
             wait_seconds=args.wait_seconds, study_path=args.study)
    print(f"worker ran {n} cell(s) of '{study.name}'")
    return 0


def cmd_ui(args) -> int:
    from ablate.tracking import resolve_uri

    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", resolve_uri(args.tracking_uri),
           "--host", args.host, "--port", str(args.port)]
    print("starting:", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    os.execv(sys.executable, cmd)
    return 0


def cmd_dashboard(args) -> int:
    from ablate.scheduler.dashboard import serve_dashboard
    from ablate.scheduler.storage import resolve_storage

    serve_dashboard(_study_name(args.study), resolve_storage(args.storage), args.host, args.port)
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "report": cmd_report, "list": cmd_list,
            "worker": cmd_worker, "ui": cmd_ui, "dashboard": cmd_dashboard}

def entry() -> None:
    """The `ablate` command: main(), then exit without the interpreter's ~1 s teardown of torch, MLflow and
    SQLAlchemy. Nothing is left to flush by then: files are closed, and every MLflow and Optuna write is
    synchronous."""
    import logging

    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
