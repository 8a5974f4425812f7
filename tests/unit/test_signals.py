"""One rule for signals: SIGINT and SIGTERM stop a run, unless the process was
started ignoring them, and then they stay ignored (``engine.uninterrupted``
holds a signal during an engine call only where it would otherwise stop the run)."""

import os
import signal

import pytest

from difflayers.adapters.engine import uninterrupted


@pytest.fixture
def sigint_restored():
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_held_sigint_stops_the_run_once_the_call_returns(sigint_restored):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with uninterrupted():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the call ran to its end")
    assert done
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored(sigint_restored):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with uninterrupted():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
