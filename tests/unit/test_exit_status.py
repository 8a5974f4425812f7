"""The exit status is the error's own, with or without DIFFLAYERS_DEBUG, and an
engine or registry that stops answering ends as one line and exit 2."""

import pytest
import urllib3.exceptions
from requests.exceptions import ConnectionError, ReadTimeout

from difflayers.cli import main as entry
from difflayers.errors import BadInput, ExitCode, VerificationFailed

FAILURES = [
    (BadInput("no such image"), ExitCode.BAD_INPUT, "no such image"),
    (VerificationFailed("3 differences"), ExitCode.DIFFERENT, "3 differences"),
    (ReadTimeout("read timed out"), ExitCode.BAD_INPUT, "did not answer in time"),
    (
        urllib3.exceptions.ReadTimeoutError(None, "/images/push", "Read timed out."),
        ExitCode.BAD_INPUT,
        "did not answer in time",
    ),
    (ConnectionError("connection refused"), ExitCode.BAD_INPUT, "connection to the Docker engine failed"),
]


@pytest.mark.parametrize("debug", ["", "1"])
@pytest.mark.parametrize("error,status,text", FAILURES)
def test_status_does_not_depend_on_debug(error, status, text, debug, monkeypatch, capsys):
    monkeypatch.setenv("DIFFLAYERS_DEBUG", debug)

    def fail(args, env):
        raise error

    monkeypatch.setattr(entry, "_run", fail)
    assert entry.main(["prune"]) == status
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("difflayers: error: ")
    assert text in err
    assert ("Traceback" in err) == bool(debug)


def test_a_bug_is_not_taken_for_an_engine_error(monkeypatch):
    def fail(args, env):
        raise ZeroDivisionError

    monkeypatch.setattr(entry, "_run", fail)
    with pytest.raises(ZeroDivisionError):
        entry.main(["prune"])


def test_engine_timeout_is_checked():
    from difflayers.errors import ConfigFileError
    from difflayers.settings import Environment

    assert Environment.read({"DIFFLAYERS_ENGINE_TIMEOUT": "5"}).engine_timeout == 5
    assert Environment.read({}).engine_timeout == 60
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigFileError):
            Environment.read({"DIFFLAYERS_ENGINE_TIMEOUT": bad})
