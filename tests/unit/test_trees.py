"""Checks on plain folders: names through links are refused, edits detected."""

import json
import os

import pytest

from difflayers.comparing import difflog
from difflayers.comparing.rsync import check_no_symlink_on_the_way, hardlink_groups
from difflayers.core.outputs import sha256_file
from difflayers.errors import StaleOutput, UnsafePath


def trees(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    for root in (new, old):
        (root / "real").mkdir(parents=True)
    os.symlink("/etc", new / "link")
    os.symlink("/etc", old / "link")
    (old / "file").write_text("x")
    return new, old


@pytest.mark.parametrize(
    "line",
    [b">f+++++++++ link/passwd", b"*deleting   link/passwd", b"*deleting   file/x", b">f+++++++++ missing/x"],
)
def test_names_through_links_or_files_are_refused(tmp_path, line):
    new, old = trees(tmp_path)
    log = tmp_path / "log"
    log.write_bytes(line + b"\n")
    with pytest.raises(UnsafePath):
        check_no_symlink_on_the_way(log, str(new), str(old))


def test_names_in_real_directories_pass(tmp_path):
    new, old = trees(tmp_path)
    log = tmp_path / "log"
    log.write_bytes(b">f+++++++++ real/x\n*deleting   real/y\ncL+++++++++ link\n.d...p..... ./\n")
    # real/ in NEW (for x) and in OLD (for y); the link itself is no ancestor.
    assert check_no_symlink_on_the_way(log, str(new), str(old)) == 2


def test_hardlink_groups(tmp_path):
    (tmp_path / "a").write_text("x")
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "c").write_text("x")
    assert hardlink_groups(str(tmp_path)) == {"a": frozenset({"a", "b"}), "b": frozenset({"a", "b"})}


def test_a_log_edited_after_the_diff_is_refused(tmp_path):
    log = tmp_path / "rsync-image-diff.log"
    log.write_bytes(b">f+++++++++ a\n")
    meta = {
        "path": "/app",
        "old": {"ref": "o", "id": "1"},
        "new": {"ref": "n", "id": "2"},
        "log_sha256": sha256_file(log),
    }
    (tmp_path / "rsync-image-diff.json").write_text(json.dumps(meta))
    assert difflog.load(tmp_path)[1].additions == ("a",)
    log.write_bytes(b">f+++++++++ a\n*deleting   b\n")
    with pytest.raises(StaleOutput):
        difflog.load(tmp_path)
