"""One verdict per factor, in four words: helps, hurts, negligible, inconclusive.

The family is one comparison per factor (stats/basis.py), judged at ALPHA = 0.05 two-sided:
- negligible (checked first): the equivalence test (TOST) within +-min_effect rejects after Holm over the
  family's TOST p-values; a multi-level factor is negligible when no level helps by the margin and its
  best level is no worse than the margin (its best achievable effect lies inside +-min_effect).
- helps / hurts: the two-sided t test rejects after Holm over the family, direction by the metric's. A
  multi-level factor's p is its best level's, Holm-adjusted over its own levels first (the best level is
  chosen by looking, so it must pay for the choice).
- inconclusive: neither; it states the smallest effect the study could detect at 80% power and the seeds
  that would detect min_effect (both at the Bonferroni level alpha/m).
So the probability of any wrong helps/hurts call on the page is at most 5%, and of any wrong negligible
call at most 5% (normal errors, additive seed effect). A study that added seeds until decided is judged by
Stein's two-stage test (stats/sequential.py).
Before any of this, a study whose cells did not learn (stats/learned.py) gets `no_verdict` for every factor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ablate.report.results import Results, computed_once
from ablate.report.stats.basis import verdict_basis
from ablate.report.stats.contrast import ALPHA, NO_ESTIMATE
from ablate.report.stats.convergence import still_improving, undertrained_note
from ablate.report.stats.decision import Judged, decide_family, judge
from ablate.report.stats.depends import depends_on
from ablate.report.stats.effects import effect_table
from ablate.report.stats.factorial import analyse
from ablate.report.stats.learned import no_verdict_reason
from ablate.report.stats.margin import study_margin
from ablate.report.stats.power import mde, seeds_needed
from ablate.report.stats.sequential import stein_estimates
from ablate.report.stats.wording import explain_depends, verdict_text

STATUSES = ("helps", "hurts", "depends", "negligible", "inconclusive", "no_verdict")
CSV_COLUMNS = ["factor", "verdict", "level", "estimate", "low", "high", "p_value", "p_adjusted", "p_tost_adjusted",
               "min_effect", "mde", "seeds_needed", "basis", "rests_on", "family", "undertrained", "aliased_with",
               "depends_on", "simple_effects"]


@dataclass(frozen=True)
class Verdict:
    """A factor's verdict: `status` is one of STATUSES, `text` the sentence; numbers in metric units."""

    factor: str
    status: str
    text: str
    estimate: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    p_value: float = np.nan
    p_holm: float = np.nan
    p_tost_holm: float = np.nan
    level: str = ""
    basis: str = ""
    family: str = ""
    min_effect: float = np.nan
    mde: float = np.nan
    seeds_needed: int | None = None
    undertrained: str = ""
    aliased_with: str = ""
    f_test_p: float = np.nan
    rests_on: str = ""  # what the call rests on, for a terminal table: "4 seeds, paired t"
    se: float = np.nan  # the estimate's standard error and df: another study's Welch test needs them
    df: float = np.nan
    depends_on: str = ""  # "b" (its sign flips with b), or "level" (its levels go both ways)
    simple_effects: str = ""  # the effects behind a "depends": "-2.00 [..] with b off, +2.00 [..] with b on"
    interaction_p: tuple[tuple[str, float], ...] = ()  # (term, Holm p in the verdict family) involving it
    cells_note: str = ""  # "dropout+l2 failed on 2 of 5 seeds; rests on 3 of 5 seeds' pairs"


