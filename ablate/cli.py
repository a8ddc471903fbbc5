"""`ablate run|plan|validate|analyze|report|compare|status|list|worker|launch|ui|dashboard`: argument parsing
and wiring only."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ablate.errors import AblateError
from ablate.parser import build_parser as _parser

EXIT_CELLS_FAILED = 3  # `ablate run`: the study ran, but not every cell finished (0: all did; 2: bad input; 130: interrupted)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """argparse, with overrides allowed anywhere after the study (`ablate run s.yaml --workers 2 seeds=1`)."""
    from ablate.overrides import is_override

    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all(is_override(e) for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "validate":
        files = [a for a in args.study if not is_override(a) or Path(a).exists()]
        args.overrides, args.study = [a for a in args.study if a not in files], files
    if getattr(args, "system_metrics", False):
        from ablate.tracking.writer import SYSTEM_METRICS_ENV

        os.environ[SYSTEM_METRICS_ENV] = "true"  # MLflow's switch; local worker processes inherit it
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.command is None:  # a bare `ablate`: the help is the answer, not an error
        _parser().print_help()
        return 0
    from ablate import interrupts

    previous = interrupts.install()  # a batch system's SIGTERM stops as cleanly as Ctrl-C
    try:
        return COMMANDS[args.command](args)
    except AblateError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # a store fault (disk full, read-only, damaged) is said once, not as a traceback
        from ablate.faults import store_fault

        if (message := store_fault(e)) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        cmd = " ".join(shlex.quote(a) for a in ["ablate", *(sys.argv[1:] if argv is None else argv)])
        print(f"\ninterrupted: the running cell was marked (KILLED in MLflow) and will run again; finished "
              f"cells are kept. Resume with:\n  {cmd}", file=sys.stderr)
        return 130
    finally:
        interrupts.restore(previous)


def cmd_validate(args) -> int:
    from ablate.validate import load_study

    code = 0
    for path in args.study:
        try:
            study = load_study(path, tuple(args.overrides), plugins=args.plugin)
        except AblateError as e:
            print(str(e), file=sys.stderr)
            code = 2
            continue
        arms = study.arms()
        print(f"{path}: study '{study.name}' ({study.design.name}, model {study.model.name}, "
              f"data {study.data.name}, hash {study.study_hash[:12]})")
        print("\n".join([f"  {arm.name}" for arm in arms] + list(study.design.describe(study.factors, arms))))
        if study.tune is not None:
            from ablate.tuning import tune_arm

            print(f"tune phase first: {study.tune.trials} trials on arm '{tune_arm(study).name}' "
                  f"({', '.join(study.tune.params)})")
        print(f"{len(arms)} arms x {len(study.seeds)} seeds = {len(arms) * len(study.seeds)} cells")
        if args.check_shapes:
            from ablate.preflight import check_shapes

            try:
                spec = check_shapes(study)
                print(f"shapes: data and model agree ({spec.num_classes} classes)")
            except AblateError as e:
                print(f"{path}: {e}", file=sys.stderr)
                code = 2
        if args.check_plugins:
            from ablate.testing import check_plugins

            failures = check_plugins(study)
            for line in failures:
                print(f"{path}: plugin contract broken: {line}", file=sys.stderr)
            code = 2 if failures else code
            print(f"plugins: {len(study.plugins)} checked, {len(failures)} broken contracts")
    return code


def cmd_run(args) -> int:
    from ablate.pool import worker_context

    if args.workers < 0:
        raise AblateError(f"--workers must be 0 (coordinate only) or more (given: {args.workers})")
    worker_context(args.workers)  # the fork server imports torch & co. while this process loads and sets up
    from ablate.orchestrate import run_study
    from ablate.overrides import study_text
    from ablate.plan import summary_line
    from ablate.validate import load_study

    overrides = tuple(args.overrides)
    study = load_study(args.study, overrides, plugins=args.plugin)
    if not args.quiet:  # from the validated study alone (no probe): the run starts no later for it
        print(summary_line(study, args.workers), file=sys.stderr)
    s = run_study(study, storage=args.storage, tracking_uri=args.tracking_uri, workers=args.workers,
                  report=not args.no_report, reports_dir=args.reports_dir, quiet=args.quiet,
                  study_text=study_text(args.study, overrides), fresh=args.fresh,
                  retry_failed=args.retry_failed, overrides=overrides)
    print(f"study '{study.name}'{f', variant {s.variant!r}' if s.variant else ''}: {s.finished}/{s.total} cells "
          f"finished, {len(s.failed)} failed, {s.ran_now} run now")
    for cid, reason in s.failed.items():
        print(f"  failed {cid}: {reason.splitlines()[0] if reason else ''}")
    if s.answer is not None:  # the answer where the user is: the last lines, even with --quiet
        print("\n".join(s.answer.lines(with_report=False)))
    if s.report:
        print(f"report: {s.report} (built in {s.report_seconds:.1f} s)")
        _say_no_verdict(s.answer)
    if s.finished == s.total:
        return 0
    retry = " ".join(shlex.quote(a) for a in ["ablate", "run", args.study, *overrides, "--retry-failed"])
    what = f"{len(s.failed)} cell(s) failed ({', '.join(list(s.failed)[:5])}{', ...' if len(s.failed) > 5 else ''})"
    if len(s.failed) < s.total - s.finished:
        what += f"; {s.total - s.finished - len(s.failed)} did not finish (still running elsewhere?)"
    print(f"error: {s.finished}/{s.total} cells finished: {what}. Fix the cause (each cell's reason is "
          f"above and on its MLflow run), then retry them:\n  {retry}", file=sys.stderr)
    return EXIT_CELLS_FAILED


def cmd_plan(args) -> int:
    from ablate import plan
    from ablate.validate import load_study
    study = load_study(args.study, tuple(args.overrides), plugins=args.plugin)
    measured = None if args.no_probe else plan.probe(study, say=lambda s: print(s, file=sys.stderr, flush=True))
    print("\n".join(plan.lines(study, measured, plan.history(study, args.tracking_uri))))
    return 0


def _study_name(given: str, plugins: list[str] = ()) -> str:
    """A study YAML file's study name, or the name itself: the commands that read a study back (report,
    status, compare, dashboard) take either. A file is loaded as every command loads it (validation imports
    no torch, so this is quick), and a file with a problem says so, naming the field."""
    if given.endswith((".yaml", ".yml")) or Path(given).is_file():
        from ablate.validate import load_study

        return load_study(given, plugins=plugins).name
    return given


def cmd_report(args) -> int:
    from ablate.orchestrate import report_folder
    from ablate.report.html import report_answer
    from ablate.tracking import resolve_uri, variant_ref

    name, uri = _study_name(args.study, args.plugin), resolve_uri(args.tracking_uri)
    ref, label = variant_ref(name, args.variant, uri)
    print(report_answer(ref, uri, report_folder(args.reports_dir, name, label)))
    return 0



def cmd_analyze(args) -> int:
    from ablate.report.analyze import analyze

    answer = analyze(args.results, args.design, args.metric, args.direction, args.min_effect, args.out,
                     args.classes)
    print(answer)
    _say_no_verdict(answer)
    return 0


def _say_no_verdict(answer) -> None:
    """The terminal's copy of the page's banner: a study that did not learn gets no verdict."""
    for reason in answer.no_verdict() if answer is not None else ():
        print(f"NO VERDICT: {reason}", file=sys.stderr)


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
            extra = f" [{applies_note(entry)}]" if title == "regularizers" else ""
            print(f"  {name:<18} {getattr(entry, 'summary', '')}{extra}")
    return 0


def cmd_worker(args) -> int:
    from ablate.orchestrate import work
    from ablate.validate import load_study

    study = load_study(args.study, tuple(args.overrides), plugins=args.plugin)
    n = work(study, storage=args.storage, tracking_uri=args.tracking_uri, threads=args.threads,
             wait_seconds=args.wait_seconds, study_path=args.study)
    print(f"worker ran {n} cell(s) of '{study.name}'")
    return 0


def cmd_ui(args) -> int:
    from ablate.tracking import resolve_uri
    from ablate.tracking.reader import studies
    from ablate.tracking.ui import runs_url, serve
    from ablate.uri import redact_uri

    uri = resolve_uri(args.tracking_uri)
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI on {base} over {redact_uri(uri)}", file=sys.stderr)
    found = studies(uri)
    for name, exp_id in found:
        print(f"  study {name}: {runs_url(base, exp_id)}", file=sys.stderr)
    if found:
        print(f"  {base}/ opens study {found[0][0]} (the latest)", file=sys.stderr)
    serve(uri, args.host, args.port, args.ui_workers, landing=found[0][1] if found else "")
    return 0


def cmd_dashboard(args) -> int:
    from ablate.scheduler.dashboard import serve_dashboard
    from ablate.scheduler.storage import resolve_storage

    serve_dashboard(_study_name(args.study), resolve_storage(args.storage), args.host, args.port)
    return 0


def cmd_status(args) -> int:
    from ablate.status import finished_answer, format_status, study_status

    status = study_status(args.study, tuple(args.overrides), args.storage, args.tracking_uri, tuple(args.plugin), args.variant)
    print(format_status(status))
    answer, note = finished_answer(status, Path(args.reports_dir))
    for text in (note, answer):  # a finished study's answer, as its report states it: the last lines
        if text:
            print(text)
    return 0


def cmd_compare(args) -> int:
    from ablate.orchestrate import report_slug
    from ablate.report.compare import build_comparison
    from ablate.tracking import resolve_uri, variant_ref

    uri_a = resolve_uri(args.tracking_uri)
    uri_b = resolve_uri(args.tracking_uri_b) if args.tracking_uri_b else uri_a
    (a, la), (b, lb) = variant_ref(_study_name(args.a), args.variant_a, uri_a), variant_ref(_study_name(args.b), args.variant_b, uri_b)
    out = Path(args.out or f"reports/compare_{report_slug(' '.join((a.split('@')[0], la, 'vs', b.split('@')[0], lb)))}")
    index, lines = build_comparison(a, b, uri_a, uri_b, out)
    print("\n".join(lines))
    print(f"comparison: {index}")
    return 0


def cmd_launch(args) -> int:
    from ablate.launch.command import launch

    print("\n".join(launch(**vars(args))))
    return 0


COMMANDS = {"run": cmd_run, "plan": cmd_plan, "validate": cmd_validate, "report": cmd_report, "list": cmd_list,
            "worker": cmd_worker, "ui": cmd_ui, "dashboard": cmd_dashboard, "status": cmd_status,
            "compare": cmd_compare, "analyze": cmd_analyze, "launch": cmd_launch}

def entry() -> None:
    """The `ablate` command: main(), then exit without the interpreter's ~1 s teardown of torch, MLflow and
    SQLAlchemy. Nothing is left to flush by then: files are closed, and every MLflow and Optuna write is
    synchronous."""
    import logging

    code = main()
    if "ablate.tracking.client" in sys.modules:  # a process that opened a SQLite store folds its WAL in
        sys.modules["ablate.tracking.client"].close_stores()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
