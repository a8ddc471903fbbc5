"""`ablate compare A B`: two studies' verdicts and leaderboards side by side, from MLflow alone."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "report"))
from synthetic import SyntheticStudy, write_study  # noqa: E402

from ablate.cli import main  # noqa: E402
from ablate.report.compare import settings_diff, verdict_rows  # noqa: E402
from ablate.report.results import load_results  # noqa: E402
from ablate.report.stats.difference import DIFFERS, differences, estimate_from  # noqa: E402


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Study `cnn_digits` (l2 helps, dropout nothing) and, in a second store, `mlp_digits` (l2 nothing,
    dropout hurts, augment extra)."""
    root = tmp_path_factory.mktemp("compare")
    a = SyntheticStudy(name="cnn_digits", factors=("l2", "dropout"), seeds=(0, 1, 2, 3),
                       effects={"l2": 0.03, "dropout": 0.0})
    b = SyntheticStudy(name="mlp_digits", factors=("l2", "dropout", "augment"), seeds=(0, 1, 2, 3),
                       effects={"l2": 0.0, "dropout": -0.04, "augment": 0.0})
    uri_a, uri_b = f"sqlite:///{root / 'a.db'}", f"sqlite:///{root / 'b.db'}"
    write_study(uri_a, str(root / "art_a"), a)
    write_study(uri_b, str(root / "art_b"), b)
    return uri_a, uri_b, root


def test_a_row_per_factor_with_both_verdicts(stores):
    uri_a, uri_b, _ = stores
    rows = {r["factor"]: r for r in verdict_rows(load_results("cnn_digits", uri_a), load_results("mlp_digits", uri_b))}
    assert list(rows) == ["l2", "dropout", "augment"]
    assert rows["l2"]["a_status"] == "helps" and rows["l2"]["b_status"] != "helps" and rows["l2"]["agree"] == "differs"
    assert rows["dropout"]["b_status"] == "hurts"
    assert rows["augment"]["agree"] == "only in B" and rows["augment"]["a_status"] == ""
    assert rows["l2"]["a_effect"].endswith("points")
    assert 2.0 < float(rows["l2"]["a_effect"].split()[0]) < 4.0  # the planted +0.03 test_acc: +3 points


def test_compare_command_writes_one_self_contained_page(stores, capsys):
    uri_a, uri_b, root = stores
    out = root / "page"
    assert main(["compare", "cnn_digits", "mlp_digits", "--tracking-uri", uri_a, "--tracking-uri-b", uri_b,
                 "--out", str(out)]) == 0
    assert f"comparison: {out / 'index.html'}" in capsys.readouterr().out
    html = (out / "index.html").read_text()
    assert "<title>ablate report: cnn_digits vs mlp_digits</title>" in html
    assert "default-src &#39;none&#39;" in html  # no network, like the report
    for section in ('id="studies"', 'id="verdicts"', 'id="leaderboards"', 'id="compare-verdicts"',
                    'id="compare-leaderboard"'):
        assert section in html
    assert "l2+dropout+augment" in html and "ablate compare cnn_digits mlp_digits" in html
    csv = pd.read_csv(out / "compare.csv")
    assert list(csv["factor"]) == ["l2", "dropout", "augment"]