@computed_once
def factor_verdicts(results: Results) -> list[Verdict]:
    """A verdict for every factor of the study, in the study's factor order."""
    study = results.study
    margin, _ = study_margin(study)
    if (reason := no_verdict_reason(results)) is not None:
        return [Verdict(f, "no_verdict", f"{f}: no verdict: {reason}.", basis=reason,
                        min_effect=margin if margin else np.nan) for f in study.factors]
    effects = effect_table(results)
    sign = 1.0 if study.direction == "maximize" else -1.0
    analysis = analyse(results)
    bases = stein_estimates(results, verdict_basis(results, analysis))
    judged = {f: judge(b, sign, margin) for f, b in bases.items() if b is not None and b.estimates}
    interactions = analysis.interactions if analysis is not None and analysis.lenth is None else {}
    decided, interaction_p = decide_family(judged, sign, interactions)
    m = max(len(decided), 1)
    family = f"verdicts ({len(decided)} factors" + (f" + {len(interaction_p)} interactions" if interaction_p
                                                     else "") + ", Holm)"
    flags = still_improving(results)
    out = []
    for f in study.factors:
        j = judged.get(f)
        if bases.get(f) is not None and bases[f].not_estimable:  # the finished arms cannot identify it
            out.append(Verdict(f, "no_verdict", f"{f}: no verdict: {bases[f].not_estimable}.",
                               basis=bases[f].not_estimable, family=family, rests_on="no test",
                               min_effect=margin if margin else np.nan))
            continue
        if f not in decided:
            out.append(_untested(f, j, family, margin))
            continue
        est = j.estimate
        status, p_holm, p_tost_holm = decided[f]
        crossing = depends_on(analysis, f, interaction_p, margin, sign)
        if crossing is not None:
            status = "depends"
        low, high = est.interval()
        detectable = mde(est.se, est.df, ALPHA / m) if status == "inconclusive" else np.nan
        needed = seeds_needed(est, margin, ALPHA / m) if status == "inconclusive" and margin else None
        v = Verdict(f, status, "", est.estimate, low, high, est.p_value(), p_holm, p_tost_holm, j.level,
                    j.basis.words, family, margin if margin else np.nan, detectable, needed,
                    undertrained_note(results, j.basis.arms, flags), j.basis.aliased_with, j.basis.f_test_p)
        v = replace(v, interaction_p=tuple((t, p) for t, p in interaction_p.items() if f in t.split(":")),
                    **explain_depends(v, j, crossing, p_holm, results))
        v = replace(_with_text(v, j, results, effects, m), rests_on=_rests_on(results, j), se=est.se, df=est.df,
                    cells_note=_cells_note(results, j))
        out.append(replace(v, text=v.text + (f" ⚠ {v.cells_note}." if v.cells_note else "")))
    return out


def _rests_on(results: Results, j: Judged) -> str:
    """The seeds and the test behind a verdict, in a few words."""
    cells = results.finished[results.finished["arm"].isin(j.basis.arms)]
    n = int(cells["seed"].nunique())
    if results.study.seed_decision:
        test = "Stein two-stage t"
    elif j.basis.lenth:
        test = "Lenth pseudo-SE"
    elif j.basis.words.startswith(("main effect", "each level")):
        test = "factorial fit, t"
    else:
        test = "paired t"
    return f"{n} seed{'s' if n != 1 else ''}, {test}"


def _cells_note(results: Results, j: Judged) -> str:
    """Failed cells are part of the answer: each involved arm's failures, and a paired comparison resting
    on fewer pairs than the study's seeds."""
    total = len(results.study.seeds) or int(results.ablation["seed"].nunique())
    failed = results.failed
    notes = [f"{arm} failed on {n} of {total} seeds" for arm in j.basis.arms
             if (n := int((failed["arm"] == arm).sum())) > 0]
    pairs = j.estimate.seeds
    if not j.basis.words.startswith(("main effect", "each level")) and 0 < pairs < total:
        notes.append(f"rests on {pairs} of {total} seeds' pairs")
    return "; ".join(notes)


def _untested(factor: str, judged: Judged | None, family: str, margin: float | None) -> Verdict:
    why = ("its comparison has no spread to test against (one paired seed)" if judged is not None
           else "not isolated by this design (no arm differs from another by this factor alone)")
    est = judged.estimate if judged is not None else NO_ESTIMATE
    return Verdict(factor, "inconclusive", f"{factor}: inconclusive: {why}.", est.estimate, basis=why,
                   family=family, min_effect=margin if margin else np.nan, rests_on="no test")


def _with_text(v: Verdict, j: Judged, results: Results, effects: pd.DataFrame, m: int) -> Verdict:
    return replace(v, text=verdict_text(v, j.basis, results, effects, m))


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """verdicts.csv: one row per factor, numbers in the metric's own units."""
    rows = [{"factor": v.factor, "verdict": v.status, "level": v.level, "estimate": v.estimate, "low": v.ci_low,
             "high": v.ci_high, "p_value": v.p_value, "p_adjusted": v.p_holm, "p_tost_adjusted": v.p_tost_holm,
             "min_effect": v.min_effect, "mde": v.mde, "seeds_needed": v.seeds_needed, "basis": v.basis,
             "rests_on": v.rests_on,
             "family": v.family, "undertrained": v.undertrained, "aliased_with": v.aliased_with,
             "depends_on": v.depends_on, "simple_effects": v.simple_effects} for v in verdicts]
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def family_statement(verdicts: list[Verdict]) -> str:
    """What error rate holds for the page as a whole."""
    m = len([v for v in verdicts if np.isfinite(v.p_holm)])
    inter = {t for v in verdicts for t, _ in v.interaction_p}
    m += len(inter)
    what = f" ({m - len(inter)} factors + {len(inter)} two-way interactions)" if inter else ""
    return (f"Verdicts: {m} tests{what}, Holm: the probability of any wrong helps/hurts/depends call on this "
            "page is at most 5%, and of any wrong negligible call at most 5% (under the model: additive seed effect, "
            "normal errors). The effects tables below are separate families (each Holm at 5%): a mark of "
            "significance there is exploratory, not a verdict.")

