"""The answer where the user is: the verdicts, the leaderboard and the effects as DataFrames (what
`ablate.run()` and `ablate.analyze()` return), and the few lines the terminal ends with.

Nothing is computed here: the tables are the report's own (stats/verdicts.py, stats/leaderboard.py,
stats/effects.py, each computed once per Results), or the CSV files a report wrote beside its page.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ablate.report.results import Results
from ablate.report.stats.effects import effect_table, metric_scale
from ablate.report.stats.leaderboard import leaderboard
from ablate.report.stats.verdicts import factor_verdicts, verdict_table


@dataclass(eq=False, repr=False)
class Answer:
    """A study's answer. `verdicts`: one row per factor (verdicts.csv's columns, numbers in the metric's
    units, plus `effect`: the verdict in words as the terminal and the parent run's tags show it);
    `leaderboard`: one row per arm, best first (summary.csv); `effects`: every estimated effect
    (effects.csv); `report`: the page, when one was written. `str()` is the terminal's table; where a path
    is expected (`os.fspath`, `.read_text()`, `.parent`) it stands for the report page."""

    study: str
    metric: str
    verdicts: pd.DataFrame
    leaderboard: pd.DataFrame
    effects: pd.DataFrame
    report: Path | None = None

    @classmethod
    def of(cls, results: Results, report: Path | None = None) -> Answer:
        """The answer of loaded results: the very tables the report's sections and CSV files used."""
        table = verdict_table(factor_verdicts(results))
        return cls(results.study.name, results.study.metric, _with_words(table, results.study.metric),
                   leaderboard(results), effect_table(results), report)

    @classmethod
    def read(cls, folder: str | Path, study: str = "") -> Answer | None:
        """The answer a report left in its folder (verdicts.csv, summary.csv, effects.csv), None if absent."""
        folder = Path(folder)
        try:
            verdicts = pd.read_csv(folder / "verdicts.csv", keep_default_na=True)
            board = pd.read_csv(folder / "summary.csv")
            effects = pd.read_csv(folder / "effects.csv")
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            return None
        metric = str(verdicts["metric"].iloc[0]) if "metric" in verdicts and len(verdicts) else "test_acc"
        for column in ("level", "rests_on", "basis"):  # empty text reads back as NaN
            if column in verdicts:
                verdicts[column] = verdicts[column].astype(object).where(verdicts[column].notna(), "")
        page = folder / "index.html"
        return cls(study or folder.name, metric, _with_words(verdicts, metric), board, effects,
                   page if page.is_file() else None)

    @property
    def best_arm(self) -> str:
        """The leaderboard's first arm with a finished cell ('' if none finished)."""
        row = _best_row(self.leaderboard)
        return "" if row is None else str(row["arm"])

    def tags(self) -> dict[str, str]:
        """factor -> its verdict in words (the parent run's `ablate.verdict.<factor>` tags)."""
        return dict(zip(self.verdicts["factor"].astype(str), self.verdicts["effect"]))

    def no_verdict(self) -> list[str]:
        """Why the study gets no verdict (the page's banner; stats/learned.py), or [] when it has verdicts."""
        v = self.verdicts
        if "verdict" not in v or "basis" not in v:
            return []
        return sorted(set(v.loc[v["verdict"] == "no_verdict", "basis"]))

    def lines(self, with_report: bool = True) -> list[str]:
        """The terminal's last lines: the verdicts as a table, the best arm, the report's path."""
        scale, unit = metric_scale(self.metric)
        rows = [("factor", "verdict", f"effect [95% CI]{' (' + unit + ')' if unit else ''}", "rests on")]
        for _, v in self.verdicts.iterrows():
            rows.append((str(v["factor"]) + (f"={v['level']}" if v.get("level") else ""), str(v["verdict"]),
                         _interval(v, scale), str(v.get("rests_on", "") or "")))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        out = [f"answer ({self.metric}):"] if len(rows) > 1 else [f"answer ({self.metric}): no factor verdicts"]
        if len(rows) > 1:
            out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
        if best := self.best_arm:
            out.append(f"best arm: {best}{_best_note(self.leaderboard, self.metric, scale, unit)}")
        if self.report is not None and with_report:
            out.append(f"report: {self.report}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    __repr__ = __str__  # a notebook shows the answer, not four DataFrames

    def __fspath__(self) -> str:
        if self.report is None:
            raise TypeError(f"study {self.study!r}: no report was written, so its answer has no path")
        return os.fspath(self.report)

    def __getattr__(self, name: str):  # the report's path attributes: callers that took a Path keep working
        if name.startswith("_") or self.__dict__.get("report") is None:
            raise AttributeError(name)
        return getattr(self.__dict__["report"], name)


def _number(x: float) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _interval(v: pd.Series, scale: float) -> str:
    digits = 2 if scale != 1.0 else 4
    est, low, high = (v.get(k) for k in ("estimate", "low", "high"))
    if not _number(est):
        return "-"
    text = f"{est * scale:+.{digits}f}"
    return text + (f" [{low * scale:+.{digits}f}, {high * scale:+.{digits}f}]" if _number(low) and _number(high)
                   else "")


def _with_words(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The verdict in words per factor: 'helps +1.27 [+0.65, +1.88] points'."""
    scale, unit = metric_scale(metric)
    words = []
    for _, v in table.iterrows():
        effect = _interval(v, scale)
        level = f" at {v['factor']}={v['level']}" if v.get("level") else ""
        words.append(f"{v['verdict']}{level}" + (f" {effect}{' ' + unit if unit else ''}" if effect != "-" else ""))
    return table.assign(effect=words)


def _best_row(board: pd.DataFrame) -> pd.Series | None:
    ran = board[board["n_seeds"] > 0] if "n_seeds" in board else board
    return ran.iloc[0] if len(ran) else None


def _best_note(board: pd.DataFrame, metric: str, scale: float, unit: str) -> str:
    row = _best_row(board)
    if row is None or not _number(row.get(f"{metric}_mean")):
        return ""
    note = f" ({metric} {row[f'{metric}_mean']:.4f}"
    if _number(row.get("diff_vs_baseline")) and row.get("diff_vs_baseline") != 0:
        note += f", {row['diff_vs_baseline'] * scale:+.2f}{' ' + unit if unit else ''} vs baseline"
    return note + ")"
