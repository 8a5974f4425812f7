"""Index deltas: an index kept as the one before it plus what changed (pure logic)."""

import gzip
import random
import zlib

import pytest

from difflayers.core import indexdelta, treeindex
from difflayers.core.treeindex import Entry
from difflayers.errors import BadIndex

ODD = ['quote",comma', "a\nb", "latin-\udce9", "back\\#012slash", "d/x", "d-y", "d/z"]


def tree(rng: random.Random, names) -> dict:
    found = {".": Entry(".", "d", 0o755, 0, 0), "d": Entry("d", "d", 0o755, 0, 0)}
    for name in names:
        digest = "sha256:" + rng.randbytes(32).hex()
        found[name] = Entry(name, "f", 0o644, 0, 0, size=rng.randrange(100), mtime=1, digest=digest)
    return found


def index(entries: dict, layers: int = 1) -> bytes:
    image = {
        "layers": layers,
        "path_only_from": None,
        "layer_digests": [f"sha256:{i:064x}" for i in range(layers)],
    }
    return treeindex.to_bytes("/app", entries.values(), image)


def test_a_chain_of_deltas_composes_to_each_revision():
    rng = random.Random(7)
    names = ODD + [f"f{i:03}" for i in range(200)]
    revisions = [tree(rng, names)]
    for n in range(5):
        entries = dict(revisions[-1])
        for name in rng.sample(sorted(set(entries) - {".", "d"}), 5):
            del entries[name]  # removed
        for name in rng.sample(sorted(entries), 3):
            entries[name] = entries[name]._replace(mode=0o600, mtime=n)  # changed
        entries.update(tree(rng, [f"new-{n}-{i}" for i in range(4)]))  # added
        entries.pop(".", None), entries.pop("d", None)
        revisions.append({**tree(rng, []), **entries})
    blobs = [index(entries, layers=number + 1) for number, entries in enumerate(revisions)]
    deltas = [indexdelta.make(old, new) for old, new in zip(blobs, blobs[1:])]
    for number in range(len(blobs)):
        composed = indexdelta.compose(blobs[0], deltas[:number], "/app")
        assert treeindex.load(composed, "/app") == revisions[number]
        assert indexdelta.entries_digest(composed) == indexdelta.entries_digest(blobs[number])
        assert treeindex.image_of(composed) == treeindex.image_of(blobs[number])  # the last record wins
    assert all(len(delta) < len(blobs[0]) / 4 for delta in deltas)


def test_a_name_removed_then_added_or_changed_then_removed_takes_its_latest_row():
    """The deltas are merged as they stream, the latest row of a name winning:
    the same as applying each in turn."""
    rng = random.Random(2)
    first = tree(rng, ["a", "b", "c"])
    second = {name: entry for name, entry in first.items() if name != "a"}
    second["b"] = first["b"]._replace(mode=0o600)
    third = {name: entry for name, entry in second.items() if name != "b"}
    third.update(tree(rng, ["a"]))
    third["c"] = first["c"]._replace(uid=7)
    blobs = [index(entries, layers) for layers, entries in enumerate([first, second, third], start=1)]
    deltas = [indexdelta.make(old, new) for old, new in zip(blobs, blobs[1:])]
    composed = indexdelta.compose(blobs[0], deltas, "/app")
    assert treeindex.load(composed, "/app") == third
    assert treeindex.image_of(composed) == treeindex.image_of(blobs[2])


def test_the_entries_digest_ignores_the_header_only():
    rng = random.Random(1)
    entries = tree(rng, ["a", "b"])
    assert indexdelta.entries_digest(index(entries, 1)) == indexdelta.entries_digest(index(entries, 2))
    changed = {**entries, "a": entries["a"]._replace(uid=1)}
    assert indexdelta.entries_digest(index(changed)) != indexdelta.entries_digest(index(entries))


def _delta(*rows: bytes, path="/app") -> bytes:
    head = b'{"schema":"io.github.difflayers.tree-index-delta","version":1,"path":"%s","fields":%s}\n' % (
        path.encode(),
        str(treeindex.FIELDS).replace("'", '"').encode(),
    )
    return gzip.compress(head + b"".join(row + b"\n" for row in rows), mtime=0)


