"""A tree index: every entry under the compared path, with its content digest.

What a diff needs of OLD is not its bytes but this list, so an index kept in
the registry beside OLD lets a runner that never pulled OLD make the delta
(see ``methods.remote``). The format (docs/tree-index.md) is gzip'ed JSON
lines: a header object, then one array per entry in tree order (component by
component, names compared as bytes: the order the engine's archive walks
in), so the same tree always gives the same bytes and a reader can stream it.

Names are kept escaped as in the differ's log (``core.names``): any byte
sequence survives, and every name read back goes through ``safe_relative``.
"""

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import BinaryIO, NamedTuple

from difflayers.core.itemize import iter_lines
from difflayers.core.names import check_tree_path, decode_rsync_name, escaped_text, safe_relative
from difflayers.errors import BadIndex, UnsafePath

SCHEMA = "io.github.difflayers.tree-index"
VERSION = 1
MEDIA_TYPE = "application/vnd.difflayers.tree-index.v1+jsonl+gzip"
ARTIFACT_TYPE = "application/vnd.difflayers.tree-index.v1"

# Entry kinds: tar's, in words a person reads in the file.
FILE, DIRECTORY, SYMLINK, CHAR, BLOCK, FIFO = "f", "d", "l", "c", "b", "p"
KINDS = (FILE, DIRECTORY, SYMLINK, CHAR, BLOCK, FIFO)
# The kind letters of rsync's itemized log, so a plan made from an index
# reads like one made from the log.
RSYNC_KIND = {FILE: "f", DIRECTORY: "d", SYMLINK: "L", CHAR: "D", BLOCK: "D", FIFO: "S"}


class Pyc(NamedTuple):
    """What the byte-code rule needs of a timestamp-based `.pyc` (``core.bytecode``):
    the digest of its bytes with the embedded source mtime zeroed, and the
    source mtime and size its header names."""

    code: str
    source_mtime: int
    source_size: int

    def fresh_for(self, source: "Entry") -> bool:
        """Would Python use this byte-code beside ``source`` (``bytecode.Header.fresh_for``)?"""
        return self.source_mtime == source.mtime & 0xFFFFFFFF and self.source_size == source.size & 0xFFFFFFFF


class Entry(NamedTuple):
    """One entry. ``name`` is relative to the tree ('.' is its root); ``group``
    is the first name (tree order) of the hardlink group it belongs to, or ''."""

    name: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    mtime: int = 0
    digest: str = ""
    link: str = ""
    group: str = ""
    major: int = 0
    minor: int = 0
    xattrs: tuple = ()  # ((name, sha256 of the value), ...) sorted
    pyc: Pyc | None = None

    def same_as(self, other: "Entry") -> bool:
        """Equal in all a container sees but the mtime and the hardlink group
        (compared apart, as a whole group)."""
        return self._replace(mtime=0, group="", pyc=None) == other._replace(mtime=0, group="", pyc=None)


FIELDS = list(Entry._fields)
_DECODER = json.JSONDecoder()
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one, not one per entry


def tree_key(name: str) -> tuple:
    """Sort key of tree order: the root first, then component by component as bytes."""
    if name == ".":
        return ()
    return tuple(name.encode("utf-8", "surrogateescape").split(b"/"))


def paired(left: Iterable, right: Iterable, key, same=None) -> Iterator[tuple]:
    """(left's item or None, right's item or None), matched by ``key(item)``;
    both sides sorted by it (tree order, ``tree_key``). The one walk of two
    trees side by side that the differ, the index delta and the check make.
    ``same(a, b)``: a cheap test that two items match, tried before the keys
    (most names are on both sides), which are then made only where it fails."""
    end = object()
    left, right = iter(left), iter(right)
    a, b = next(left, end), next(right, end)
    while a is not end or b is not end:
        if a is not end and b is not end and same is not None and same(a, b):
            yield a, b
            a, b = next(left, end), next(right, end)
            continue
        ka = key(a) if a is not end else None
        kb = key(b) if b is not end else None
        if b is end or (a is not end and ka < kb):
            yield a, None
            a = next(left, end)
        elif a is end or kb < ka:
            yield None, b
            b = next(right, end)
        else:
            yield a, b
            a, b = next(left, end), next(right, end)


