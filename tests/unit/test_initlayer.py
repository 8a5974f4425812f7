"""Docker's init layer in a tree read in place: found by its look, at its names only."""

import pytest

from difflayers.comparing.initlayer import InitLayerInImage, leftovers, refuse_leftovers
from difflayers.core import treeindex
from difflayers.core.treeindex import Entry


def _index(path: str, entries: list) -> bytes:
    return treeindex.to_bytes(path, sorted(entries, key=lambda e: treeindex.tree_key(e.name)))


INIT = [
    Entry(".", "d", 0o755, 0, 0),
    Entry(".dockerenv", "f", 0o755, 0, 0, 0, 1, "sha256:" + "e3" * 32),
    Entry("etc", "d", 0o755, 0, 0),
    Entry("etc/hostname", "f", 0o755, 0, 0, 0, 1, "sha256:" + "e3" * 32),
    Entry("etc/mtab", "l", 0o777, 0, 0, link="/proc/mounts"),
]


def test_the_init_layers_files_and_link_are_found_by_their_look():
    assert leftovers(_index("/", INIT), "/") == ["/.dockerenv", "/etc/hostname", "/etc/mtab"]
    etc = [Entry(e.name.removeprefix("etc/") if e.name != "etc" else ".", *e[1:]) for e in INIT[2:]]
    assert leftovers(_index("/etc", etc), "/etc") == ["/etc/hostname", "/etc/mtab"]
    with pytest.raises(
        InitLayerInImage, match="app:2 mounted in place holds Docker.s init layer at /.docker"
    ):
        refuse_leftovers(_index("/", INIT), "/", "app:2")


def test_an_images_own_files_there_are_not_the_init_layers():
    own = [
        Entry(".", "d", 0o755, 0, 0),
        Entry(".dockerenv", "f", 0o644, 0, 0, 0, 1, "sha256:" + "e3" * 32),  # not 0755
        Entry("etc", "d", 0o755, 0, 0),
        Entry("etc/hostname", "f", 0o755, 0, 0, 9, 1, "sha256:" + "ab" * 32),  # not empty
        Entry("etc/mtab", "l", 0o777, 0, 0, link="../proc/self/mounts"),  # Debian's own
    ]
    assert leftovers(_index("/", own), "/") == []
    refuse_leftovers(_index("/", own), "/", "app:2")


def test_a_path_that_holds_none_of_them_is_not_read():
    assert leftovers(b"not an index at all", "/app") == []
