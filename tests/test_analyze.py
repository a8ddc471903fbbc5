"""`ablate analyze RESULTS.csv`: the report's statistics for a table of results, with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ablate.cli import main
from ablate.report.analyze import table_results
from ablate.report.stats.verdicts import factor_verdicts


def _add_one_table(seeds: int = 5) -> pd.DataFrame:
    """baseline, then each factor alone: l2 +10 points, dropout +0.05 points, augment -3 points."""
    rng = np.random.default_rng(0)
    shifts = {"l2": 0.10, "dropout": 0.0005, "augment": -0.03}
    rows = []
    for seed in range(seeds):
        base = 0.80 + rng.normal(0, 0.01)
        rows.append({"seed": seed, "l2": 0, "dropout": "off", "augment": "", "test_acc": base + rng.normal(0, 1e-5)})
        for factor, shift in shifts.items():
            on = {f: (1 if f == factor else 0) for f in shifts}
            rows.append({"seed": seed, **on, "test_acc": base + shift + rng.normal(0, 1e-5)})
    return pd.DataFrame(rows)


def test_acceptance_helps_negligible_hurts(tmp_path, capsys):
    path = tmp_path / "results.csv"
    _add_one_table().to_csv(path, index=False)
    out = tmp_path / "out"
    code = main(["analyze", str(path), "--design", "add_one", "--metric", "test_acc", "--min-effect", "0.005",
                 "--out", str(out)])
    assert code == 0 and "report:" in capsys.readouterr().out
    table = pd.read_csv(out / "verdicts.csv").set_index("factor")
    assert table.loc["l2", "verdict"] == "helps" and table.loc["dropout", "verdict"] == "negligible"
    assert table.loc["augment", "verdict"] == "hurts"
    for column in ("estimate", "low", "high", "p_adjusted", "min_effect", "mde", "seeds_needed", "basis", "family"):
        assert column in table.columns
    assert table.loc["l2", "estimate"] == pytest.approx(0.10, abs=1e-4)
    assert table.loc["l2", "low"] < 0.10 < table.loc["l2", "high"] and table.loc["l2", "p_adjusted"] < 0.05
    assert (table["min_effect"] == 0.005).all()
    assert (out / "effects.csv").is_file() and (out / "summary.csv").is_file()
    page = (out / "index.html").read_text(encoding="utf-8")
    for section in ("verdicts", "leaderboard", "effects"):
        assert f'id="{section}"' in page
    assert "metric.min_effect" in page and "probability of any wrong helps/hurts/depends call" in page


def test_levels_and_factorial_from_a_table():
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(3):
        base = 0.8 + rng.normal(0, 0.02)
        for p, effect in ((0, 0.0), (0.25, 0.033), (0.5, -0.028)):
            for l2 in ("off", "on"):
                rows.append({"seed": seed, "dropout": p, "l2": l2,
                             "test_acc": base + effect + 0.01 * (l2 == "on") + rng.normal(0, 0.003)})
    res = table_results(pd.DataFrame(rows), "t.csv", "full_factorial")
    assert res.study.design_record["levels"] == {"dropout": ["off", "0.25", "0.5"]}
    verdicts = {v.factor: v for v in factor_verdicts(res)}
    # +3.3 points at 0.25, -2.8 at 0.5: significant levels both ways, so neither "helps" nor "hurts" (issue 23)
    assert verdicts["dropout"].status == "depends"
    assert verdicts["l2"].status == "helps" and "main effect" in verdicts["l2"].basis


@pytest.mark.parametrize("edit,words", [
    (lambda t: t.drop(columns="seed"), "column 'seed': a results table needs a `seed` column"),
    (lambda t: t.assign(test_acc=t["test_acc"].astype(object).where(t.index != 3, "oops")),
     "column 'test_acc', row 5: the metric must be a number, but got 'oops'"),
    (lambda t: pd.concat([t, t.iloc[[0]]], ignore_index=True), "column 'seed', row 22: arm baseline has seed 0 "
     "twice"),
])
def test_bad_tables_name_file_column_and_row(tmp_path, capsys, edit, words):
    path = tmp_path / "bad.csv"
    edit(_add_one_table()).to_csv(path, index=False)
    assert main(["analyze", str(path), "--design", "add_one", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {words}" in err, err


def test_unknown_design_suggests_the_closest(tmp_path, capsys):
    path = tmp_path / "t.csv"
    _add_one_table().to_csv(path, index=False)
    assert main(["analyze", str(path), "--design", "add-one", "--out", str(tmp_path / "o")]) == 2
    assert "unknown design 'add-one' (did you mean 'add_one'?)" in capsys.readouterr().err


def test_the_answer_is_printed_and_returned_as_tables(tmp_path, capsys):
    """The terminal ends with the verdicts table, the best arm and the page; ablate.analyze takes a DataFrame
    and returns the same tables the CSV files hold."""
    import ablate
    from ablate.report.answer import Answer

    path = tmp_path / "results.csv"
    _add_one_table().to_csv(path, index=False)
    assert main(["analyze", str(path), "--design", "add_one", "--min-effect", "0.005", "--out",
                 str(tmp_path / "cli")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"report: {tmp_path / 'cli' / 'index.html'}" and lines[-2].startswith("best arm: l2 ")
    l2 = next(line for line in lines if line.strip().startswith("l2 "))
    assert "helps" in l2 and "+10.00 [" in l2 and "seeds, paired t" in l2
    assert "effect [95% CI] (points)" in lines[-6]

    answer = ablate.analyze(_add_one_table(), design="add_one", min_effect=0.005, out=tmp_path / "api")
    verdicts = answer.verdicts.set_index("factor")
    assert verdicts.loc["l2", "verdict"] == "helps" and verdicts.loc["dropout", "verdict"] == "negligible"
    assert verdicts.loc["l2", "effect"].startswith("helps +10.00 [") and verdicts.loc["l2", "effect"].endswith("points")
    assert answer.best_arm == "l2" and answer.leaderboard["arm"].iloc[0] == "l2"
    assert {"term", "estimate"} <= set(answer.effects.columns)
    assert answer.read_text(encoding="utf-8").startswith("<!DOCTYPE") and answer.parent == tmp_path / "api"
    read = Answer.read(tmp_path / "api")  # what `ablate status` shows of a finished study: the report's own files
    assert read.tags() == answer.tags() and read.best_arm == "l2" and str(read) == str(answer)
    assert ablate.analyze(_add_one_table(), design="add_one", out=None).report is None


def _arms_table(arms: list[tuple[str, ...]], factors=("a", "b", "c"), seeds: int = 3, effects=None,
                failed: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per (arm, seed): the factors on in that arm, metric = 0.8 + seed + effects + noise; the cells
    of the arm `failed` keep their rows with an empty metric, as a failed cell's row is written."""
    rng, effects = np.random.default_rng(5), effects or {}
    rows = []
    for seed in range(seeds):
        base = 0.8 + rng.normal(0, 0.02)
        for arm in arms:
            y = base + sum(effects.get(f, 0.0) for f in arm) + rng.normal(0, 0.01)
            rows.append({"seed": seed, **{f: int(f in arm) for f in factors},
                         "test_acc": np.nan if failed is not None and set(arm) == set(failed) else y})
    return pd.DataFrame(rows)


