"""Trees compared without reading the files they share (``comparing.sharedfiles``)."""

import os

from difflayers.archives.dirindex import SAME_FILE, DirTree
from difflayers.comparing.indexcheck import tree_differences
from difflayers.comparing.sharedfiles import compared_entries


def test_a_file_both_trees_share_is_not_read_and_the_rest_is(tmp_path, monkeypatch):
    base, new = tmp_path / "base", tmp_path / "new"
    for root in (base, new):
        (root / "etc").mkdir(parents=True)
        (root / "app").mkdir()
    (base / "lib.so").write_bytes(b"shared" * 1000)
    os.link(base / "lib.so", new / "lib.so")  # one file, as a shared layer's in two mounts
    for root in (base, new):  # equal content, a file each: read, and equal
        (root / "etc" / "copied").write_bytes(b"same bytes")
    (base / "etc" / "changed").write_bytes(b"AAAA")
    (new / "etc" / "changed").write_bytes(b"BBBB")
    stamp = os.stat(base / "etc" / "changed").st_mtime_ns
    os.utime(new / "etc" / "changed", ns=(stamp, stamp))  # same size and mtime, other bytes
    (new / "app" / "skipped").write_bytes(b"not compared")
    read = []
    hashed = DirTree.hashed
    monkeypatch.setattr(
        DirTree, "hashed", lambda self, entry, *rest: read.append(entry.name) or hashed(self, entry, *rest)
    )

    found_base, found_new = compared_entries([str(base), str(new)], "app")

    assert "lib.so" not in read
    assert found_base["lib.so"].digest == found_new["lib.so"].digest
    assert found_new["lib.so"].digest.startswith(SAME_FILE)
    assert sorted(read) == ["etc/changed", "etc/changed", "etc/copied", "etc/copied"]
    assert found_base["etc/copied"].digest == found_new["etc/copied"].digest
    assert found_base["etc/copied"].digest.startswith("sha256:")
    assert "app/skipped" not in found_new
    assert tree_differences(found_base, found_new) == ["differs in digest: etc/changed"]


def test_byte_code_is_read_even_when_shared(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for root in (first, second):
        (root / "__pycache__").mkdir(parents=True)
    pyc = "__pycache__/m.cpython-311.pyc"
    (first / pyc).write_bytes(b"\xa7\r\r\n" + bytes(12) + b"code")
    os.link(first / pyc, second / pyc)

    found = compared_entries([str(first), str(second)], None)

    assert all(tree[pyc].digest.startswith("sha256:") for tree in found)


def test_the_pass_names_old_where_new_is_compared_with_old_itself(tmp_path, monkeypatch):
    """No FROM image tagged: OLD is mounted as the base, and what only it has is said to be OLD's."""
    from difflayers.comparing import indexpass, inpass

    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        (root / "etc").mkdir(parents=True)
        (root / "app").mkdir()
    (old / "etc" / "old.conf").write_text("left by OLD's build\n")
    monkeypatch.setattr(inpass, "BASE_ROOT", str(old))
    monkeypatch.setattr(inpass, "ROOTS", {"old": str(tmp_path / "not-mounted"), "new": str(new)})

    assert indexpass.outside_base("/app", base_is_old=True)["shown"] == ["only in OLD: etc/old.conf"]
    said = indexpass.outside_base("/app")["shown"]
    assert said == ["only in the image NEW was built FROM: etc/old.conf"]
