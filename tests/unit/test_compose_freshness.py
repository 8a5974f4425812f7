"""The compose differ's check that the tree copies were made for this run.

A named volume is filled only when empty, so a copy left by an interrupted run
would be compared as if it were the images asked for. These cases need no
engine: the check reads a container's inspect data and the volume root.
"""

import datetime
import os

import pytest

from difflayers.compose.differ import REPLACE_LABEL, _check_fresh
from difflayers.errors import BadInput


def stamp(ns: int) -> str:
    """Docker's Created format: RFC 3339 in UTC with nanoseconds."""
    seconds, rest = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{rest:09d}Z"


def container(created_ns: int, labels=None) -> dict:
    return {"Image": "sha256:a", "Created": stamp(created_ns), "Config": {"Labels": labels}}


def test_a_copy_made_as_the_container_was_created_is_fresh(tmp_path):
    ctime = os.stat(tmp_path).st_ctime_ns
    made = container(ctime - 3_000_000, {"com.docker.compose.service": "old"})
    _check_fresh(made, "sha256:a", tmp_path, "old")


def test_a_copy_older_than_the_container_is_stale(tmp_path):
    ctime = os.stat(tmp_path).st_ctime_ns
    with pytest.raises(BadInput, match="interrupted run"):
        _check_fresh(container(ctime + 60_000_000), "sha256:a", tmp_path, "old")


def test_a_container_that_replaced_another_found_its_copy(tmp_path):
    # CI saw a re-run recreate the container within 100 ms of the copy: the
    # clock alone cannot tell, Compose's label does.
    ctime = os.stat(tmp_path).st_ctime_ns
    with pytest.raises(BadInput, match="interrupted run"):
        _check_fresh(container(ctime, {REPLACE_LABEL: "old-1"}), "sha256:a", tmp_path, "new")


def test_a_container_of_another_image_is_refused(tmp_path):
    ctime = os.stat(tmp_path).st_ctime_ns
    with pytest.raises(BadInput, match="another image"):
        _check_fresh(container(ctime), "sha256:b", tmp_path, "old")
