"""The tree index format, the overlay of layers, and the artifact's manifest: pure logic."""

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from difflayers.archives.treescan import Overlay
from difflayers.comparing.indexcheck import layer_differences
from difflayers.comparing.madeindex import made_index
from difflayers.core import indexdelta, treeindex
from difflayers.core.treeindex import Entry, Pyc
from difflayers.errors import BadIndex
from difflayers.methods import indexartifact

ODD = ["a\nb", "latin-\udce9", "back\\#012slash", " lead", "tab\tname", "caf\u00e9"]


def entries():
    digest = "sha256:" + "ab" * 32
    found = [Entry(".", "d", 0o755, 0, 0, mtime=1)]
    for i, name in enumerate(ODD):
        found.append(Entry(name, "f", 0o644, 1000, 1000, size=i, mtime=2, digest=digest))
    found.append(Entry("dir", "d", 0o1777, 0, 50))
    found.append(Entry("dir/link", "l", 0o777, 0, 0, link="../a\nb"))
    found.append(Entry("dir/dev", "c", 0o600, 0, 0, major=1, minor=3))
    found.append(Entry("dir/h1", "f", 0o644, 0, 0, size=3, digest=digest, group="dir/h1"))
    found.append(Entry("dir/h2", "f", 0o644, 0, 0, size=3, digest=digest, group="dir/h1"))
    found.append(
        Entry("dir/x", "f", 0o644, 0, 0, digest=digest, xattrs=(("security.capability", "00" * 32),))
    )
    found.append(
        Entry("dir/__pycache__/m.cpython-311.pyc", "f", 0o644, 0, 0, digest=digest, pyc=Pyc(digest, 5, 6))
    )
    return found


def test_round_trip_keeps_every_field_and_any_name():
    data = treeindex.to_bytes("/app", entries())
    assert treeindex.load(data, "/app") == {e.name: e for e in entries()}


def test_same_tree_same_bytes_in_tree_order():
    assert treeindex.to_bytes("/app", entries()) == treeindex.to_bytes("/app", reversed(entries()))
    names = list(treeindex.load(treeindex.to_bytes("/app", entries())))
    # Component by component: "dir/x" before "dir-y" would break plain string order.
    assert names == sorted(names, key=treeindex.tree_key) and names[0] == "."


def _lines(header: dict, *rows) -> bytes:
    text = json.dumps(header) + "\n" + "".join(json.dumps(row) + "\n" for row in rows)
    return gzip.compress(text.encode())


GOOD_HEADER = treeindex.header("/app")
GOOD_ROW = [".", "d", 493, 0, 0, 0, 0, "", "", "", 0, 0, [], None]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not gzip", "cannot be read"),
        (_lines({**GOOD_HEADER, "schema": "other"}), "not a tree index"),
        (_lines({**GOOD_HEADER, "version": 2}), "version 2"),
        (_lines({**GOOD_HEADER, "path": "/other"}), "of /other, not of /app"),
        (_lines({**GOOD_HEADER, "path": "/a/../b"}), "normalised"),
        (_lines(GOOD_HEADER, [*GOOD_ROW[:1], "z", *GOOD_ROW[2:]]), "unknown kind"),
        (_lines(GOOD_HEADER, ["../etc/passwd", *GOOD_ROW[1:]]), "not a plain path"),
        (_lines(GOOD_HEADER, ["/etc", *GOOD_ROW[1:]]), "absolute"),
        (_lines(GOOD_HEADER, ["a", "f", 420, 0, 0, 1, 0, "md5:x", "", "", 0, 0, [], None]), "sha256"),
        (_lines(GOOD_HEADER, ["a", "d", -1, 0, 0, 0, 0, "", "", "", 0, 0, [], None]), "whole number"),
        (_lines(GOOD_HEADER, ["b", *GOOD_ROW[1:]], ["a", *GOOD_ROW[1:]]), "out of order"),
        (_lines(GOOD_HEADER, GOOD_ROW[:5]), "fields"),
    ],
)
def test_a_bad_index_is_refused_with_the_reason(data, message):
    with pytest.raises(BadIndex, match=message):
        treeindex.load(data, "/app")


def test_the_image_record_is_restamped_and_checked():
    data = treeindex.restamped(treeindex.to_bytes("/app", entries()), {"layers": 3, "path_only_from": 1})
    assert treeindex.image_of(data) == {"layers": 3, "path_only_from": 1}
    assert treeindex.load(data, "/app") == {e.name: e for e in entries()}
    bad = treeindex.restamped(data, {"layers": 1, "path_only_from": 5})
    with pytest.raises(BadIndex):
        treeindex.image_of(bad)


