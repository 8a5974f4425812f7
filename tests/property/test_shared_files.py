"""Property: trees compared without reading the files they share
(``comparing.sharedfiles``) differ exactly where trees hashed whole differ.
A file shared by two trees is made here as the engine's mounts show one: the
same inode in both (a hardlink across the trees)."""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from difflayers.archives.dirindex import DirTree
from difflayers.comparing.indexcheck import tree_differences
from difflayers.comparing.sharedfiles import compared_entries

from .test_exact_trees import EXAMPLES, pytestmark  # noqa: F401 (root, for chown)
from .treemodel import materialize, trees


def share(first: Path, second: Path, which: list) -> None:
    """Make some of ``second``'s regular files the same file as ``first``'s of
    that name (``which``: whether to, name by name in sorted order)."""
    names = sorted(
        os.path.relpath(os.path.join(folder, name), second)
        for folder, _, names in os.walk(second)
        for name in names
    )
    for name, make in zip(names, which):
        here, there = second / name, first / name
        if make and here.is_file() and not here.is_symlink() and there.is_file() and not there.is_symlink():
            here.unlink()
            os.link(there, here)


def hashed_whole(root: Path) -> dict:
    return {entry.name: entry for entry in DirTree(str(root)).entries()}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(trees(), min_size=2, max_size=3),
    which=st.lists(st.booleans(), max_size=40),
)
def test_shared_files_compare_as_hashed_trees(specs, which):
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(tmp) / str(number) for number in range(len(specs))]
        for root, spec in zip(roots, specs):
            root.mkdir()
            materialize(spec, root)
        for later in roots[1:]:
            share(roots[0], later, which)
        found = compared_entries([str(root) for root in roots], None)
        whole = [hashed_whole(root) for root in roots]
        for one in range(len(roots)):
            for other in range(one + 1, len(roots)):
                assert tree_differences(found[one], found[other]) == tree_differences(
                    whole[one], whole[other]
                )
