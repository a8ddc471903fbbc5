"""The verdict family: for each factor, the one comparison that speaks for it.

The strongest analysis the design allows: the factorial main effect (a multi-level factor: each level
against its reference, all averaged over the other factors, with the seed block), else the factor's
contribution as the design records it (loco, add_one), else the single-factor arm against the baseline.
The verdicts (stats/verdicts.py) and the seeds-until-decided plan (stats/sequential.py) both read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ablate.report.results import Results
from ablate.report.stats.aliasing import aliasing, chain_rows, estimable
from ablate.report.stats.anova import anova_table
from ablate.report.stats.contrast import Estimate
from ablate.report.stats.factorial import Factorial, analyse
from ablate.report.stats.paired import (
    arm_factor_sets,
    baseline_arm,
    contribution_arms,
    metric_table,
    paired_estimate,
)


@dataclass(frozen=True)
class Basis:
    """A factor's comparison: one Estimate per level against `reference` (key '' for an on/off factor),
    what it compares in words, the arms it involves (for the convergence check), and its diagnostics."""

    factor: str
    estimates: dict[str, Estimate]
    words: str
    arms: list[str]
    reference: str = "off"
    f_test_p: float = np.nan  # a multi-level factor's F-test with the seed block (type II)
    aliased_with: str = ""  # a resolution III main effect's alias chain
    lenth: bool = False
    notes: list[str] = field(default_factory=list)
    not_estimable: str = ""  # why the finished arms cannot identify it (its verdict: no_verdict, this reason)


def verdict_basis(results: Results, analysis: Factorial | None = None) -> dict[str, Basis | None]:
    """factor -> its Basis, or None when the design isolates no comparison for it."""
    analysis = analyse(results) if analysis is None else analysis
    out: dict[str, Basis | None] = {}
    if analysis is not None:
        f_tests = _f_tests(analysis)
        chains = _chains(results)
        arms = list(analysis.cells["arm"].unique())
        for f in results.study.factors:
            if f in analysis.not_estimable:  # never from an unbalanced subset of arms (nor vs the baseline)
                out[f] = Basis(f, {}, analysis.not_estimable[f], arms, not_estimable=analysis.not_estimable[f])
            elif f in analysis.mains:
                words = "main effect, averaged over the other factors"
                if analysis.lenth is not None:
                    words += " (one seed: Lenth's pseudo standard error)"
                out[f] = Basis(f, {"": analysis.mains[f]}, words, arms, aliased_with=chains.get(f, ""),
                               lenth=analysis.lenth is not None)
            elif analysis.levels.get(f):
                ref = analysis.codings[f].reference
                out[f] = Basis(f, dict(analysis.levels[f]), f"each level vs {f}={ref}, averaged over the other "
                               "factors", arms, reference=ref, f_test_p=f_tests.get(f, np.nan))
    table = None
    contributions = contribution_arms(results) if analysis is None else {}
    base = baseline_arm(results)
    alone = {next(iter(s)): arm for arm, s in arm_factor_sets(results).items() if len(s) == 1}
    for f in results.study.factors:
        if f in out:
            continue
        table = metric_table(results) if table is None else table
        if f in contributions:
            with_f, without_f = contributions[f]
            out[f] = Basis(f, {"": paired_estimate(table, with_f, without_f)},
                           f"contribution: {with_f} vs {without_f}", [with_f, without_f])
        elif base is not None and f in alone and not table.empty:
            out[f] = Basis(f, {"": paired_estimate(table, alone[f], base)}, f"arm {alone[f]} vs {base}",
                           [alone[f], base])
        else:
            out[f] = None
    return out


def _f_tests(analysis: Factorial) -> dict[str, float]:
    if analysis.fit is None:
        return {}
    table = anova_table(analysis.fit).set_index("source")
    return {f: float(table.loc[f, "p_value"]) for f in analysis.levels if f in table.index}


def _chains(results: Results) -> dict[str, str]:
    """Main effect -> the terms it is aliased with, for resolution III fractions (their verdicts carry it)."""
    structure = aliasing(results)
    if not structure or structure.get("resolution") != 3:
        return {}
    return {r["term"]: r["aliased_with"] for r in chain_rows(structure, estimable(results))
            if ":" not in r["term"] and r["aliased_with"]}
