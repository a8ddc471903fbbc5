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
