"""The assembled layer: whiteouts, opaque directories, parents, hardlinks inside."""

import contextlib
import hashlib
import tarfile

import pytest
from tarstream import engine_like_tar, entry

from difflayers.archives.layer import ancestor_names, write_layer
from difflayers.core.itemize import parse
from difflayers.core.plan import make_plan
from difflayers.errors import StaleOutput


def plan_of(*lines):
    return make_plan(parse(line.encode() for line in lines))


def run(tmp_path, members, plan, path="/app", ancestors=()):
    opened = []

    @contextlib.contextmanager
    def source():
        opened.append(1)
        yield engine_like_tar(members)

    dest = tmp_path / "layer.tar"
    stats = write_layer(source, dest, tree_path=path, plan=plan, ancestors=list(ancestors))
    with tarfile.open(dest) as tar:
        names = [(m.name, m) for m in tar]
    assert stats.diff_id == "sha256:" + hashlib.sha256(dest.read_bytes()).hexdigest()
    assert stats.size == dest.stat().st_size
    return stats, names, len(opened)


TREE = [
    entry("app", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000),
    entry("app/keep", data=b"same"),
    entry("app/lib", tarfile.DIRTYPE, mode=0o700, uid=7),
    entry("app/lib/changed", data=b"new content"),
]


def test_whiteouts_sit_beside_removed_names_after_the_parents_with_new_metadata(tmp_path):
    plan = plan_of(
        ">fcs....... lib/changed", "*deleting   lib/old", "*deleting   gone/", "*deleting   gone/x"
    )
    stats, names, _ = run(tmp_path, TREE, plan)
    order = [name for name, _ in names]
    assert order == ["app", "app/lib", "app/lib/changed", "app/lib/.wh.old", "app/.wh.gone"]
    members = dict(names)
    assert (members["app"].mode, members["app"].uid) == (0o750, 1000)
    assert (members["app/lib"].mode, members["app/lib"].uid) == (0o700, 7)
    assert (stats.whiteouts, stats.opaque, stats.content_bytes) == (2, 0, len(b"new content"))


def test_a_directory_that_keeps_none_of_olds_entries_gets_one_opaque_whiteout(tmp_path):
    members = [*TREE[:2], entry("app/lib", tarfile.DIRTYPE), entry("app/lib/fresh", data=b"f")]
    plan = plan_of(">f+++++++++ lib/fresh", "*deleting   lib/a", "*deleting   lib/b")
    stats, names, _ = run(tmp_path, members, plan)
    assert [name for name, _ in names] == ["app", "app/lib", "app/lib/fresh", "app/lib/.wh..wh..opq"]
    assert (stats.whiteouts, stats.opaque) == (0, 1)


def test_a_directory_with_removals_only_is_in_the_layer_before_its_whiteouts(tmp_path):
    members = [
        *TREE,
        entry("app/quiet", tarfile.DIRTYPE, mode=0o711, uid=3),
        entry("app/quiet/kept", data=b"k"),
    ]
    plan = plan_of("*deleting   quiet/old")
    _, names, _ = run(tmp_path, members, plan)
    assert [name for name, _ in names] == ["app", "app/quiet", "app/quiet/.wh.old"]
    assert (dict(names)["app/quiet"].mode, dict(names)["app/quiet"].uid) == (0o711, 3)


def test_no_whiteout_where_new_puts_another_type(tmp_path):
    # OLD's directory "lib" became a file: the file hides it, nothing below is named.
    members = [*TREE[:2], entry("app/lib", data=b"now a file")]
    plan = plan_of(">f+++++++++ lib", "*deleting   lib/x")
    _, names, _ = run(tmp_path, members, plan)
    assert [name for name, _ in names] == ["app", "app/lib"]


def test_ancestors_come_first_and_entries_are_named_from_root(tmp_path):
    above = tarfile.TarInfo("srv")
    above.type, above.mode, above.uid = tarfile.DIRTYPE, 0o711, 5
    plan = plan_of(">fcs....... lib/changed")
    _, names, _ = run(tmp_path, TREE, plan, path="/srv/app", ancestors=[above])
    assert [name for name, _ in names] == ["srv", "srv/app", "srv/app/lib", "srv/app/lib/changed"]
    assert ancestor_names("/srv/app/x") == ["/srv", "/srv/app"]
    assert ancestor_names("/app") == []


def test_a_link_to_an_unchanged_file_ships_the_file_and_all_its_names(tmp_path):
    members = [
        entry("app", tarfile.DIRTYPE),
        entry("app/a", data=b"content"),
        entry("app/b", tarfile.LNKTYPE, linkname="app/a"),
        entry("app/new", tarfile.LNKTYPE, linkname="app/a"),
    ]
    plan = plan_of("hf+++++++++ new")
    _, names, passes = run(tmp_path, members, plan)
    members_out = dict(names)
    assert passes == 2  # the second pass knew "a" was needed before reaching it
    assert members_out["app/a"].isreg() and members_out["app/a"].size == len(b"content")
    assert members_out["app/b"].linkname == "app/a" and members_out["app/new"].linkname == "app/a"


def test_a_planned_entry_missing_from_new_is_an_error(tmp_path):
    with pytest.raises(StaleOutput, match="not in NEW"):
        run(tmp_path, TREE, plan_of(">f+++++++++ nowhere"))
    assert not (tmp_path / "layer.tar").exists()


def test_a_whiteout_whose_directory_is_missing_from_new_is_an_error(tmp_path):
    with pytest.raises(StaleOutput, match="not in NEW"):
        run(tmp_path, TREE, plan_of("*deleting   elsewhere/x"))