def header(path: str, image: dict | None = None) -> dict:
    """The first line. ``image`` says what is known of the image's layers:
    ``{"layers": N, "path_only_from": L}``, L the first layer from which every
    layer changes nothing outside ``path`` (None: not known). A diff against
    the index is whole only for layers from L up (see ``methods.remote``).
    ``"outside_as_layers": K``, where known: outside ``path`` the image's tree
    is that of its first K layers (its FROM image's), proven when it was made."""
    found = {"schema": SCHEMA, "version": VERSION, "path": path, "fields": FIELDS}
    if image is not None:
        found["image"] = image
    return found


# Text the JSON encoder writes as it is (printable ASCII but '"' and '\\'):
# such entries are formatted directly, the encoder's own bytes, at a third of its cost.
PLAIN = re.compile(r"[ !#-\[\]-~]*")


def encode(entry: Entry) -> bytes:
    name, kind, mode, uid, gid, size, mtime, digest, link, group, major, minor, xattrs, pyc = entry
    if (
        not xattrs
        and pyc is None
        and PLAIN.fullmatch(name)
        and PLAIN.fullmatch(link)
        and PLAIN.fullmatch(group)
    ):
        return (
            f'["{name}","{kind}",{mode},{uid},{gid},{size},{mtime},"{digest}","{link}","{group}",'
            f"{major},{minor},[],null]\n"
        ).encode("ascii")
    row = list(entry)
    row[0] = escaped_text(entry.name)
    row[9] = escaped_text(entry.group) if entry.group else ""
    row[12] = [list(pair) for pair in entry.xattrs]
    row[13] = list(entry.pyc) if entry.pyc else None
    return _ENCODER.encode(row).encode("ascii") + b"\n"


_NUMBER = rb"(0|[1-9][0-9]*)"
_TEXT = rb'"([ !#-\[\]-~]*)"'
# A row of plain text (``PLAIN``) and no xattrs or byte-code record, as most
# are: read by one match, at a fifth of the JSON decoder's cost; any other
# row, and any a check refuses, goes through the decoder (and its messages).
_PLAIN_ROW = re.compile(
    rb"\[" + _TEXT + rb',"([fdlcbp])",' + rb",".join([_NUMBER] * 5) + b","
    + b",".join([_TEXT] * 3) + b"," + _NUMBER + b"," + _NUMBER + rb",\[\],null\]\n?"
)  # fmt: skip


def plain_name(line: bytes | None) -> bytes | None:
    """A row's name as its bytes where nothing in it is escaped (no backslash:
    the first quote after the opening one ends it; the name is then its text,
    as ``PLAIN`` writes it), else None. Two rows with equal plain names are
    of one entry, undecoded."""
    if line is None or not line.startswith(b'["'):
        return None
    end = line.find(b'"', 2)
    return None if end < 0 or b"\\" in line[2:end] else line[2:end]


def plain_row(line: bytes):
    """The fields of a row of the quick form as bytes (a match), or None."""
    return _PLAIN_ROW.fullmatch(line)


def row_key(row) -> tuple:
    return row.key


class Row:
    """One index row: its fields as matched (``plain``: text of the quick
    form, in no hardlink group), else its decoded entry; ``key``: tree order."""

    __slots__ = ("fields", "plain", "key", "_line", "_entry")

    def __init__(self, line: bytes):
        self._line, self._entry = line, None
        match = plain_row(line)
        self.fields = match.groups() if match is not None else None
        self.plain = self.fields is not None and not self.fields[9]
        if self.fields is not None:
            name = self.fields[0]
            self.key = () if name == b"." else tuple(name.split(b"/"))
        else:
            self.key = tree_key(self.entry.name)

    @property
    def entry(self) -> Entry:
        if self._entry is None:
            self._entry = decode(self._line, 0)
        return self._entry

    @property
    def line(self) -> bytes:
        return self._line

    @property
    def name(self) -> str:
        """The entry's name (a plain row's is its text: nothing to unescape)."""
        return self.fields[0].decode("ascii") if self.fields is not None else self.entry.name