ADD_ONE = [(), ("a",), ("b",), ("c",)]
LOCO = [("a", "b", "c"), ("b", "c"), ("a", "c"), ("a", "b")]
FULL = [tuple(f for f, on in zip("abc", bits) if on) for bits in np.ndindex(2, 2, 2)]


@pytest.mark.parametrize("arms,design", [(ADD_ONE, "add_one"), (LOCO, "loco"), (FULL, "full_factorial"),
                                         ([(), ("a", "b"), ("a", "c"), ("b", "c")], "fractional"),
                                         ([(), ("a",), ("a", "b"), ("a", "b", "c")], "explicit")])
def test_the_design_is_inferred_from_the_arms(arms, design):
    assert table_results(_arms_table(arms), "t.csv").study.design == design


def test_an_add_one_table_without_design_is_judged_as_add_one(tmp_path, capsys):
    """The issue's row: an add_one table through `ablate analyze` with no --design was read as a full factorial
    and a null factor 'hurts, -3.44 points, p = 1e-5'; now the design is add_one and the null is not called."""
    table = _arms_table(ADD_ONE, seeds=5, effects={"a": 0.05, "b": 0.0, "c": -0.05})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    assert main(["analyze", str(path), "--min-effect", "0.005", "--out", str(tmp_path / "o")]) == 0
    verdicts = pd.read_csv(tmp_path / "o" / "verdicts.csv").set_index("factor")
    assert verdicts.loc["a", "verdict"] == "helps" and verdicts.loc["c", "verdict"] == "hurts"
    assert verdicts.loc["b", "verdict"] not in ("helps", "hurts")


def test_a_design_the_arms_do_not_fit_is_refused_naming_the_arms(tmp_path, capsys):
    path = tmp_path / "t.csv"
    _arms_table(ADD_ONE).to_csv(path, index=False)
    assert main(["analyze", str(path), "--design", "full_factorial", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--design full_factorial does not fit the table's arms: missing a+b, a+c, b+c, a+b+c" in err, err
    _arms_table(FULL).to_csv(path, index=False)
    assert main(["analyze", str(path), "--design", "add_one", "--out", str(tmp_path / "o")]) == 2
    assert "missing" not in (err := capsys.readouterr().err) and "extra a+b, a+c, b+c, a+b+c" in err, err


def test_a_failed_combination_through_analyze_is_judged_over_the_full_grid():
    """The issue's first row through a table: 2^3, 5 seeds, every a+b+c cell with an empty metric; a (null)
    was 'hurts' in every simulated study; over the full grid it is not called, b and c still help."""
    table = _arms_table(FULL, seeds=5, effects={"b": 0.05, "c": 0.05}, failed=("a", "b", "c"))
    res = table_results(table, "t.csv")
    assert res.study.design == "full_factorial"
    verdicts = {v.factor: v for v in factor_verdicts(res)}
    assert verdicts["a"].status not in ("helps", "hurts") and abs(verdicts["a"].estimate) < 0.01
    assert verdicts["b"].status == verdicts["c"].status == "helps"
