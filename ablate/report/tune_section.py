"""The tune section: how the search went, which settings mattered, and the values the ablation froze.

Read from MLflow alone: the parent record's frozen values and importances, and the tune history artifact
that the tune phase logged when it finished (scheduler's tune summary), all read by tracking.read_study.
A study without a tune phase gets no section.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ablate.report.results import Results

STATE_STYLE = {"COMPLETE": ("o", "#0969da"), "PRUNED": ("x", "#8c959f"), "FAIL": ("s", "#cf222e")}


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


def _objective_points(trials: list[dict]) -> list[tuple[int, float, str]]:
    """(trial number, value, state): a pruned trial sits at its last reported value."""
    out = []
    for t in trials:
        value = t.get("value")
        if value is None and t.get("intermediate"):
            value = list(t["intermediate"].values())[-1]
        if value is not None and math.isfinite(value):
            out.append((t["number"], float(value), t["state"]))
    return out


def best_so_far(points: list[tuple[int, float, str]], direction: str) -> list[tuple[int, float]]:
    """The running best over complete trials, in trial order (the optimization history's step line)."""
    best, out = None, []
    pick = max if direction == "maximize" else min
    for number, value, state in sorted(points):
        if state == "COMPLETE":
            best = value if best is None else pick(best, value)
        if best is not None:
            out.append((number, best))
    return out


def history_figure(summary: dict) -> Figure:
    """Optimization history: every trial's value, pruned ones at their last report, and the running best."""
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    points = _objective_points(summary.get("trials", []))
    for state, (marker, color) in STATE_STYLE.items():
        xs = [n for n, _, s in points if s == state]
        ys = [v for _, v, s in points if s == state]
        if xs:
            ax.scatter(xs, ys, marker=marker, color=color, label=state.lower(), zorder=3)
    line = best_so_far(points, summary.get("direction", "maximize"))
    if line:
        ax.step(
            [n for n, _ in line], [v for _, v in line], where="post", color="#1a7f37", label="best so far"
        )
    ax.set_xlabel("trial")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(f"{summary.get('metric', 'metric')} (best epoch)")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def curves_figure(summary: dict) -> Figure:
    """Each trial's validation metric per epoch: pruned trials stop where the pruner judged them hopeless."""
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    best = summary.get("best_number")
    for t in summary.get("trials", []):
        steps = sorted((int(k), v) for k, v in t.get("intermediate", {}).items())
        if not steps:
            continue
        x, y = zip(*steps)
        _, color = STATE_STYLE.get(t["state"], ("o", "#57606a"))
        style = (
            {"color": "#1a7f37", "lw": 2.2, "zorder": 3} if t["number"] == best else {"color": color, "lw": 1}
        )
        ax.plot(x, y, ls="--" if t["state"] == "PRUNED" else "-", alpha=0.9, **style)
    ax.set_xlabel("epoch")
    ax.set_ylabel(summary.get("metric", "metric"))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("green: best trial; dashed grey: pruned", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def importance_figure(importances: dict[str, float], method: str) -> Figure:
    """Parameter importances: how much of the objective's variation each tuned setting explains."""
    fig = Figure(figsize=(7.5, 0.5 + 0.45 * max(1, len(importances))), layout="constrained")
    ax = fig.add_subplot()
    items = sorted(importances.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color="#0969da")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"importance ({method})")
    return fig


def slice_figure(summary: dict) -> Figure:
    """Objective against each tuned setting: where the good values lie, and how flat the optimum is."""
    space = summary.get("setup", {}).get("space", {})
    names = list(space) or sorted({k for t in summary.get("trials", []) for k in t.get("params", {})})
    fig = Figure(figsize=(3.6 * max(1, len(names)), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(names)), squeeze=False)[0])
    points = {t["number"]: (v, s) for t in summary.get("trials", []) for n, v, s in _objective_points([t])}
    for ax, name in zip(axes, names):
        for state, (marker, color) in STATE_STYLE.items():
            xs = [
                t["params"][name]
                for t in summary.get("trials", [])
                if name in t.get("params", {}) and t["number"] in points and points[t["number"]][1] == state
            ]
            ys = [
                points[t["number"]][0]
                for t in summary.get("trials", [])
                if name in t.get("params", {}) and t["number"] in points and points[t["number"]][1] == state
            ]
            if xs:
                ax.scatter(xs, ys, marker=marker, color=color, label=state.lower())
        if space.get(name, {}).get("log"):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(summary.get("metric", "metric"))
    return fig


def figure_block(fid: str, title: str, fn, *args):
    """Render one figure into the report's FigureBlock; the function's first docstring line is the caption."""
    from ablate.report.sections import FigureBlock, figure_png

    return FigureBlock(fid, title, figure_png(fn(*args)), (fn.__doc__ or "").strip().split("\n")[0])


def _figures(tune: dict) -> list:
    _block = figure_block
    summary = tune["summary"]
    blocks = []
    if summary.get("trials"):
        blocks += [
            _block("tune-history", "Optimization history", history_figure, summary),
            _block("tune-curves", "Validation metric per epoch, every trial", curves_figure, summary),
            _block("tune-slices", "Objective against each tuned setting", slice_figure, summary),
        ]
    if tune["importances"]:
        blocks.append(
            _block(
                "tune-importance",
                "Parameter importances",
                importance_figure,
                tune["importances"],
                tune["method"],
            )
        )
    return blocks


def tune_section(results: Results):
    """How the tune phase searched, what it froze, and that every ablation cell used the frozen values."""
    from ablate.report.sections import Section

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
