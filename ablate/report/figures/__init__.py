"""The report's figures, grouped by what they show: style (colors, layout), training curves, weights and
norms, effects, the tune phase, levels. Each function returns a pyplot-free Figure; the sections choose
which to draw and in what order.

May import: ablate.report.results, ablate.report.stats (the numbers a figure shows), ablate.records.
"""
