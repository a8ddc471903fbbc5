"""Numbers the report states about a study: pure functions over the tidy tables of `results.py`.

Nothing here draws or renders, so every number in the report can be tested against a hand computation.
One copy of each procedure: the t interval and the bootstrap (intervals), the sign-flip test and Holm's
step (pvalues), the OLS fit with the seed block (ols); the analyses built on them: paired comparisons and
contributions (paired), factorial effects (factorial), a fraction's estimable effects (aliasing), the
leaderboard, the effects table (effects), the verdicts and the levels summary.

Seeds are paired (seed k shares init, data order and augmentation across arms), so comparisons between
two arms use per-seed differences: the seed-to-seed spread cancels and few seeds go further.

May import: ablate.report.results, ablate.spec (the metrics' default margins).
"""
