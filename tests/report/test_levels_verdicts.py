"""Levels and interactions decided honestly (issue 23, item 3): known answers and their error rates.

A multi-level factor is negligible only when every level's own TOST passes (intersection-union), and its
verdict names the level that helps or hurts, or "depends on level"; a main effect whose sign flips with
another factor (interaction significant in the verdict family, simple effects of opposite sign outside the
margin) is "depends on X". In-memory Results, seeded; each simulation runs the report's own path.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
from simulate import results_from_cells, simulate

from ablate.report.stats.basis import verdict_basis
from ablate.report.stats.decision import decide_family, judge
from ablate.report.stats.depends import depends_on
from ablate.report.stats.factorial import analyse
from ablate.report.stats.verdicts import factor_verdicts, family_statement

MARGIN = 0.005  # test_acc's default margin: half a point


def _bound(rate: float, n: int) -> float:
    return rate + 3 * np.sqrt(rate * (1 - rate) / n)


def _levels_study(planted: dict[str, float], seeds=5, noise=0.01, rng=None):
    """3-level dropout (off, 0.25, 0.5) x on/off l2 (null), seed offsets, planted level effects."""
    rng = rng or np.random.default_rng(0)
    levels = list(planted)
    rows = []
    for s in range(seeds):
        offset = rng.normal(0, 0.02)
        for level, l2 in itertools.product(levels, (False, True)):
            arm = "+".join(([f"dropout={level}"] if level != "off" else []) + (["l2"] if l2 else [])) or "baseline"
            rows.append({"arm": arm, "seed": s, "dropout": level != "off", "level:dropout": level, "l2": l2,
                         "test_acc": 0.8 + offset + planted[level] + rng.normal(0, noise)})
    res = results_from_cells(pd.DataFrame(rows), ["dropout", "l2"])
    record = {**res.study.design_record, "levels": {"dropout": levels}, "estimable": ["dropout", "l2", "dropout:l2"]}
    return dataclasses.replace(res, study=dataclasses.replace(res.study, design_record=record))


def _verdict(res, factor):
    return next(v for v in factor_verdicts(res) if v.factor == factor)


def _words(res, check=False) -> dict[str, str]:
    """The verdict words by the rule's own pieces (factor_verdicts minus its sentences: ~10x faster);
    `check` asserts they are the report's."""
    analysis = analyse(res)
    judged = {f: judge(b, 1.0, MARGIN) for f, b in verdict_basis(res, analysis).items() if b is not None}
    decided, inter = decide_family(judged, 1.0, analysis.interactions)
    words = {f: "depends" if depends_on(analysis, f, inter, MARGIN) else d[0] for f, d in decided.items()}
    if check:
        assert words == {v.factor: v.status for v in factor_verdicts(res)}
    return words


def test_a_level_that_costs_three_points_is_never_negligible():
    """Known answer: the 0.5 level costs 3 points (5 seeds). The old rule (the best level within the margin)
    said negligible in a third of studies; now: hurts at dropout=0.5, or at worst inconclusive."""
    rng, n = np.random.default_rng(23), 100
    statuses = [_words(_levels_study({"off": 0.0, "0.25": 0.0, "0.5": -0.03}, rng=rng))["dropout"] for _ in range(n)]
    assert statuses.count("negligible") == 0 and statuses.count("hurts") / n >= 0.9
    v = _verdict(_levels_study({"off": 0.0, "0.25": 0.0, "0.5": -0.03}, rng=rng), "dropout")
    assert v.status == "hurts" and v.level == "0.5"
    assert v.text.startswith("dropout: hurts at dropout=0.5, -") and "vs dropout=off" in v.text


def test_a_factor_is_negligible_when_every_level_is_inside_the_margin():
    res = _levels_study({"off": 0.0, "0.25": 0.0005, "0.5": -0.0005}, seeds=8, noise=0.002)
    v = _verdict(res, "dropout")
    assert v.status == "negligible" and "every level lies within" in v.text and "intersection-union" in v.text


def test_null_levels_false_calls_within_five_percent():
    """Every level null: any helps / hurts / depends on dropout or l2, in 250 studies."""
    rng, n = np.random.default_rng(7), 250
    calls = 0
    for i in range(n):
        words = _words(_levels_study({"off": 0.0, "0.25": 0.0, "0.5": 0.0}, seeds=3, rng=rng), check=i < 3)
        calls += any(w in ("helps", "hurts", "depends") for w in words.values())
    print(f"\nnull 3x2 levels x 3 seeds: any helps/hurts/depends in {calls / n:.3f}")
    assert calls / n <= _bound(0.05, n)


def test_null_levels_wrong_negligible_within_five_percent():
    """One level exactly at the margin (the boundary of the equivalence null): negligible is wrong."""
    rng, n = np.random.default_rng(8), 250
    wrong = sum(_words(_levels_study({"off": 0.0, "0.25": 0.0, "0.5": -MARGIN}, seeds=5, noise=0.002, rng=rng),
                       check=i < 3)["dropout"] == "negligible" for i in range(n))
    print(f"\nlevel at the margin: negligible in {wrong / n:.3f}")
    assert wrong / n <= _bound(0.05, n)


def test_a_crossing_interaction_depends_on_the_other_factor():
    """Known answer: a is +2 points with b and -2 without. Averaged over b it is ~0, which the old rule
    called negligible; now: 'depends on b' with both simple effects."""
    res = simulate({"a": -0.02, "b": 0.0, "c": 0.0}, seeds=5, interactions={("a", "b"): 0.04},
                   rng=np.random.default_rng(4))
    v = _verdict(res, "a")
    assert v.status == "depends" and v.depends_on == "b", v.text
    assert v.text.startswith("a: depends on b: ") and "with b off" in v.text and "with b on" in v.text
    assert "significant in the verdict family" in v.text and "would mislead" in v.text
    assert "-2." in v.simple_effects and "+2." in v.simple_effects
    assert _verdict(res, "b").status == "helps"  # b: 0 without a, +4 with it: same sign, no flip
    assert "2 two-way interactions" not in family_statement(factor_verdicts(res))


def test_no_interaction_false_depends_within_five_percent():
    """Real main effects, no interaction: a 'depends' would be a false claim about the interaction."""
    rng, n = np.random.default_rng(11), 300
    wrong = 0
    for i in range(n):
        res = simulate({"a": 0.0, "b": 0.0, "c": 0.0}, seeds=3, rng=rng)
        wrong += any(w in ("helps", "hurts", "depends") for w in _words(res, check=i < 3).values())
    print(f"\nnull 2^3 x 3 seeds (interactions in the family): any false call in {wrong / n:.3f}")
    assert wrong / n <= _bound(0.05, n)


def test_quickstart_like_interaction_keeps_augment_hurts():
    """The quickstart: label_smoothing +1.25, augment -1.22, label_smoothing x augment +1.28 points, 4 seeds.
    augment's simple effects (-1.9 without label smoothing, -0.6 with it) share a sign, so it still hurts."""
    rng = np.random.default_rng(2)
    hurts = 0
    for i in range(100):
        res = simulate({"dropout": 0.0015, "label_smoothing": 0.0125 - 0.0064, "augment": -0.0122 - 0.0064},
                       seeds=4, noise=0.0085, interactions={("label_smoothing", "augment"): 0.0128}, rng=rng)
        words = _words(res, check=i < 3)
        assert words["augment"] != "depends" and words["label_smoothing"] != "depends"
        hurts += words["augment"] == "hurts"
    assert hurts >= 80
