"""Simulated studies with known truth: error rates, coverage and power of the report's procedures (seconds).

The factorial simulations run ablate's own fit once (the design matrix and each factor's contrast vector
of stats/factorial.py) and then apply it to thousands of simulated metric vectors at once; the verdict
rule is ablate's (decision.judge and decision.decide). A handful of the same studies also go through the
full report path (factor_verdicts on Results), which must give the very same words.
"""

from __future__ import annotations

import numpy as np
import pytest
from simulate import MARGIN, FastFactorial

from ablate.report.stats import decision
from ablate.report.stats.basis import Basis
from ablate.report.stats.contrast import paired
from ablate.report.stats.intervals import t_ci


def _mc_bound(rate: float, n: int) -> float:
    return rate + 3 * np.sqrt(rate * (1 - rate) / n)


def test_no_effects_factorial_false_calls_within_five_percent():
    """2^3 factorial, 3 seeds, no effects: the share of studies with any helps/hurts verdict."""
    fast, rng, n = FastFactorial(["a", "b", "c"], 3), np.random.default_rng(2026), 2000
    y = fast.draw(rng, n, {})
    words = fast.words(y)
    for i in range(8):  # the fast path is the report's path
        assert fast.full_path(y[i]) == words[i]
    false_calls = np.mean([any(w in ("helps", "hurts") for w in ws.values()) for ws in words])
    print(f"\nnull 2^3 x 3 seeds: any helps/hurts in {false_calls:.3f} of {n} studies")
    assert false_calls <= _mc_bound(0.05, n)


@pytest.mark.parametrize("seeds", [3, 5])
def test_per_arm_t_interval_covers_95_percent(seeds):
    rng, n = np.random.default_rng(seeds), 4000
    draws = rng.normal(0.8, 0.02, (n, seeds))
    covered = np.mean([lo <= 0.8 <= hi for lo, hi in (t_ci(d) for d in draws)])
    print(f"\nper-arm 95% t interval at {seeds} seeds covers {covered:.3f}")
    assert 0.92 <= covered <= 0.97


def _paired_power(design: str, seeds: int, rng, n: int, effect=0.02, noise=0.01, seed_sd=0.02) -> float:
    """Share of studies calling the planted +effect on `a` helps (b, c null), add_one or loco arms."""
    calls = 0
    for _ in range(n):
        offsets = rng.normal(0, seed_sd, seeds)
        arms = 4
        y = 0.8 + offsets[None, :] + rng.normal(0, noise, (arms, seeds))
        if design == "add_one":  # baseline, a, b, c alone: contribution = arm - baseline
            y[1] += effect
            diffs = {f: y[i + 1] - y[0] for i, f in enumerate("abc")}
        else:  # loco: all on, then each left out: contribution = all - all but f
            y[0] += effect
            y[2:] += effect
            diffs = {f: y[0] - y[i + 1] for i, f in enumerate("abc")}
        judged = {f: decision.judge(Basis(f, {"": paired(d)}, "", []), 1.0, MARGIN) for f, d in diffs.items()}
        calls += decision.decide(judged, 1.0).get("a", ("",))[0] == "helps"
    return calls / n


def test_power_by_seed_count():
    """A true +2-point effect, 1-point cell noise, 2-point seed spread: how often each design calls it."""
    rng, n = np.random.default_rng(5), 300
    table = {}
    for seeds in (2, 3, 5):
        table[("add_one", seeds)] = _paired_power("add_one", seeds, rng, n)
        table[("loco", seeds)] = _paired_power("loco", seeds, rng, n)
        fast = FastFactorial(["a", "b", "c"], seeds)
        table[("factorial", seeds)] = np.mean([w["a"] == "helps" for w in fast.words(fast.draw(rng, n, {"a": 0.02}))])
    print("\npower to call +2 points (helps), by seeds 2/3/5:")
    for design in ("add_one", "loco", "factorial"):
        print(f"  {design:9s} " + " ".join(f"{table[(design, s)]:.2f}" for s in (2, 3, 5)))
    for design in ("add_one", "loco", "factorial"):
        assert table[(design, 5)] > table[(design, 2)]
    assert table[("add_one", 5)] > 0.25 and table[("loco", 5)] > 0.25  # the sign-flip test: 0% at 5 seeds
    assert table[("factorial", 3)] > 0.9
