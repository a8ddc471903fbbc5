"""A Ctrl-C whose KeyboardInterrupt Python drops (it landed in a weakref callback or a __del__, which print
"Exception ignored" and go on) still stops the command: ablate.interrupts records the signal and the
training and cell loops raise it again. Real signals, real training."""

from __future__ import annotations

import signal

import pytest

from ablate import interrupts
from ablate.train import fit
from ablate.validate import validate_study

# Python hands the dropped exception to sys.unraisablehook (pytest turns it into this warning)
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class _DropsACtrlC:
    """Sends this process SIGINT from inside its own __del__: the handler's KeyboardInterrupt is raised there,
    and Python drops it, as it does in the garbage collector's and importlib's callbacks."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)
        sum(range(1000))  # bytecode for the handler to run in


def _drop_a_ctrl_c() -> None:
    _DropsACtrlC()  # collected at once: __del__ runs here


@pytest.fixture
def installed():
    previous = interrupts.install()
    yield
    interrupts.restore(previous)


def test_python_drops_a_keyboard_interrupt_raised_in_del():
    """Why the module exists: with Python's own handler, the Ctrl-C is dropped and nothing stops."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    _drop_a_ctrl_c()  # returns: the KeyboardInterrupt went to sys.unraisablehook


def test_a_dropped_ctrl_c_is_raised_again_at_the_next_check(installed):
    _drop_a_ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()


def test_a_dropped_ctrl_c_stops_training_within_a_batch(installed, tiny_raw):
    tiny_raw["train"]["epochs"] = 4
    cell = validate_study(tiny_raw).cells()[0]
    seen = []

    def drop_after_epoch_1(epoch: int, epochs: int) -> None:
        seen.append(epoch)
        if epoch == 1:
            _drop_a_ctrl_c()

    with pytest.raises(KeyboardInterrupt):
        fit(cell, on_epoch=drop_after_epoch_1)
    assert seen == [1]  # before: all 4 epochs trained, the Ctrl-C lost


def test_restore_puts_the_handlers_back_and_forgets_the_signal():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    previous = interrupts.install()
    _drop_a_ctrl_c()
    interrupts.restore(previous)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    interrupts.check()  # nothing pending: an in-process caller that trains next is not interrupted


def test_an_ignored_sigint_stays_ignored():
    """Under nohup (or `cmd &` in a script) SIGINT is ignored, and a command must not start taking it."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        previous = interrupts.install()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        interrupts.restore(previous)
    finally:
        signal.signal(signal.SIGINT, old)
