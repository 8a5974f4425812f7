"""Kills and interrupts on the real engine, on a pair large enough that a run
takes seconds: Ctrl-C and SIGTERM end it within 5 s with exit 130, one line
and nothing left; SIGKILL leaves things, which the next run (or `prune`)
removes, saying so.

"Left" is counted by the owner mark every resource carries from birth: the
killed process's ID in the owner label, the unverified tag and the name of
the temporary folder.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import sh

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "difflayers"]
OWNER_LABEL = "io.github.difflayers.owner"
KEPT_MARKER = ".difflayers-kept"


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory):
    """120 MiB under /app; NEW changes 12 files, removes 3, adds 3."""
    tmp = tmp_path_factory.mktemp("interrupts")
    script = {
        "old": "mkdir /app && for i in $(seq 60); do head -c 2097152 /dev/urandom > /app/f$i; done",
        "new": "for i in $(seq 12); do head -c 2097152 /dev/urandom > /app/f$i; done "
        "&& rm /app/f58 /app/f59 /app/f60 "
        "&& for i in 1 2 3; do head -c 1000000 /dev/urandom > /app/n$i; done",
    }
    tags = {}
    for side, base in (("old", "debian:bookworm-slim"), ("new", "difflayers-test-interrupts:old")):
        context = tmp / side
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM {base}\nRUN {script[side]}\n")
        tags[side] = f"difflayers-test-interrupts:{side}"
        sh(["docker", "build", "-q", "-t", tags[side], "."], context)
    yield tags
    subprocess.run(
        ["docker", "image", "rm", "-f", *reversed(tags.values())], capture_output=True, check=False
    )


def owned_by(pid: int) -> dict:
    """What the engine and /tmp hold of process ``pid``."""
    mark = f"-{pid}-"
    containers = sh(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={OWNER_LABEL}",
            "--format",
            f'{{{{.Label "{OWNER_LABEL}"}}}}',
        ],
        ".",
    ).stdout.split()
    volumes = json.loads(
        "["
        + ",".join(
            sh(
                [
                    "docker",
                    "volume",
                    "ls",
                    "--filter",
                    f"label={OWNER_LABEL}",
                    "--format",
                    "{{json .Labels}}",
                ],
                ".",
            )
            .stdout.strip()
            .splitlines()
        )
        + "]"
    )
    tags = sh(["docker", "images", "--format", "{{.Tag}}", "difflayers-unverified"], ".").stdout.split()
    # A folder kept for the user (a failed verification's) is no leftover, and
    # may be an earlier process's that had the same PID (PIDs wrap at 32,768).
    folders = [
        p for p in Path(tempfile.gettempdir()).glob(f"difflayers-{pid}-*") if not (p / KEPT_MARKER).exists()
    ]
    return {
        "containers": [c for c in containers if mark in c],
        "volumes": [v for v in volumes if mark in str(v)],
        "tags": [t for t in tags if mark in t],
        "folders": folders,
    }


def nothing(found: dict) -> bool:
    return not any(found.values())


def start(big_pair, tag, compare):
    argv = [*CLI, "-q", "optimize", big_pair["old"], big_pair["new"], "--path", "/app", "-t", tag]
    env = {**os.environ, "DIFFLAYERS_COMPARE": compare}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def run_seconds(big_pair):
    """How long a whole run takes here, per way of exposing trees (``mounts`` is
    quicker than ``volumes``): the signal times below must fall inside it."""
    measured = {}

    def seconds(compare: str) -> float:
        if compare not in measured:
            tag = f"difflayers-test-interrupts:whole-{compare}"
            runs = []
            for _ in range(2):  # the shorter of two: the first may warm caches up
                began = time.monotonic()
                proc = start(big_pair, tag, compare)
                _, err = proc.communicate(timeout=600)
                assert proc.returncode == 0, err
                runs.append(time.monotonic() - began)
                subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
            measured[compare] = min(runs)
        return measured[compare]

    return seconds


# Ctrl-C and SIGTERM take the same way out: each is sent at two points of a run,
# together covering its start, the copies or mounts, the build and the verify.
@pytest.mark.parametrize(
    "signum, share",
    [
        (signal.SIGINT, 0.1),
        # The signal's kind is the kit's, not the store's: SIGTERM once in CI.
        pytest.param(signal.SIGTERM, 0.3, marks=pytest.mark.once),
        (signal.SIGINT, 0.5),
        pytest.param(signal.SIGTERM, 0.75, marks=pytest.mark.once),
    ],
    ids=["SIGINT-0.1", "SIGTERM-0.3", "SIGINT-0.5", "SIGTERM-0.75"],
)
# In place, a kill stops BuildKit on the store's snapshots: again on containerd's store.
@pytest.mark.parametrize("compare", ["volumes", pytest.param("mounts", marks=pytest.mark.store)])
def test_interrupt_ends_fast_cleanly_and_leaves_nothing(big_pair, run_seconds, signum, share, compare):
    tag = "difflayers-test-interrupts:interrupted"
    whole = run_seconds(compare)
    for _ in range(3):
        proc = start(big_pair, tag, compare)
        time.sleep(whole * share)
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - sent
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
        if proc.returncode != 0:
            break
        share *= 0.6  # this run was quicker than the one timed: the signal comes earlier
    else:
        pytest.fail(f"three runs ended before the signal ({whole:.1f} s runs)")
    assert proc.returncode == 130, (proc.returncode, err)
    assert took < 5, f"{took:.1f} s from the signal to the exit"
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["difflayers: interrupted; what this run made has been removed"], err
    assert nothing(owned_by(proc.pid)), owned_by(proc.pid)


# The middle point once in CI: the first and last cover the store's phases.
@pytest.mark.parametrize("share", [0.15, pytest.param(0.4, marks=pytest.mark.once), 0.7])
@pytest.mark.parametrize("compare", ["volumes", "mounts"])
def test_what_a_killed_run_left_is_removed_by_the_next(big_pair, run_seconds, share, compare):
    tag = "difflayers-test-interrupts:killed"
    whole = run_seconds(compare)
    proc = start(big_pair, tag, compare)
    time.sleep(whole * share)
    proc.kill()
    proc.communicate(timeout=60)
    time.sleep(1)  # the engine finishes what it was asked for
    left = owned_by(proc.pid)
    swept = sh([*CLI, "prune", "--json"], ".")
    removed = json.loads(swept.stdout)
    assert nothing(owned_by(proc.pid)), owned_by(proc.pid)
    assert removed["containers"] >= len(left["containers"]) and removed["volumes"] >= len(left["volumes"])
    assert removed["tags"] >= len(left["tags"]) and removed["folders"] >= len(left["folders"])
    subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


def test_a_normal_run_sweeps_and_says_so(big_pair, run_seconds):
    tag = "difflayers-test-interrupts:after-kill"
    whole = run_seconds("volumes")
    proc = start(big_pair, tag, "volumes")
    time.sleep(whole * 0.3)
    proc.kill()
    proc.communicate(timeout=60)
    time.sleep(1)
    assert not nothing(owned_by(proc.pid)), "the kill left nothing to sweep; kill later"
    result = sh([*CLI, "optimize", big_pair["old"], big_pair["new"], "--path", "/app", "-t", tag], ".")
    assert "removed what killed runs left:" in result.stderr
    assert nothing(owned_by(proc.pid))
    subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


@pytest.mark.parametrize("compare", ["volumes", "mounts"])
def test_a_sigint_ignored_from_the_start_stays_ignored(big_pair, run_seconds, compare):
    """A shell script's background job starts with SIGINT ignored: Ctrl-C in its
    terminal must not stop it, neither during an engine call (where the kit
    holds signals) nor between them. SIGTERM still would."""
    tag = "difflayers-test-interrupts:ignoring"
    whole = run_seconds(compare)
    argv = [*CLI, "-q", "optimize", big_pair["old"], big_pair["new"], "--path", "/app", "-t", tag]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DIFFLAYERS_COMPARE": compare},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    began = time.monotonic()
    for share in (0.1, 0.3, 0.5, 0.7):
        time.sleep(max(0.0, began + whole * share - time.monotonic()))
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    try:
        assert proc.returncode == 0, err
        assert sh(["docker", "image", "inspect", tag], ".", check=False).returncode == 0
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