def _layer(*members) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, *rest in members:
            info = tarfile.TarInfo(name)
            if kind == "d":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "h":
                info.type, info.linkname = tarfile.LNKTYPE, rest[0]
                tar.addfile(info)
            else:
                data = rest[0] if rest else b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r|")


def test_the_whole_images_root_is_the_engines_not_a_layers():
    """A layer's "./" (debootstrap's says 0700) is not applied: the engine keeps
    the root it made, as BuildKit's mounts show it; a layer need not list it."""
    for first in ([("./", "d")], []):
        overlay = Overlay("/")
        overlay.apply(_layer(*first, ("etc", "d"), ("etc/os", "f", b"x")))
        root = overlay.result()["."]
        assert (root.kind, root.mode, root.uid, root.gid) == ("d", 0o755, 0, 0)
        assert sorted(overlay.result()) == [".", "etc", "etc/os"]


def test_layers_overlay_with_whiteouts_opaque_directories_and_hardlinks():
    overlay = Overlay("/srv/app")
    overlay.apply(_layer(("etc", "d"), ("etc/os", "f", b"x"), ("srv", "d"), ("srv/app", "d")))
    assert overlay.last_outside == 1
    overlay.apply(
        _layer(
            ("srv/app", "d"),
            ("srv/app/keep", "f", b"keep"),
            ("srv/app/d", "d"),
            ("srv/app/d/old", "f", b"old"),
            ("srv/app/gone", "f", b"gone"),
            ("srv/app/a", "f", b"linked"),
            ("srv/app/b", "h", "srv/app/a"),
        )
    )
    overlay.apply(
        _layer(
            ("srv/app/.wh.gone", "f"),
            ("srv/app/d", "d"),
            ("srv/app/d/.wh..wh..opq", "f"),
            ("srv/app/d/new", "f", b"new"),
            ("srv/app/a", "f", b"replaced"),
        )
    )
    assert overlay.last_outside == 1  # layers 2 and 3 touch only the tree
    got = overlay.result()
    assert sorted(got) == [".", "a", "b", "d", "d/new", "keep"]
    assert got["b"].size == len("linked") and not got["b"].group  # its partner was replaced
    assert got["keep"].digest == "sha256:" + hashlib.sha256(b"keep").hexdigest() and got["d/new"].size == 3
    overlay.apply(_layer(("srv/.wh.app", "f")))
    assert overlay.result() == {} and overlay.last_outside == 4


def test_hardlink_groups_survive_the_overlay():
    overlay = Overlay("/app")
    overlay.apply(
        _layer(("app", "d"), ("app/a", "f", b"x"), ("app/b", "h", "app/a"), ("app/c", "h", "app/a"))
    )
    got = overlay.result()
    assert got["a"].group == got["b"].group == got["c"].group == "a"


def test_the_artifact_manifest_is_deterministic_and_refers_to_its_image():
    subject = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "1" * 64,
        "size": 9,
    }
    index = treeindex.to_bytes("/app", entries())
    body = indexartifact.manifest_for(index, subject, "/app")
    assert body == indexartifact.manifest_for(index, subject, "/app")
    manifest = json.loads(body)
    assert manifest["subject"] == subject and manifest["artifactType"] == treeindex.ARTIFACT_TYPE
    assert manifest["layers"][0]["mediaType"] == treeindex.MEDIA_TYPE
    assert indexartifact.referrers_tag(subject["digest"]) == "sha256-" + "1" * 64


def _layer_file(tmp_path, *members):
    path = tmp_path / "layer.tar"
    with _layer(*members) as tar:
        path.write_bytes(tar.fileobj.fileobj.getvalue())
    return path


class _Plan:
    kept_from_old: tuple = ()


