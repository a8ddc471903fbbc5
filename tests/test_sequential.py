"""Seeds until decided (Stein's two-stage procedure): its error rates and its decisions, in simulation.

An add_one study of three factors against a shared baseline (so the three comparisons are correlated),
3 initial seeds; ablate's plan decides N from the stage-1 spread, the extra seeds are drawn, and ablate's
verdict rule judges Stein's statistic (stats/sequential.py, verdicts.judge / decide).
"""

from __future__ import annotations

import numpy as np
import pytest

from ablate.report.stats import sequential, verdicts
from ablate.report.stats.basis import Basis
from ablate.report.stats.contrast import paired

MARGIN, INITIAL, MAX = 0.01, 3, 400
FACTORS = ("a", "b", "c")


def _arms(rng, seeds: int, effects: dict[str, float], noise: float) -> np.ndarray:
    """Rows baseline, a, b, c alone; columns seeds; a shared seed offset per column."""
    y = 0.8 + rng.normal(0, 0.02, seeds)[None, :] + rng.normal(0, noise, (4, seeds))
    for i, f in enumerate(FACTORS):
        y[i + 1] += effects[f]
    return y


def _bases(y: np.ndarray) -> dict[str, Basis]:
    return {f: Basis(f, {"": paired(y[i + 1] - y[0])}, "", []) for i, f in enumerate(FACTORS)}


def run_study(rng, effects: dict[str, float], noise: float = 0.003, cap: int = MAX) -> tuple[dict, dict]:
    """(the decision, factor -> verdict word) of one simulated sequential study."""
    stage1 = _arms(rng, INITIAL, effects, noise)
    decision = sequential.plan(_bases(stage1), MARGIN, INITIAL, cap)
    y = np.hstack([stage1, _arms(rng, decision["seeds"] - INITIAL, effects, noise)])
    final = {f: Basis(f, {"": sequential.stein_estimate(b.estimates[""], decision["comparisons"][f])}, "", [])
             for f, b in _bases(y).items()}
    judged = {f: verdicts.judge(b, 1.0, MARGIN) for f, b in final.items()}
    return decision, {f: d[0] for f, d in verdicts.decide(judged, 1.0).items()}


def _bound(rate: float, n: int) -> float:
    return rate + 3 * np.sqrt(rate * (1 - rate) / n)


def test_plan_uses_stage_one_spread_and_caps_at_max():
    rng = np.random.default_rng(0)
    y = _arms(rng, INITIAL, dict.fromkeys(FACTORS, 0.0), 0.01)
    decision = sequential.plan(_bases(y), MARGIN, INITIAL, 12)
    wanted = [sequential.stein_seeds(b.estimates[""], MARGIN, 0.05 / 3, INITIAL) for b in _bases(y).values()]
    assert decision["needed"] == max(wanted) and decision["seeds"] == min(max(wanted), 12)
    assert decision["capped"] == (max(wanted) > 12) and set(decision["comparisons"]) == set(FACTORS)


def test_null_false_calls_at_most_five_percent_and_every_verdict_decided():
    rng, n = np.random.default_rng(1), 1000
    studies = [run_study(rng, dict.fromkeys(FACTORS, 0.0)) for _ in range(n)]
    false_calls = np.mean([any(w in ("helps", "hurts") for w in words.values()) for _, words in studies])
    uncapped = [words for d, words in studies if not d["capped"]]
    assert len(uncapped) > 0.9 * n
    decided = np.mean([all(w != "inconclusive" for w in words.values()) for words in uncapped])
    seeds = np.median([d["seeds"] for d, _ in studies])
    print(f"\nsequential, null: any helps/hurts {false_calls:.3f}; decided when not capped {decided:.3f}; "
          f"median seeds {seeds:.0f}")
    assert false_calls <= _bound(0.05, n)
    assert decided == 1.0


@pytest.mark.parametrize("effect", [MARGIN, -MARGIN])
def test_effects_at_the_margin_are_rarely_called_negligible(effect):
    rng, n = np.random.default_rng(2), 800
    studies = [run_study(rng, dict.fromkeys(FACTORS, effect)) for _ in range(n)]
    wrong = np.mean([any(w == "negligible" for w in words.values()) for _, words in studies])
    print(f"\nsequential, every effect {effect:+.3f} (= the margin): any wrong negligible {wrong:.3f}")
    assert wrong <= _bound(0.05, n)


def test_capped_studies_keep_their_error_rate():
    """Capped, the intervals stay wide, so the null is rarely called negligible: the helps/hurts test is
    what is exercised here (with the cap left out, a true null ends negligible, as it should)."""
    rng, n = np.random.default_rng(3), 600
    studies = [run_study(rng, dict.fromkeys(FACTORS, 0.0), noise=0.01, cap=6) for _ in range(n)]
    assert np.mean([d["capped"] for d, _ in studies]) > 0.5
    false_calls = np.mean([any(w in ("helps", "hurts") for w in words.values()) for _, words in studies])
    print(f"\nsequential, null, capped at 6 seeds: any helps/hurts {false_calls:.3f}")
    assert false_calls <= _bound(0.05, n)


def test_a_study_adds_seeds_once_for_every_arm_and_resumes_the_decision(tiny_raw, workdir):
    """Real stores and training: 2 initial seeds, max 4 (2 seeds leave one df, so Stein asks for many:
    capped at 4). The extra seeds run for every arm; a second run trains nothing and keeps the decision."""
    import pandas as pd

    from ablate.orchestrate import run_study
    from ablate.report.html import render_report
    from ablate.report.results import load_results
    from ablate.report.sections.seeds import seeds_section
    from ablate.report.sections.verdicts import verdict_section
    from ablate.tracking import Tracker
    from ablate.validate import validate_study

    tiny_raw.update(design="add_one", seeds={"initial": 2, "max": 4}, train={"epochs": 1, "lr": 0.01})
    study = validate_study(tiny_raw)
    assert study.seeds == (0, 1) and study.seed_max == 4
    summary = run_study(study, quiet=True, report=False)
    assert (summary.total, summary.finished) == (3 * 4, 12)
    tracker = Tracker()
    decision = tracker.seed_decision(summary.parent_run_id)
    assert decision["initial"] == 2 and decision["seeds"] == 4 and decision["capped"]
    results = load_results("tiny", tracker.uri)
    assert results.study.seed_decision == decision and results.study.seed_plan == {"initial": 2, "max": 4}
    seeds = results.finished.groupby("arm")["seed"].apply(lambda s: tuple(sorted(s)))
    assert len(seeds) == 3 and all(s == (0, 1, 2, 3) for s in seeds)
    again = run_study(validate_study(tiny_raw), quiet=True, report=False)
    assert again.ran_now == 0 and again.finished == 12
    assert tracker.seed_decision(summary.parent_run_id) == decision
    out = render_report(results, workdir / "report", sections=[verdict_section, seeds_section])
    page = out.read_text(encoding="utf-8")
    assert 'id="seeds"' in page and "capped at max" in page and "Stein" in page
    table = pd.read_csv(out.parent / "verdicts.csv")
    assert list(table["factor"]) == ["dropout", "l2"] and set(table["verdict"]) <= set(verdicts.STATUSES)
