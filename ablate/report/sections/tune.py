"""The tune section: how the search went, which settings mattered, and the values the ablation froze.

Read from MLflow alone: the parent record's frozen values and importances, and the tune history artifact
that the tune phase logged when it finished (scheduler's tune summary), all read by tracking.read_study.
A study without a tune phase gets no section.
"""

from __future__ import annotations

from ablate.report.figures.tune import curves_figure, history_figure, importance_figure, slice_figure
from ablate.report.page import FigureBlock, Section, figure_block
from ablate.report.results import Results


def load_tune(results: Results) -> dict | None:
    """Frozen values, importances and the trial history; None when the study had no tune phase."""
    study = results.study
    if study.tuned is None:
        return None
    summary = results.tune_summary or {}
    return {
        "frozen": study.tuned,
        "importances": summary.get("importances", study.tune_importances),
        "method": summary.get("importance_method", study.tune_importance_method),
        "summary": summary,
    }


def _figures(tune: dict) -> list[FigureBlock]:
    summary = tune["summary"]
    blocks = []
    if summary.get("trials"):
        blocks += [
            figure_block("tune-history", "Optimization history", history_figure, summary),
            figure_block("tune-curves", "Validation metric per epoch, every trial", curves_figure, summary),
            figure_block("tune-slices", "Objective against each tuned setting", slice_figure, summary),
        ]
    if tune["importances"]:
        blocks.append(
            figure_block(
                "tune-importance",
                "Parameter importances",
                importance_figure,
                tune["importances"],
                tune["method"],
            )
        )
    return blocks


def tune_section(results: Results) -> Section | None:
    """How the tune phase searched, what it froze, and that every ablation cell used the frozen values."""
    tune = load_tune(results)
    if tune is None:
        return None
    summary, setup = tune["summary"], tune["summary"].get("setup", {})
    trials = summary.get("trials", [])
    states = {s: sum(t["state"] == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    facts = [
        (
            "Tuned on",
            f"arm {setup.get('arm', '?')}, seed {setup.get('seed', '?')}"
            + (" (a seed no ablation cell uses)" if setup.get("seed") not in results.study.seeds else ""),
        ),
        (
            "Objective",
            f"{summary.get('metric', '?')} ({summary.get('direction', '?')}), its best epoch; the "
            f"ablation is judged on {results.study.metric}",
        ),
        (
            "Trials",
            f"{len(trials)}: {states['COMPLETE']} complete, {states['PRUNED']} pruned, "
            f"{states['FAIL']} failed"
            if trials
            else "(history not available)",
        ),
        (
            "Search",
            f"{setup.get('sampler', '?')} sampler, {setup.get('pruner', '?')} pruner, "
            f"{setup.get('epochs', '?')} epochs per trial"
            if setup
            else "",
        ),
        (
            "Best trial",
            f"#{summary['best_number']}: {summary['best_value']:.4f}" if "best_value" in summary else "",
        ),
        ("Optuna study", summary.get("optuna_study", "")),
    ]
    space = setup.get("space", {})
    frozen = [
        {
            "setting": k,
            "value": f"{v:.4g}" if isinstance(v, float) else str(v),
            "range": _range_text(space.get(k)),
            "importance": tune["importances"].get(k),
        }
        for k, v in tune["frozen"].items()
    ]
    return Section(
        "tune",
        "Tune phase (frozen before the ablation)",
        "_tune.html",
        {
            "facts": [(k, v) for k, v in facts if v],
            "frozen": frozen,
            "method": tune["method"],
            "figures": _figures(tune),
        },
    )


def _range_text(rng: dict | None) -> str:
    if not rng:
        return ""
    return f"[{rng['low']:g}, {rng['high']:g}]" + (" log" if rng.get("log") else "")