def test_a_layer_streamed_past_an_index_agrees_with_the_held_overlay(tmp_path):
    """``indexcheck.layer_differences`` streams OLD's index past the layer; the
    held ``Overlay`` applies the same layer: both give the same tree, and a NEW
    that differs is caught, whatever way (content, whiteout, hardlink, a
    directory replaced by a file)."""
    below = Overlay("/app")
    below.apply(
        _layer(
            ("app", "d"),
            ("app/keep", "f", b"keep"),
            ("app/d", "d"),
            ("app/d/old", "f", b"old"),
            ("app/e", "d"),
            ("app/e/x", "f", b"x"),
            ("app/gone", "f", b"gone"),
            ("app/a", "f", b"linked"),
            ("app/b", "h", "app/a"),
        )
    )
    old = below.result()
    members = (
        ("app/.wh.gone", "f"),
        ("app/d", "d"),
        ("app/d/.wh..wh..opq", "f"),
        ("app/d/new", "f", b"new"),
        ("app/e", "f", b"a file where a directory was"),
        ("app/a", "f", b"replaced"),
        ("app/n1", "f", b"pair"),
        ("app/n2", "h", "app/n1"),
    )
    layer = _layer_file(tmp_path, *members)
    on_top = Overlay("/app")
    on_top.entries, on_top._inode = below.entries.copy(), dict(below._inode)
    on_top.apply(_layer(*members))
    new = on_top.result()
    assert sorted(new) == [".", "a", "b", "d", "d/new", "e", "keep", "n1", "n2"]
    streamed = treeindex.read(io.BytesIO(treeindex.to_bytes("/app", old.values())), "/app")
    assert layer_differences(streamed, layer, new, _Plan, "/app") == []

    def checked(against: dict) -> list:
        """The differences found with both sides held, and with both sides
        as index bytes (rows alike but for the mtime left undecoded): the same."""
        held = layer_differences(old, layer, against, _Plan, "/app")
        as_rows = layer_differences(_index(old), layer, _index(against), _Plan, "/app")
        assert as_rows == held
        return held

    def wrong(name, **fields):
        changed = dict(new)
        changed[name] = changed[name]._replace(**fields)
        return checked(changed)

    assert checked(new) == []
    assert wrong("keep", mtime=12345) == []
    assert wrong("keep", digest="sha256:" + "0" * 64) == ["differs in digest: keep"]
    assert wrong("keep", mode=0o600) == ["differs in mode: keep"]
    assert wrong("d", uid=7) == ["differs in uid: d"]
    assert checked({**new, "gone": old["gone"]}) == ["missing: gone"]
    assert checked({**new, "e/x": old["e/x"]}) == ["missing: e/x"]
    assert checked({n: e for n, e in new.items() if n != "keep"}) == ["not in NEW: keep"]
    unlinked = {**new, "n2": new["n2"]._replace(group=""), "n1": new["n1"]._replace(group="")}
    assert checked(unlinked) == ["hardlinks differ: n1", "hardlinks differ: n2"]
    relinked = {**new, "a": new["a"]._replace(group="a"), "b": new["b"]._replace(group="a")}
    assert checked(relinked) == ["hardlinks differ: a", "hardlinks differ: b"]


def test_rows_alike_but_for_the_mtime_are_not_decoded_by_the_check(tmp_path, monkeypatch):
    """A fresh checkout: every mtime new, one file changed. The layer holds the
    file and the directories down to it (the root among them, whose contents it
    keeps): the check decodes those rows only, and still finds a NEW that differs."""
    below = Overlay("/app")
    files = [(f"app/d{d}/f{f}", "f", b"%d" % f) for d in range(3) for f in range(20)]
    below.apply(_layer(("app", "d"), *[(f"app/d{d}", "d") for d in range(3)], *files))
    old = dict(below.result().items())  # decoded here, once
    layer = _layer_file(tmp_path, ("app", "d"), ("app/d1", "d"), ("app/d1/f7", "f", b"changed"))
    new = {name: entry._replace(mtime=entry.mtime + 60) for name, entry in old.items()}
    new["d1/f7"] = new["d1/f7"]._replace(digest=treeindex_digest(b"changed"), size=7)
    decoded = []
    real = treeindex.decode
    old_rows, new_rows = _index(old), _index(new)
    monkeypatch.setattr(treeindex, "decode", lambda line, n: decoded.append(line) or real(line, n))
    assert layer_differences(old_rows, layer, new_rows, _Plan, "/app") == []
    # ".", "d1" and "d1/f7" of each index, and the layer's three (held as
    # lines, decoded where looked up: the kinds, then applied).
    assert len(decoded) == 2 * 3 + 2 * 3
    new["d2/f3"] = new["d2/f3"]._replace(mode=0o600)
    assert layer_differences(_index(old), layer, _index(new), _Plan, "/app") == ["differs in mode: d2/f3"]


