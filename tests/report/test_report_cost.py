"""What keeps a report cheap (issue 15): each statistic computed once per Results, the figure processes
inheriting the Results instead of receiving it with every figure, and a reader that never imports torch.
Timings are the bench's (benchmarks/figures_report.py, figure h); these check the mechanisms."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from ablate.report import figure_pool, page
from ablate.report.results import computed_once, load_results
from ablate.report.stats.effects import effect_table
from ablate.report.stats.leaderboard import leaderboard

ROOT = Path(__file__).resolve().parents[2]


def test_a_statistic_is_computed_once_per_results_and_each_caller_gets_its_own_copy(study_store):
    res = load_results("synthetic", study_store[0])
    calls = []

    @computed_once
    def counted(results):
        calls.append(1)
        return effect_table(results)

    first = counted(res)
    first.loc[:, "estimate"] = 99.0  # a caller editing its table
    second = counted(res)
    assert len(calls) == 1 and (second["estimate"] != 99.0).all()
    assert counted(dataclasses.replace(res)) is not None and len(calls) == 2  # a replaced copy starts afresh
    board = leaderboard(res)
    assert board.equals(leaderboard(res)) and board is not leaderboard(res)


def _tiny(results):
    fig = page.Figure(figsize=(1, 1))
    fig.subplots().plot(range(len(results.cells)))
    return fig


def test_figure_processes_inherit_the_results_and_draw_what_is_drawn_inline(study_store):
    res = load_results("synthetic", study_store[0])
    inline = page.figure_block("t", "tiny", _tiny, res).png_base64
    with figure_pool.parallel_figures(res):
        pool, seen = figure_pool._pools[-1], []
        submit = pool.submit
        pool.submit = lambda fn, *args: (seen.append(args), submit(fn, *args))[1]
        block = page.figure_block("t", "tiny", _tiny, res)
        assert seen == [(_tiny, figure_pool._Inherited(id(res)))]  # a token went to the process, not the Results
        assert block.png_base64 == inline
    assert id(res) not in figure_pool._SHARED
    with figure_pool.parallel_figures():  # not shared: it is sent, and drawn all the same
        assert page.figure_block("t", "tiny", _tiny, res).png_base64 == inline


def test_a_figure_whose_shared_argument_is_gone_is_drawn_here(study_store):
    res = load_results("synthetic", study_store[0])
    token = figure_pool._Inherited(12345)  # what a process forked before the share would fail to resolve
    block = page.FigureBlock("t", "tiny", _failed_future(token), redo=lambda: figure_pool.render(_tiny, res))
    assert block.png_base64 == page.figure_block("t", "tiny", _tiny, res).png_base64


def _failed_future(token):
    from concurrent.futures import Future

    future: Future = Future()
    try:
        figure_pool.render(_tiny, token)
    except KeyError as e:
        future.set_exception(e)
    return future


def test_reading_a_study_back_never_imports_torch():
    code = ("import sys; from ablate.cli import _study_name; _study_name('studies/quickstart.yaml'); "
            "import ablate.report.html, ablate.tracking.reader, ablate.report.results; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


SLOW_REPORT = """
import sys, time
from ablate.report import figure_pool, page
from ablate.report.html import render_report
from ablate.report.results import load_results

def slow(results):
    time.sleep(60)

def section(results):
    return page.Section("slow", "slow", "_figures.html", {"figures": [page.figure_block("s", "slow", slow, results)]})

res = load_results("synthetic", sys.argv[1])
with figure_pool.parallel_figures(res):
    block = page.figure_block("s", "slow", slow, res)
    print("drawing", flush=True)
    block.png_base64
"""


def test_a_report_killed_while_its_figures_draw_leaves_no_process_behind(study_store, tmp_path):
    """SIGKILL of a report process (a killed `ablate run` or `ablate report`) while figure processes draw:
    they exit too, so nothing keeps its output pipes open (the kill-and-resume test hung on them)."""
    import os
    import signal
    import time

    script = tmp_path / "slow_report.py"
    script.write_text(SLOW_REPORT)
    proc = subprocess.Popen([sys.executable, str(script), study_store[0]], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "drawing"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    t0 = time.monotonic()
    proc.communicate(timeout=20)  # returns once every process holding the pipes is gone
    assert time.monotonic() - t0 < 5
