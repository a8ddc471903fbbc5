"""The tune phase's figures: optimization history, per-epoch curves of every trial, the objective against
each tuned setting, and parameter importances. Each takes the tune history the tune phase logged.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

STATE_STYLE = {"COMPLETE": ("o", "#0969da"), "PRUNED": ("x", "#8c959f"), "FAIL": ("s", "#cf222e")}


def objective_points(trials: list[dict]) -> list[tuple[int, float, str]]:
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
    points = objective_points(summary.get("trials", []))
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
    points = {t["number"]: (v, s) for t in summary.get("trials", []) for n, v, s in objective_points([t])}
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