def rows(handle: BinaryIO, path: str) -> Iterator[bytes]:
    """The entry rows of an index this run wrote (``Writer`` checked their
    order), undecoded; the header is checked as ``read`` does."""
    try:
        with gzip.GzipFile(fileobj=handle, mode="rb") as lines:
            found = _checked_header(lines.readline())
            if found != path:
                raise BadIndex(f"the tree index is of {found}, not of {path}")
            yield from iter_lines(lines)  # a megabyte at a time: a read per row costs more
    except (OSError, EOFError) as exc:
        raise BadIndex(f"the tree index cannot be read: {exc}") from None


def decode(line: bytes, lineno: int) -> Entry:
    """One entry line, checked field by field: an index comes from a network."""
    plain = _PLAIN_ROW.fullmatch(line)
    if plain is not None:
        name, kind, mode, uid, gid, size, mtime, digest, link, group, major, minor = plain.groups()
        if kind != b"f" or (len(digest) == 71 and digest.startswith(b"sha256:")):
            try:
                return Entry(
                    safe_relative(name.decode("ascii")), kind.decode("ascii"), int(mode), int(uid), int(gid),
                    int(size), int(mtime), digest.decode("ascii"), link.decode("ascii"),
                    safe_relative(group.decode("ascii")) if group else "", int(major), int(minor), (), None,
                )  # fmt: skip
            except UnsafePath:
                pass  # refused below, with the decoder's message
    try:
        row = _DECODER.decode(line.decode("ascii"))  # an index is ASCII (names escaped)
        if not isinstance(row, list) or len(row) != len(FIELDS):
            raise ValueError(f"{len(row) if isinstance(row, list) else 'no'} fields")
        name = _name(row[0])
        kind = row[1]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        for number in (row[2], row[3], row[4], row[5], row[6], row[10], row[11]):
            if type(number) is not int or number < 0:  # bool is not int here
                raise ValueError("a numeric field is not a whole number >= 0")
        if type(row[7]) is not str or type(row[8]) is not str or type(row[9]) is not str:
            raise ValueError("digest, link or group is not a string")
        digest = row[7]
        if kind == FILE and not (digest.startswith("sha256:") and len(digest) == 71):
            raise ValueError(f"a file without a sha256 digest ({digest[:20]!r})")
        xattrs = tuple((str(k), str(v)) for k, v in row[12]) if row[12] else ()
        pyc = Pyc(str(row[13][0]), int(row[13][1]), int(row[13][2])) if row[13] else None
        return Entry(
            name, kind, row[2], row[3], row[4], row[5], row[6], digest, row[8],
            _name(row[9]) if row[9] else "", row[10], row[11], xattrs, pyc,
        )  # fmt: skip
    except (ValueError, TypeError, IndexError, UnsafePath) as exc:  # UnicodeDecodeError is a ValueError
        raise BadIndex(f"entry {lineno} of the tree index is not valid: {exc}") from None


def _name(escaped) -> str:
    if not isinstance(escaped, str):
        raise ValueError("a name is not a string")
    return safe_relative(decode_rsync_name(escaped.encode("ascii")))


class Writer:
    """Write an index, entry by entry, in tree order (checked as written)."""

    BATCH = 1 << 16  # bytes of lines handed to gzip at once: a call per line costs a third of the time

    def __init__(self, handle: BinaryIO, path: str, image: dict | None = None):
        # The header is a gzip member of its own: the image record is written
        # in it once the image is made (``restamped``) without compressing the
        # entries again (100,000 entries: 0.7 s).
        handle.write(_header_member(header(path, image)))
        # Level 6 (gzip's default): 2% larger than 9 at half the time, which
        # the differ's pass spends on every index it writes.
        self._gzip = gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=6, mtime=0, filename="")
        self._last = None
        self._lines: list = []
        self._pending = 0
        self.entries = 0

    def add(self, entry: Entry) -> None:
        key = tree_key(entry.name)
        if self._last is not None and key <= self._last:
            raise BadIndex(f"tree index entries out of order at {entry.name!r}")
        self._last = key
        line = encode(entry)
        self._lines.append(line)
        self._pending += len(line)
        if self._pending >= self.BATCH:
            self._flush()
        self.entries += 1

    def _flush(self) -> None:
        self._gzip.write(b"".join(self._lines))
        self._lines, self._pending = [], 0

    def close(self) -> None:
        self._flush()
        self._gzip.close()


