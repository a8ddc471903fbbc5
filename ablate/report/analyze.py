"""`ablate analyze RESULTS.csv`: the report's statistics for results from anywhere, without training.

One row per cell: a `seed` column, one column per factor holding its level (0, empty, `off`, `false` =
off; a two-level factor's other value is on: `on`, 1, `true`; any other values are level labels), and
metric columns (the known metric names, names ending in `acc` or `loss`, and the one --metric names).
The rows become the same tidy `Results` a study's MLflow store gives, with the design's record built by
the design the table's arms are (inferred: full factorial, add_one, loco, a fraction, else explicit), or by
the one named (--design), which must list exactly the table's arms (an arm whose cells failed keeps its
rows, with an empty metric), so the page's verdicts, leaderboard, effects, levels and diagnostics are the
very functions a study's report runs. Errors name the file, the column and the row (line of the file). The
table is bounded (bytes, rows, factor columns, levels, seeds), each limit raised by its environment variable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from ablate.bounded import check_within, limit, over, regular_file
from ablate.designs import DESIGNS
from ablate.designs.base import unique_arms
from ablate.errors import AblateError
from ablate.report.results import Results, StudyInfo
from ablate.spec import FINAL_METRICS
from ablate.study import Factor

OFF = {"", "0", "0.0", "off", "false", "no", "none", "nan"}
ON = {"1", "1.0", "on", "true", "yes"}
RESERVED = {"seed", "arm", "run_id", "status", "cell_id"}
TABLE_BYTES = ("ABLATE_MAX_TABLE_BYTES", 256 << 20)  # (environment variable, default): bounded.limit
TABLE_ROWS = ("ABLATE_MAX_TABLE_ROWS", 10_000)
TABLE_FACTORS = ("ABLATE_MAX_TABLE_FACTORS", 10)  # 10 two-level factors: 1024 arms, ~20 s
TABLE_LEVELS = ("ABLATE_MAX_TABLE_LEVELS", 50)
TABLE_SEEDS = ("ABLATE_MAX_TABLE_SEEDS", 100)  # 16 arms x 100 seeds: ~15 s; x 200: ~2 min


class Level(BaseModel):
    """A level read from a table: its label is all it has."""

    value: str


def _is_metric(column: str) -> bool:
    return column in FINAL_METRICS or column.endswith(("acc", "loss")) or column == "ece"


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value).strip()


def _levels(column: pd.Series) -> tuple[list[str], pd.Series]:
    """(labels in level order, each row's label): off first; numbers in numeric order, else as they come."""
    raw = column.map(lambda v: "off" if pd.isna(v) or _label(v).lower() in OFF else _label(v))
    values = [v for v in dict.fromkeys(raw) if v != "off"]
    if {v.lower() for v in values} <= ON and len(values) == 1:
        return ["off", "on"], raw.map(lambda v: v if v == "off" else "on")
    try:
        values = sorted(values, key=float)
    except ValueError:
        pass
    return (["off"] if (raw == "off").any() else []) + values, raw


def _fail(path: str, column: str, rule: str, row: int | None = None) -> AblateError:
    where = f"{path}: column '{column}'" + (f", row {row}" if row is not None else "")
    return AblateError(f"{where}: {rule}")


def read_table(path: str | Path) -> pd.DataFrame:
    """The table, bounded: a regular file (a FIFO would block, /dev/zero never ends) within TABLE_BYTES, read
    up to one row past TABLE_ROWS (so a million-row file is refused without being parsed whole)."""
    where = f"ablate analyze: {str(path)!r}"
    st = regular_file(Path(path), "ablate analyze", (), "")
    check_within(where, "its size", st.st_size, TABLE_BYTES, "bytes")
    rows = limit(TABLE_ROWS)
    try:
        frame = pd.read_csv(path, keep_default_na=True, nrows=rows + 1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as e:
        raise AblateError(f"{path}: not a readable CSV table ({e})") from None
    if len(frame) > rows:
        raise over(where, "its row count", f"more than {rows:,}", TABLE_ROWS)
    return frame


def _check_size(frame: pd.DataFrame, parsed: dict, source: str) -> None:
    """Levels and seeds within their limits (rows and factor columns are checked before parsing): the
    statistics grow with their product (a million rows asked scipy for 37 GiB; 100 factor columns ran for
    minutes)."""
    for n, (labels, _) in parsed.items():
        check_within(f"{source}: column '{n}'", "its count of levels", len(labels), TABLE_LEVELS)
    check_within(f"{source}: column 'seed'", "its count of distinct seeds", int(frame["seed"].nunique()),
                 TABLE_SEEDS)


INFERRED = ("full_factorial", "add_one", "loco", "fractional")  # tried in this order; explicit when none fits


def table_results(frame: pd.DataFrame, source: str = "results.csv", design: str = "infer",
                  metric: str | None = None, direction: str | None = None,
                  min_effect: float | None = None, classes: int | None = None) -> Results:
    """The rows of a results table as Results, with `design`'s record over the arms the rows hold."""

    if "seed" not in frame:
        raise _fail(source, "seed", f"a results table needs a `seed` column (columns: {', '.join(frame.columns)})")
    metrics = [c for c in frame.columns if _is_metric(c) or c == metric]
    metric = metric or (metrics[0] if len(metrics) == 1 else "test_acc")
    if metric not in frame:
        raise _fail(source, metric, f"no such metric column (metric columns: {', '.join(metrics) or 'none'})")
    values = pd.to_numeric(frame[metric], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & frame[metric].notna().to_numpy())
    if bad.size:
        raise _fail(source, metric, f"the metric must be a number, but got {frame[metric].iloc[bad[0]]!r}",
                    int(bad[0]) + 2)
    seeds = pd.to_numeric(frame["seed"], errors="coerce")
    bad = np.flatnonzero(seeds.isna().to_numpy() | (seeds % 1 != 0).to_numpy())
    if bad.size:
        raise _fail(source, "seed", f"a seed is a whole number, but got {frame['seed'].iloc[bad[0]]!r}",
                    int(bad[0]) + 2)
    names = [c for c in frame.columns if c not in RESERVED and c not in metrics]
    if not names:
        raise _fail(source, "(factors)", "no factor columns: every column but seed, arm and metrics is a factor")
    check_within(source, "its row count", len(frame), TABLE_ROWS)
    check_within(f"{source}: factor columns ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})",
                 "their count", len(names), TABLE_FACTORS)
    parsed = {n: _levels(frame[n]) for n in names}
    _check_size(frame, parsed, source)
    factors = tuple(
        Factor(n, (None, Level(value="on"))) if labels == ["off", "on"]
        else Factor(n, tuple(None if lv == "off" else Level(value=lv) for lv in labels), varying=("value",))
        for n, (labels, _) in parsed.items())
    index = {n: {lv: i for i, lv in enumerate(parsed[n][0])} for n in names}
    rows = list(zip(*[parsed[n][1].map(index[n]) for n in names]))
    entry = _design(DESIGNS, design, factors, rows, source)
    design = entry.name
    arms = unique_arms(factors, sorted(set(rows), key=lambda r: (sum(i > 0 for i in r), r)))
    name_of = {a.levels: a.name for a in arms}
    cells = pd.DataFrame({"seed": seeds.astype("Int64"), "arm": [name_of[r] for r in rows]})
    for f, (labels, raw) in parsed.items():
        cells[f] = raw != "off"
        if labels != ["off", "on"]:
            cells[f"level:{f}"] = raw
    for m in metrics:
        cells[m] = pd.to_numeric(frame[m], errors="coerce")
    dup = cells.duplicated(["arm", "seed"], keep="first").to_numpy()
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        raise _fail(source, "seed", f"arm {cells['arm'].iloc[first]} has seed {cells['seed'].iloc[first]} twice: "
                    "one row per cell", first + 2)
    cells["run_id"] = [f"row{i + 2}" for i in range(len(cells))]
    cells["run_name"] = cells["cell_id"] = cells["arm"] + "/seed" + cells["seed"].astype(str)
    cells["status"] = np.where(cells[metric].notna(), "FINISHED", "FAILED")
    cells["failure"] = np.where(cells[metric].notna(), "", f"no {metric} value in the table")
    cells["phase"], cells["trial_number"] = "ablate", pd.array([pd.NA] * len(cells), dtype="Int64")
    record = entry.record(factors, arms)
    study = StudyInfo(
        study=Path(source).stem, run_id="", description=f"Analysed from {source} by ablate analyze",
        design=design, metric=metric, direction=direction or _direction(metric),
        arms=tuple(a.name for a in arms), factors=tuple(names), seeds=tuple(sorted(int(s) for s in seeds.unique())),
        design_record=record, analysis={k: v for k, v in (("min_effect", min_effect), ("classes", classes))
                                        if v is not None})
    history = pd.DataFrame(columns=["run_id", "arm", "seed", "epoch", "metric", "value"])
    return Results(study=study, cells=cells, history=history, weights={}, params={}, tracking_uri=str(source))


def _inferred(designs, factors, present: set) -> str:
    """The first design of INFERRED whose arms are exactly the table's; explicit when none is."""
    for name in INFERRED:
        cls = designs.get(name)
        if name == "fractional" and (len(present) >= 2 ** len(factors) or cls.problems(factors, cls.Params())):
            continue
        options = [cls.Params(resolution=r) for r in range(3, 9)] if name == "fractional" else [cls.Params()]
        if any({a.levels for a in cls(p).arms(factors)} == present for p in options):
            return name
    return "explicit"


def _design(designs, name: str, factors, rows, source: str):
    """The named design (or the inferred one), its options fitted to the table (an explicit design lists
    the arms it holds); refused when its arms are not the table's, naming the missing and the extra ones."""
    present = set(rows)
    if name == "infer":
        name = _inferred(designs, factors, present)
    cls = designs.get(name)
    if name == "explicit" or "arms" in cls.Params.model_fields:
        on = {tuple(f.name for f, i in zip(factors, r) if i > 0) for r in rows}
        params = cls.Params(arms=tuple(sorted(on, key=len)))
    else:
        params = cls.Params()
    problems = cls.problems(factors, params)
    if problems:
        raise AblateError(f"{source}: --design {name}: " + "; ".join(rule for _, rule, _ in problems))
    if name == "fractional":  # the resolution whose arms the table holds, if any
        params = next((p for p in (cls.Params(resolution=r) for r in range(3, 9))
                       if {a.levels for a in cls(p).arms(factors)} == present), params)
    entry = cls(params)
    want = {a.levels: a.name for a in entry.arms(factors)}
    def by_size(arms):
        return sorted(arms, key=lambda a: (sum(i > 0 for i in a.levels), a.name))
    missing = [a.name for a in by_size(a for a in entry.arms(factors) if a.levels not in present)]
    extra = [a.name for a in by_size(unique_arms(factors, present - set(want)))]
    if (missing or extra) and name != "explicit":
        said = "; ".join(w for w in (f"missing {', '.join(missing)}" if missing else "",
                                     f"extra {', '.join(extra)}" if extra else "") if w)
        raise AblateError(f"{source}: --design {name} does not fit the table's arms: {said}"
                          " (leave --design out to infer the design; an arm whose cells failed keeps its rows, "
                          "with an empty metric)")
    return entry


def _direction(metric: str) -> str:
    if metric in FINAL_METRICS:
        return FINAL_METRICS[metric]
    return "minimize" if metric.endswith("loss") or metric == "ece" else "maximize"


def analyze(table: str | Path | pd.DataFrame, design: str = "infer", metric: str | None = None,
            direction: str | None = None, min_effect: float | None = None, out: str | Path | None = "analysis",
            classes: int | None = None):
    """A results table (a CSV file's path, or a DataFrame with the same columns) -> its Answer
    (report/answer.py: verdicts, leaderboard and effects as DataFrames). With `out` (default `analysis`), also
    DIR/index.html, summary.csv, effects.csv and verdicts.csv, the answer standing for the page's path;
    out=None writes nothing. `classes`: the data's class count, for the chance-level check."""
    from ablate.report.answer import Answer
    from ablate.report.html import render_report
    from ablate.report.sections import STATISTICS_SECTIONS

    if min_effect is not None and not min_effect > 0:
        raise AblateError(f"--min-effect must be a positive number in the metric's units, but got {min_effect}")
    if classes is not None and classes < 2:
        raise AblateError(f"--classes is the data's class count, 2 or more, but got {classes}")
    if isinstance(table, pd.DataFrame):
        frame, source = table.reset_index(drop=True), "DataFrame"
    else:
        frame, source = read_table(table), str(table)
    results = table_results(frame, source, design, metric, direction, min_effect, classes)
    page = render_report(results, out, STATISTICS_SECTIONS) if out is not None else None
    return Answer.of(results, page)
