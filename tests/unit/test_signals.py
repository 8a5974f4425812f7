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


AS_THE_PROGRAM = """
import signal, sys
from difflayers.cli.main import main
sys.argv = ["difflayers", "completion", "bash"]
main()
print("STATUS", [signal.getsignal(s) is signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM)])
"""


def test_the_program_ignores_signals_once_its_status_is_known():
    """Python restores the default actions while it shuts down: a SIGTERM then
    would kill a finished run (status -15). The program ignores both from the
    moment ``main`` returns; a caller of ``main(argv)`` keeps its own handlers."""
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-c", AS_THE_PROGRAM], capture_output=True, text=True, check=True)
    assert "STATUS [True, True]" in ran.stdout, ran.stdout[-300:] + ran.stderr
    signal_before = signal.getsignal(signal.SIGTERM)
    from difflayers.cli.main import main

    assert main(["completion", "bash"]) == 0
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    signal.signal(signal.SIGTERM, signal_before)


def test_what_a_run_made_is_removed_again_while_the_engine_refuses(monkeypatch):
    """A container whose export was cut off by Ctrl-C is held by it a moment:
    its removal is asked again; gone already is done; an engine that does not
    answer is asked once."""
    import docker.errors
    from requests.exceptions import ConnectionError as NoAnswer

    from difflayers.adapters import engine

    monkeypatch.setattr(engine.time, "sleep", lambda seconds: None)
    calls = []

    def busy_twice(cid):
        calls.append(cid)
        if len(calls) < 3:
            raise docker.errors.APIError("removal of container is already in progress")

    engine._removed(busy_twice, "c1")
    assert calls == ["c1"] * 3

    asked = []

    def gone(cid):
        asked.append(cid)
        raise docker.errors.NotFound("no such container")

    def no_answer(cid):
        asked.append(cid)
        raise NoAnswer()

    engine._removed(gone, "c2")
    with pytest.raises(NoAnswer):
        engine._removed(no_answer, "c3")
    assert asked == ["c2", "c3"]
