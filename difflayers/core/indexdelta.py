"""A tree index as the one before it plus what changed: kilobytes per revision.

NEW's index differs from OLD's by the entries the delta layer changes, so the
registry keeps it as OLD's index (its blobs, already there) and one small
*index delta*: NEW's rows that OLD lacks or has otherwise, and the names NEW
removed (docs/tree-index.md). A reader composes the base and the deltas in
order, line by line, and checks the result against the digest of its entries
recorded when it was made (``entries_digest``): a composition that does not
give the index the writer had is refused.

The format is that of the index (gzip'ed JSON lines, tree order): a header,
then each changed entry's row as the index has it, or ``[0,name]`` for a name
removed.
"""

import gzip
import hashlib
import io
import json
from collections.abc import Iterator

from difflayers.core import treeindex
from difflayers.core.names import decode_rsync_name, escaped_text, safe_relative
from difflayers.errors import BadIndex, UnsafePath

SCHEMA = "io.github.difflayers.tree-index-delta"
VERSION = 1
MEDIA_TYPE = "application/vnd.difflayers.tree-index-delta.v1+jsonl+gzip"
_DECODER = json.JSONDecoder()
# A removed name's row: ``[0,"name"]``, told from an entry's row (``["name",...``) by its first byte.
REMOVED = b"[0,"


def entries_digest(data: bytes) -> str:
    """sha256 of an index's entry lines (its header aside: the same entries with
    another record of the image's layers have the same digest)."""
    digest = hashlib.sha256()
    for line in _entry_lines(data):
        digest.update(line)
    return "sha256:" + digest.hexdigest()


def make(old: bytes, new: bytes, limit: int | None = None) -> bytes | None:
    """The delta from index ``old`` to index ``new`` (both of one path), with
    ``new``'s header record of its image; None where it would be larger than
    ``limit`` bytes (``estimate``)."""
    if limit is not None and estimate(old, new) > limit:
        return None
    head = _header(new)
    head.update(schema=SCHEMA, version=VERSION)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as out:
        out.write(json.dumps(head, separators=(",", ":")).encode("ascii") + b"\n")
        for before, after in treeindex.paired(_named(_entry_lines(old)), _named(_entry_lines(new)), _key):
            if after is None:
                out.write(REMOVED + json.dumps(escaped_text(before[0])).encode("ascii") + b"]\n")
            elif before is None or before[2] != after[2]:
                out.write(after[2])
    return buffer.getvalue()


def estimate(old: bytes, new: bytes) -> int:
    """About the size of the delta from ``old`` to ``new``: the compressed share
    of ``new``'s rows that ``old`` lacks (a set of lines: no name decoded). A
    fresh checkout changes every mtime, so its delta is the whole index, found
    here in a tenth of the time of making it (100,000 entries: 0.2 s, not 2.4 s)."""
    before = set(_entry_lines(old))
    changed = total = 0
    for line in _entry_lines(new):
        total += len(line)
        if line not in before:
            changed += len(line)
    return changed * len(new) // max(total, 1)


def compose(base: bytes, deltas: list, path: str) -> bytes:
    """The index ``base`` with ``deltas`` applied in order, with the last delta's
    record of the image; every part checked (schema, path, rows, order)."""
    data = base
    for number, delta in enumerate(deltas, start=1):
        data = _applied(data, delta, path, number)
    return data


def _applied(index: bytes, delta: bytes, path: str, number: int) -> bytes:
    head = _header(delta)
    if head.get("schema") != SCHEMA or head.get("version") != VERSION:
        raise BadIndex(f"part {number} of the tree index is not an index delta (version {VERSION})")
    if head.get("path") != path or head.get("fields") != treeindex.FIELDS:
        raise BadIndex(f"part {number} of the tree index is of another path or version")
    base_head = _header(index)
    if base_head.get("path") != path:
        raise BadIndex(f"the tree index's base is of {base_head.get('path')!r}, not of {path}")
    base_head.pop("image", None)
    if "image" in head:
        base_head["image"] = head["image"]
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as out:
        out.write(json.dumps(base_head, separators=(",", ":")).encode("ascii") + b"\n")
        changes = _named(_entry_lines(delta), number)
        for before, change in treeindex.paired(_named(_entry_lines(index)), changes, _key):
            if change is None:
                out.write(before[2])
            elif not change[2].startswith(REMOVED):
                out.write(change[2])
    return buffer.getvalue()


def _header(data: bytes) -> dict:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as lines:
            found = json.loads(lines.readline())
    except (OSError, EOFError, ValueError):
        raise BadIndex("a part of the tree index cannot be read") from None
    if not isinstance(found, dict):
        raise BadIndex("a part of the tree index has no header")
    return found


def _entry_lines(data: bytes) -> Iterator[bytes]:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as lines:
            lines.readline()
            yield from lines
    except (OSError, EOFError) as exc:
        raise BadIndex(f"a part of the tree index cannot be read: {exc}") from None


def _key(named: tuple) -> tuple:
    return named[1]


def _named(lines, part: int = 0) -> Iterator[tuple]:
    """(name, tree key, line) of each row, in tree order (checked)."""
    last = None
    for lineno, line in enumerate(lines, start=1):
        try:
            start = len(REMOVED) if line.startswith(REMOVED) else 1
            escaped, _ = _DECODER.raw_decode(line.decode("ascii"), start)
            if not isinstance(escaped, str):
                raise ValueError("a name is not a string")
            name = safe_relative(decode_rsync_name(escaped.encode("ascii")))
        except (ValueError, UnsafePath) as exc:
            raise BadIndex(f"row {lineno} of part {part} of the tree index is not valid: {exc}") from None
        key = treeindex.tree_key(name)
        if last is not None and key <= last:
            raise BadIndex(f"row {lineno} of part {part} of the tree index is out of order")
        last = key
        yield name, key, line