def write(handle: BinaryIO, path: str, entries: Iterable[Entry], image: dict | None = None) -> int:
    """Write ``entries`` (any order: sorted here) as an index of ``path``; held
    ones (a ``Mapping``) are sorted by name and decoded one at a time."""
    writer = Writer(handle, path, image)
    if isinstance(entries, Mapping):
        ordered = (entries[name] for name in sorted(entries, key=tree_key))
    else:
        ordered = sorted(entries, key=lambda e: tree_key(e.name))
    for entry in ordered:
        writer.add(entry)
    writer.close()
    return writer.entries


def to_bytes(path: str, entries: Iterable[Entry], image: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    write(buffer, path, entries, image)
    return buffer.getvalue()


def image_of(data: bytes) -> dict:
    """What the header says of the image's layers (``header``); {} when nothing.
    ``layer_digests``, where present, are the digests of the layers of the
    manifest the index was attached to (``bound``): what binds it to its image."""
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as lines:
        found = json.loads(lines.readline())
    image = found.get("image") if isinstance(found, dict) else None
    if not isinstance(image, dict):
        return {}
    layers, start = image.get("layers"), image.get("path_only_from")
    valid_start = start is None or (isinstance(start, int) and 0 <= start <= layers)
    if not isinstance(layers, int) or not valid_start:
        raise BadIndex("the tree index's image record is not valid")
    record = {"layers": layers, "path_only_from": start}
    outside_as = image.get("outside_as_layers")
    if outside_as is not None:
        if not isinstance(outside_as, int) or isinstance(outside_as, bool) or not 0 < outside_as <= layers:
            raise BadIndex("the tree index's record of the image outside its path is not valid")
        record["outside_as_layers"] = outside_as
    digests = image.get("layer_digests")
    if digests is not None:
        if (
            not isinstance(digests, list)
            or len(digests) != layers
            or not all(isinstance(d, str) for d in digests)
        ):
            raise BadIndex("the tree index's layer digests are not valid")
        record["layer_digests"] = digests
    return record


def bound(data: bytes, layer_digests: list, image: dict | None = None) -> bytes:
    """The index with the digests of its image's layers in its header, so that
    an index found beside another image (or copied to one) is told apart: an
    index is trusted only for the layers it names. The layers' count is the
    manifest's; a record of other layers (an older kit's guess) is dropped.
    ``image``: the record to write (else the one the index has), in the same
    pass over the index."""
    image = dict(image) if image is not None else image_of(data)
    if image.get("layers") != len(layer_digests):
        image = {"layers": len(layer_digests), "path_only_from": None}
    return restamped(data, {**image, "layer_digests": list(layer_digests)})


def read(handle: BinaryIO, path: str | None = None) -> Iterator[Entry]:
    """Entries of an index, streamed; the header, order and names are checked.
    ``path``: the tree the caller compares, which the index must be of."""
    for _, entry in _lines(handle, path):
        yield entry


def _lines(handle: BinaryIO, path: str | None) -> Iterator[tuple]:
    """(encoded line, entry) of each entry, checked as ``read`` says."""
    try:
        with gzip.GzipFile(fileobj=handle, mode="rb") as lines:
            first = lines.readline()
            found = _checked_header(first)
            if path is not None and found != path:
                raise BadIndex(f"the tree index is of {found}, not of {path}")
            last = None
            for lineno, line in enumerate(lines, start=1):
                entry = decode(line, lineno)
                key = tree_key(entry.name)
                if last is not None and key <= last:
                    raise BadIndex(f"entry {lineno} of the tree index is out of order ({entry.name!r})")
                last = key
                yield line, entry
    except (OSError, EOFError) as exc:
        raise BadIndex(f"the tree index cannot be read: {exc}") from None


def _checked_header(line: bytes) -> str:
    try:
        data = json.loads(line)
    except ValueError:
        raise BadIndex("the tree index has no header line") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadIndex(
            f"not a tree index (schema {str(data.get('schema') if isinstance(data, dict) else '')!r})"
        )
    if data.get("version") != VERSION:
        raise BadIndex(f"tree index version {data.get('version')!r}; this kit reads version {VERSION}")
    if data.get("fields") != FIELDS:
        raise BadIndex("the tree index's fields are not the ones of its version")
    try:
        return check_tree_path(data.get("path") or "", "the tree index's path", volume_target=False)
    except Exception as exc:
        raise BadIndex(str(exc)) from None


def load(data: bytes, path: str | None = None) -> "Held":
    """An index held for look-ups by name (OLD's, by the index differ)."""
    held = Held(in_tree_order=True)
    for line, entry in _lines(io.BytesIO(data), path):
        held.lines[entry.name] = line
    return held


class Held(MutableMapping):
    """An index held as name -> Entry, each entry kept as its encoded line and
    decoded when looked up: under half the memory of Entry tuples (100,000
    entries: about 25 MB). ``in_tree_order``: iterated in tree order (as
    ``load`` fills it; an ``Overlay`` adds in layer order)."""

    def __init__(self, in_tree_order: bool = False):
        self.lines: dict = {}
        self.in_tree_order = in_tree_order

    def __getitem__(self, name: str) -> Entry:
        return decode(self.lines[name], 0)

    def __setitem__(self, name: str, entry: Entry) -> None:
        self.lines[name] = encode(entry)

    def __delitem__(self, name: str) -> None:
        del self.lines[name]

    def __contains__(self, name) -> bool:
        return name in self.lines

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def copy(self) -> "Held":
        held = Held(self.in_tree_order)
        held.lines = dict(self.lines)  # the lines themselves are shared
        return held

    def __eq__(self, other) -> bool:
        return dict(self.items()) == (dict(other.items()) if isinstance(other, Mapping) else other)

    __hash__ = None


class streamed:  # noqa: N801 (used like a function: a view, as dict.values())
    """An index's entries read anew each time they are iterated: a tree kept
    as its compressed bytes (a few bytes an entry) rather than as a dict."""

    def __init__(self, data: bytes, path: str | None = None):
        self._data, self._path = data, path

    def __iter__(self) -> Iterator[Entry]:
        return read(io.BytesIO(self._data), self._path)


def groups(entries: Mapping) -> dict:
    """Hardlink groups: leader -> the names in it, sorted."""
    found: dict = {}
    for entry in entries.values():
        if entry.group:
            found.setdefault(entry.group, []).append(entry.name)
    return {leader: sorted(names, key=tree_key) for leader, names in found.items()}


def header_of(data: bytes) -> dict:
    """An index's header line, as written (``header``)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as lines:
        return json.loads(lines.readline())


def from_rows(head: dict, lines: Iterable[bytes]) -> bytes:
    """An index of ``head`` and entry ``lines`` (encoded rows, in tree order,
    without their newline: as ``rows`` gives them), written as ``Writer``
    writes one: the header a gzip member of its own."""
    buffer = io.BytesIO()
    buffer.write(_header_member(head))
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0, filename="") as out:
        batch, pending = [], 0
        for line in lines:
            batch.append(line + b"\n")
            pending += len(line) + 1
            if pending >= Writer.BATCH:
                out.write(b"".join(batch))
                batch, pending = [], 0
        out.write(b"".join(batch))
    return buffer.getvalue()


def _header_member(found: dict) -> bytes:
    return gzip.compress(_ENCODER.encode(found).encode("ascii") + b"\n", compresslevel=6, mtime=0)


def restamped(data: bytes, image: dict) -> bytes:
    """The same index with ``image`` in its header (known once the image it
    describes is made: the processed image's layers). Where the header is a
    gzip member of its own (``Writer``), only that member is written anew."""
    first = zlib.decompressobj(wbits=31)  # one gzip member
    try:
        line = first.decompress(data, 1 << 16)
    except zlib.error:
        raise BadIndex("the tree index cannot be read") from None
    if first.eof and line.endswith(b"\n") and line.count(b"\n") == 1:
        found = json.loads(line)
        found["image"] = image
        return _header_member(found) + first.unused_data
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as lines:
        found = json.loads(lines.readline())
        found["image"] = image
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0, filename="") as out:
            out.write(json.dumps(found, separators=(",", ":")).encode("ascii") + b"\n")
            for line in lines:
                out.write(line)
    return buffer.getvalue()