@pytest.mark.parametrize(
    "delta, says",
    [
        (_delta(b'[0,"b"]', b'[0,"a"]'), "out of order"),
        (_delta(b'[0,"../x"]'), "not valid"),
        (_delta(path="/srv"), "another path"),
        (gzip.compress(b'{"schema":"io.github.difflayers.tree-index","version":1}\n'), "not an index delta"),
        (b"not gzip", "cannot be read"),
    ],
)
def test_a_bad_delta_is_refused(delta, says):
    base = index(tree(random.Random(2), ["a", "b"]))
    with pytest.raises(BadIndex, match=says):
        indexdelta.compose(base, [delta], "/app")


def test_every_odd_name_changed_removed_or_added_composes_exactly():
    """``make`` passes equal rows by their bytes and pairs changed rows of plain
    names by theirs; names with escapes are decoded: each kind composes back."""
    rng = random.Random(11)
    old = tree(rng, ODD + ["plain"])
    new = {name: entry._replace(mtime=2) for name, entry in old.items()}
    del new["a\nb"]
    new.update(tree(rng, ['new"quote', "new-\udcff"]))
    new.update({".": old["."], "d": old["d"]})
    old_blob, new_blob = index(old), index(new)
    composed = indexdelta.compose(old_blob, [indexdelta.make(old_blob, new_blob)], "/app")
    assert treeindex.load(composed, "/app") == treeindex.load(new_blob, "/app")


def test_rows_out_of_order_where_they_differ_are_refused():
    rng = random.Random(5)
    old_blob = index(tree(rng, ["a", "b"]))
    lines = gzip.decompress(index(tree(rng, ["a", "c", "b"]))).split(b"\n")
    swapped = b"\n".join([lines[0], *sorted(lines[1:-1], reverse=True)]) + b"\n"
    with pytest.raises(BadIndex, match="out of order"):
        indexdelta.make(old_blob, gzip.compress(swapped))


def test_a_delta_row_that_is_not_an_entry_is_caught_when_the_index_is_read():
    base = index(tree(random.Random(3), ["a", "b"]))
    composed = indexdelta.compose(base, [_delta(b'["a","f"]')], "/app")
    with pytest.raises(BadIndex):
        treeindex.load(composed, "/app")


def test_a_delta_larger_than_asked_is_not_made():
    """A fresh checkout changes every mtime: the delta would be the whole index,
    and ``make`` gives up once it has grown past the limit, long before its end."""
    rng = random.Random(3)
    old = tree(rng, [f"f{i:04}" for i in range(2000)])
    few = {**old, "f0007": old["f0007"]._replace(mode=0o600)}
    fresh = {name: entry._replace(mtime=9) for name, entry in old.items()}
    old_blob, few_blob, fresh_blob = index(old), index(few), index(fresh)
    delta = indexdelta.make(old_blob, few_blob)
    assert indexdelta.make(old_blob, few_blob, limit=len(old_blob) // 2) == delta
    whole = indexdelta.make(old_blob, fresh_blob)
    assert len(whole) > len(old_blob) / 2
    assert indexdelta.make(old_blob, fresh_blob, limit=len(old_blob) // 2) is None
    assert indexdelta.make(old_blob, fresh_blob, limit=len(whole)) == whole


def test_the_image_record_is_written_anew_without_the_entries():
    """An index the kit writes keeps its header as a gzip member of its own:
    restamping writes that member only (the entries' bytes are kept as they
    are); an index of one member (older kits) is restamped whole. Both read
    back with the new record and the same entries."""
    rng = random.Random(5)
    entries = tree(rng, ODD + ["f1", "f2"])
    data = index(entries, layers=1)
    record = {"layers": 2, "path_only_from": 1, "layer_digests": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]}
    restamped = treeindex.restamped(data, record)
    first = zlib.decompressobj(wbits=31)
    assert first.decompress(data).count(b"\n") == 1  # the header alone
    entries_member = first.unused_data
    assert len(entries_member) > len(data) / 2 and restamped.endswith(entries_member)
    one_member = gzip.compress(gzip.decompress(data), mtime=0)
    for blob in (restamped, treeindex.restamped(one_member, record)):
        assert treeindex.image_of(blob) == record
        assert treeindex.load(blob, "/app") == entries
        assert indexdelta.entries_digest(blob) == indexdelta.entries_digest(data)
