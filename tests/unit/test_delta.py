"""The delta archive, from a tar stream shaped like the engine's archive endpoint."""

import io
import tarfile

import pytest
from tarstream import engine_like_tar, entry

from difflayers.archives.delta import write_delta
from difflayers.core.plan import Plan
from difflayers.errors import StaleOutput, UnsafePath


def run(members, additions, path="/srv/app"):
    out = io.BytesIO()
    stats = write_delta(engine_like_tar(members), out, tree_path=path, plan=Plan(additions=tuple(additions)))
    out.seek(0)
    return stats, {m.name: m for m in tarfile.open(fileobj=out)}, out


def test_only_planned_entries_with_full_paths_and_metadata():
    members = [
        entry("app", tarfile.DIRTYPE, mode=0o755),
        entry("app/keep", data=b"unchanged"),
        entry("app/new", data=b"hello", mode=0o4755, uid=1000, gid=50, uname="someone"),
        entry("app/link", tarfile.SYMTYPE, linkname="../elsewhere"),
    ]
    stats, out, _ = run(members, ["new", "link"])
    assert sorted(out) == ["srv/app/link", "srv/app/new"]
    new = out["srv/app/new"]
    assert (new.mode, new.uid, new.gid, new.uname, new.size) == (0o4755, 1000, 50, "", 5)
    assert out["srv/app/link"].linkname == "../elsewhere"
    assert (stats.entries, stats.content_bytes) == (2, 5)


def test_hardlink_to_unchanged_name_stays_a_link():
    members = [
        entry("app", tarfile.DIRTYPE),
        entry("app/a", data=b"x"),
        entry("app/b", tarfile.LNKTYPE, linkname="app/a"),
    ]
    _, out, _ = run(members, ["b"], path="/app")
    assert out["app/b"].islnk() and out["app/b"].linkname == "app/a"


def test_long_and_odd_names_survive():
    name = "d/" + "n" * 250 + " \n\t\u00e9"
    members = [
        entry("app", tarfile.DIRTYPE),
        entry("app/d", tarfile.DIRTYPE),
        entry("app/" + name, data=b"1"),
    ]
    _, out, _ = run(members, ["d", name], path="/app")
    assert "app/" + name in out


def test_root_directory_itself_can_be_shipped():
    _, out, _ = run([entry("app", tarfile.DIRTYPE, mode=0o700)], ["."], path="/app")
    assert out["app"].mode == 0o700


def test_missing_entry_means_the_log_is_stale():
    with pytest.raises(StaleOutput):
        run([entry("app", tarfile.DIRTYPE)], ["not-there"], path="/app")


def test_members_outside_the_tree_are_refused():
    with pytest.raises(UnsafePath):
        run([entry("app", tarfile.DIRTYPE), entry("other/x", data=b"")], ["x"], path="/app")


def test_unchanged_name_linked_to_a_shipped_file_is_relinked():
    # rsync lists only "a" when NEW links a new name "a" to an unchanged "b";
    # the engine's stream has "a" first, so "b" arrives as a link to it.
    members = [
        entry("app", tarfile.DIRTYPE),
        entry("app/a", data=b"same"),
        entry("app/b", tarfile.LNKTYPE, linkname="app/a"),
    ]
    stats, out, _ = run(members, ["a"], path="/app")
    assert out["app/a"].isreg()
    assert out["app/b"].islnk() and out["app/b"].linkname == "app/a"
    assert stats.content_bytes == 4