def test_compare_of_an_unknown_study_exits_2(stores, capsys):
    uri_a, _, root = stores
    assert main(["compare", "cnn_digits", "nope", "--tracking-uri", uri_a, "--out", str(root / "x")]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err


# ---- the difference B - A (issue 23, item 7) ----------------------------------------------------------------
def _study_verdicts(effects: dict[str, float], seeds: int, noise: float, margin: float, rng):
    """One simulated add_one-like study at the decision level: per factor, the paired t on per-seed
    differences (cell noise sd `noise`), judged as one Holm family by the verdict rule itself."""
    from ablate.report.stats.basis import Basis
    from ablate.report.stats.contrast import paired
    from ablate.report.stats.decision import decide, judge

    judged = {}
    for f, effect in effects.items():
        diffs = effect + noise * np.sqrt(2) * rng.standard_normal(seeds)
        judged[f] = judge(Basis(f, {"": paired(diffs)}, "vs baseline", []), 1.0, margin)
    decided = decide(judged, 1.0)
    out = {}
    for f, j in judged.items():
        low, high = j.estimate.interval()
        out[f] = (decided[f][0], j.estimate.estimate, low, high, j.estimate.df)  # as a verdict states it
    return out


def _false_differs(seeds=4, pairs=200, seed=23):
    """Two studies with the same true effects (+2.5 and -2.5 points at cell sd 1 point): how often each rule
    calls a factor different. The new rule sees only what a verdict carries: estimate, interval, df."""
    rng = np.random.default_rng(seed)
    effects, margin = {"l2": 0.025, "dropout": -0.025}, 0.01
    old = new = total = 0
    for _ in range(pairs):
        a, b = (_study_verdicts(effects, seeds, 0.01, margin, rng) for _ in range(2))
        pairs_ = {f: (estimate_from(*a[f][1:4], df=a[f][4]), estimate_from(*b[f][1:4], df=b[f][4])) for f in a}
        judged = differences(pairs_, margin)
        old += sum(a[f][0] != b[f][0] for f in a)
        new += sum(d.verdict == DIFFERS for d in judged.values())
        total += len(a)
    return old / total, new / total


def test_the_same_true_effects_rarely_differ():
    old, new = _false_differs()
    # binomial sd of a 5% rate over 400 factor-pairs is 1.1%: allow 2 sd; Holm keeps it below 5% per page
    assert new <= 0.05 + 0.022, (old, new)
    assert old >= 0.40, (old, new)  # the rule it replaces: "differs" whenever the two verdicts' words differ


def test_a_real_difference_is_found():
    """+3 points in B vs 0 in A at cell sd 1 point, 5 seeds, through the whole verdict path (Results)."""
    from simulate import simulate

    from ablate.report.compare import compared

    rng = np.random.default_rng(7)
    found = 0
    for _ in range(10):
        a = simulate({"l2": 0.0, "dropout": 0.0}, seeds=5, noise=0.01, rng=rng)
        b = simulate({"l2": 0.03, "dropout": 0.0}, seeds=5, noise=0.01, rng=rng)
        rows, statement = compared(a, b)
        by = {r["factor"]: r for r in rows}
        found += by["l2"]["agree"] == "differs"
        assert 0.0 < by["l2"]["difference"] and by["l2"]["low"] < by["l2"]["difference"] < by["l2"]["high"]
    assert found >= 8
    assert "Holm" in statement and "2 tests" in statement


def test_welch_matches_scipy():
    """Two estimates from independent samples: Welch's t on the two means equals scipy's, and the
    Welch-Satterthwaite df equals the hand formula."""
    from scipy import stats as sps

    from ablate.report.stats.contrast import Estimate
    from ablate.report.stats.difference import welch

    ma, sa, na, mb, sb, nb = 0.81, 0.012, 4, 0.84, 0.02, 6
    a = Estimate(ma, sa / np.sqrt(na), na - 1)
    b = Estimate(mb, sb / np.sqrt(nb), nb - 1)
    d = welch(a, b)
    ref = sps.ttest_ind_from_stats(mb, sb, nb, ma, sa, na, equal_var=False)
    assert d.estimate == pytest.approx(0.03)
    assert d.p_value() == pytest.approx(ref.pvalue, rel=1e-9)
    va, vb = sa**2 / na, sb**2 / nb
    assert d.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 5), rel=1e-12)
    # read back from the interval and df alone (verdicts.csv, a table without se): the same test
    low, high = a.interval()
    assert estimate_from(ma, low, high, df=3).se == pytest.approx(a.se, rel=1e-12)


def test_settings_that_differ_are_listed_first(tmp_path, capsys):
    a = SyntheticStudy(name="long_run", seeds=(0, 1, 2, 3), epochs=20, effects={"l2": 0.03, "dropout": 0.0})
    b = SyntheticStudy(name="short_run", seeds=(0, 1, 2), epochs=2, model="mlp",
                       effects={"l2": 0.03, "dropout": 0.0})
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    write_study(uri, str(tmp_path / "art_a"), a)
    write_study(uri, str(tmp_path / "art_b"), b)
    diff = {k: (x, y) for k, x, y in settings_diff(load_results("long_run", uri), load_results("short_run", uri))}
    assert diff["train.epochs"] == ("20", "2") and diff["model"] == ("cnn", "mlp")
    assert diff["seeds"] == ("0, 1, 2, 3", "0, 1, 2") and "dataset" not in diff
    out = tmp_path / "page"
    assert main(["compare", "long_run", "short_run", "--tracking-uri", uri, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.index("train.epochs: 20 vs 2") < printed.index("B - A per factor")
    html = (out / "index.html").read_text()
    assert 'id="compare-settings"' in html and "train.epochs" in html
    assert html.index('id="compare-settings"') < html.index('id="compare-verdicts"')
    csv = pd.read_csv(out / "compare.csv")
    for col in ("difference", "low", "high", "p", "p_holm", "verdict_of_difference"):
        assert col in csv