def test_the_index_pushed_is_the_image_mades_not_news_as_built(tmp_path):
    """The image made is OLD + the layer: what the layer does not ship stays
    OLD's, mtime and all. Its index (``made_index``) is exactly the tree an
    engine makes of them (the held ``Overlay``), though NEW as built has a new
    mtime on every entry; and it differs from OLD's index by the layer's
    entries only, so it is pushed as a delta of a few rows."""
    files = [(f"app/d{d}/f{f}", "f", b"%d" % f) for d in range(3) for f in range(200)]
    members = (("app", "d"), *[(f"app/d{d}", "d") for d in range(3)], *files, ("app/gone", "f", b"x"))
    below = Overlay("/app")
    below.apply(_layer(*members))
    old = dict(below.result().items())
    shipped = (("app", "d"), ("app/d1", "d"), ("app/d1/f7", "f", b"changed"), ("app/d2/new", "f", b"new"))
    layer = _layer_file(tmp_path, *shipped, ("app/.wh.gone", "f"))
    made = Overlay("/app")
    made.entries, made._inode = below.entries.copy(), dict(below._inode)
    made.apply(_layer(*shipped, ("app/.wh.gone", "f")))
    truth = dict(made.result().items())
    as_built = {
        n: e if n in {".", "d1", "d1/f7", "d2/new"} else e._replace(mtime=99) for n, e in truth.items()
    }
    index = made_index(_index(old), _index(as_built), layer, "/app")
    assert treeindex.load(index, "/app") == truth
    assert treeindex.header_of(index)["path"] == "/app"
    assert len(indexdelta.make(_index(old), index)) < len(indexdelta.make(_index(old), _index(as_built))) / 5
    assert layer_differences(_index(old), layer, index, _Plan, "/app") == []


def treeindex_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _index(entries: dict) -> bytes:
    return treeindex.to_bytes("/app", sorted(entries.values(), key=lambda e: treeindex.tree_key(e.name)))


def test_the_record_of_the_image_outside_its_path_is_checked():
    data = treeindex.to_bytes(
        "/app", entries(), {"layers": 3, "path_only_from": None, "outside_as_layers": 1}
    )
    assert treeindex.image_of(data)["outside_as_layers"] == 1
    assert treeindex.image_of(treeindex.bound(data, ["sha256:" + "1" * 64] * 3))["outside_as_layers"] == 1
    for wrong in (0, 4, "1", True):
        bad = treeindex.restamped(data, {"layers": 3, "path_only_from": None, "outside_as_layers": wrong})
        with pytest.raises(BadIndex):
            treeindex.image_of(bad)


PLAIN = [
    Entry("app/main.py", "f", 0o644, 0, 0, size=5, mtime=7, digest="sha256:" + "cd" * 32),
    Entry("with space, comma", "l", 0o777, 1, 2, link="../x y"),
    Entry("d/h2", "f", 0o600, 0, 0, size=3, digest="sha256:" + "ef" * 32, group="d/h1"),
    Entry("dev", "b", 0o600, 0, 0, major=8, minor=1),
]


@pytest.mark.parametrize("entry", PLAIN + entries(), ids=lambda e: repr(e.name))
def test_rows_read_by_the_plain_reader_equal_the_decoders(entry):
    line = treeindex.encode(entry)
    plain = treeindex._PLAIN_ROW.fullmatch(line) is not None
    # Plain rows take the quick reader, the others the JSON decoder: both give the entry.
    if entry in PLAIN:
        assert plain
    if entry.xattrs or entry.pyc or "\n" in entry.name + entry.link:
        assert not plain
    assert treeindex.decode(line, 1) == entry


@pytest.mark.parametrize(
    "row, message",
    [
        (["../etc/passwd", *GOOD_ROW[1:]], "not a plain path"),
        (["/etc", *GOOD_ROW[1:]], "absolute"),
        (["a", "f", 420, 0, 0, 1, 0, "md5:x", "", "", 0, 0, [], None], "sha256"),
        (["a", "f", 420, 0, 0, 1, 0, "", "", "", 0, 0, [], None], "sha256"),
        (["a", "d", 493, 0, 0, 0, 0, "", "", "../x", 0, 0, [], None], "not a plain path"),
    ],
)
def test_a_compact_bad_row_is_refused_as_any_other(row, message):
    line = json.dumps(row, separators=(",", ":")).encode() + b"\n"
    with pytest.raises(BadIndex, match=message):
        treeindex.decode(line, 1)


def test_a_number_json_does_not_allow_is_refused():
    with pytest.raises(BadIndex, match="not valid"):
        treeindex.decode(b'[".","d",0493,0,0,0,0,"","","",0,0,[],null]\n', 1)


def test_paired_walks_two_sorted_sides_by_key_once():
    from difflayers.core.treeindex import paired, tree_key

    left, right = ["a", "a/b", "c"], ["a", "a/c", "a.b", "c"]  # tree order: a/c before a.b
    got = list(paired(left, right, tree_key))
    assert got == [("a", "a"), ("a/b", None), (None, "a/c"), (None, "a.b"), ("c", "c")]
    keyed = []
    counted = lambda name: keyed.append(name) or tree_key(name)  # noqa: E731
    assert list(paired(left, right, counted, same=str.__eq__)) == got
    assert "a" not in keyed  # equal names paired without their keys
