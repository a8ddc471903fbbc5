"""Seeds until decided (Stein's two-stage procedure): its error rates and its decisions, in simulation.

An add_one study of three factors against a shared baseline (so the three comparisons are correlated),
3 initial seeds; ablate's plan decides N from the stage-1 spread, the extra seeds are drawn, and ablate's
verdict rule judges Stein's statistic (stats/sequential.py, decision.judge / decide).
"""

from __future__ import annotations

import numpy as np
import pytest

from ablate.report.stats import decision, sequential, verdicts
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
    plan = sequential.plan(_bases(stage1), MARGIN, INITIAL, cap)
    y = np.hstack([stage1, _arms(rng, plan["seeds"] - INITIAL, effects, noise)])
    final = {f: Basis(f, {"": sequential.stein_estimate(b.estimates[""], plan["comparisons"][f])}, "", [])
             for f, b in _bases(y).items()}
    judged = {f: decision.judge(b, 1.0, MARGIN) for f, b in final.items()}
    return plan, {f: d[0] for f, d in decision.decide(judged, 1.0).items()}


def _bound(rate: float, n: int) -> float:
    return rate + 3 * np.sqrt(rate * (1 - rate) / n)


def test_plan_uses_stage_one_spread_of_the_undecided_and_caps_at_max():
    rng = np.random.default_rng(0)
    y = _arms(rng, INITIAL, {"a": 0.2, "b": 0.0, "c": 0.0}, 0.01)  # a: decided (helps) at stage 1
    bases = _bases(y)
    plan = sequential.plan(bases, MARGIN, INITIAL, 12)
    assert plan["undecided"] == ["b", "c"] and plan["comparisons"]["a"]["decided"]
    wanted = [sequential.stein_seeds(bases[f].estimates[""], MARGIN, 0.05 / 3, INITIAL) for f in ("b", "c")]
    assert plan["needed"] == max(wanted) and plan["seeds"] == min(max(wanted), 12)
    assert plan["capped"] == (max(wanted) > 12) and set(plan["comparisons"]) == set(FACTORS)
    decided = sequential.plan(_bases(_arms(rng, INITIAL, dict.fromkeys(FACTORS, 0.2), 0.01)), MARGIN, INITIAL, 12)
    assert decided["undecided"] == [] and decided["seeds"] == INITIAL  # decided by the initial seeds: no more


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


def test_a_factor_decided_at_stage_one_leaves_the_others_error_rate():
    """a is called at stage 1 (N then follows b and c only): the nulls b and c keep the 5% bound."""
    rng, n = np.random.default_rng(4), 600
    studies = [run_study(rng, {"a": 0.03, "b": 0.0, "c": 0.0}, noise=0.006, cap=40) for _ in range(n)]
    false_calls = np.mean([words["b"] in ("helps", "hurts") or words["c"] in ("helps", "hurts")
                           for _, words in studies])
    print(f"\nsequential, a decided at stage 1, b and c null: a wrong call on b or c {false_calls:.3f}")
    assert np.mean([w["a"] == "helps" for _, w in studies]) > 0.95
    assert false_calls <= _bound(0.05, n)


def test_capped_studies_keep_their_error_rate():
    """Capped, the intervals stay wide, so the null is rarely called negligible: the helps/hurts test is
    what is exercised here (with the cap left out, a true null ends negligible, as it should)."""
    rng, n = np.random.default_rng(3), 600
    studies = [run_study(rng, dict.fromkeys(FACTORS, 0.0), noise=0.01, cap=6) for _ in range(n)]
    assert np.mean([d["capped"] for d, _ in studies]) > 0.5
    false_calls = np.mean([any(w in ("helps", "hurts") for w in words.values()) for _, words in studies])
    print(f"\nsequential, null, capped at 6 seeds: any helps/hurts {false_calls:.3f}")
    assert false_calls <= _bound(0.05, n)


def test_a_study_adds_seeds_once_for_every_arm_and_resumes_the_decision(tiny_raw, workdir, capsys):
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
    summary = run_study(study, quiet=False, report=False)
    assert (summary.total, summary.finished) == (3 * 4, 12)
    said = "seeds until decided: 4 seeds in all (2 added to the initial 2, capped at seeds.max)"
    assert said in capsys.readouterr().err
    tracker = Tracker()
    recorded = tracker.seed_decision(summary.parent_run_id)
    assert recorded["initial"] == 2 and recorded["seeds"] == 4 and recorded["capped"]
    results = load_results("tiny", tracker.uri)
    assert results.study.seed_decision == recorded and results.study.seed_plan == {"initial": 2, "max": 4}
    seeds = results.finished.groupby("arm")["seed"].apply(lambda s: tuple(sorted(s)))
    assert len(seeds) == 3 and all(s == (0, 1, 2, 3) for s in seeds)
    again = run_study(validate_study(tiny_raw), quiet=True, report=False)
    assert again.ran_now == 0 and again.finished == 12
    assert tracker.seed_decision(summary.parent_run_id) == recorded
    out = render_report(results, workdir / "report", sections=[verdict_section, seeds_section])
    page = out.read_text(encoding="utf-8")
    assert 'id="seeds"' in page and "capped at max" in page and "Stein" in page
    table = pd.read_csv(out.parent / "verdicts.csv")
    assert list(table["factor"]) == ["dropout", "l2"] and set(table["verdict"]) <= set(verdicts.STATUSES)
