"""The one place that runs subprocesses: argv lists only, never a shell."""

import subprocess

from difflayers.errors import CommandFailed


def run(argv, *, stdout=None, env=None, own_session=False) -> None:
    """Run ``argv``; raise ``CommandFailed`` with its stderr when it fails.

    ``stdout`` may be an open binary file, so large outputs (rsync logs)
    stream to disk instead of memory. ``own_session`` keeps a terminal's
    Ctrl-C from reaching the command, for a caller that lets it finish.
    """
    completed = subprocess.run(
        list(argv),
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        check=False,
        start_new_session=own_session,
    )
    if completed.returncode != 0:
        raise CommandFailed(argv, completed.returncode, completed.stderr.decode("utf-8", "replace"))


def output(argv, *, env=None) -> str | None:
    """What ``argv`` prints on stdout, or None when it cannot run or fails (a probe)."""
    try:
        completed = subprocess.run(list(argv), capture_output=True, env=env, check=False)
    except OSError:
        return None
    return completed.stdout.decode("utf-8", "replace") if completed.returncode == 0 else None
