"""Parse rsync's itemized output (``--out-format='%i %n'``, ``LC_ALL=C``).

Each line is 11 flag characters, one space, then the name exactly as rsync
printed it: leading and trailing spaces belong to the name, so lines are never
stripped or split on white space. See rsync(1), "--itemize-changes".
"""

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

from difflayers.core.names import decode_rsync_name, safe_relative
from difflayers.core.names import unescape as _unescape
from difflayers.errors import LogParseError, UnsafePath

FLAGS_WIDTH = 11
DELETING = b"*deleting  "
# Attribute letters in their columns (after the update and file type):
# checksum, size, time, perms, owner, group, atime/ctime, ACL, xattr.
ATTRIBUTE_COLUMNS = "cstpoguax"
# A time-only difference is not a change of content, type, mode, owner or
# link target, so it does not earn a place in the delta layer.
SIGNIFICANT_ATTRIBUTES = frozenset("cspogax")
# Update type (not '*', handled apart), file type, then nine attribute
# columns: a letter, '.', '+' (created), ' ' or '?' (unknown).
_FLAGS = re.compile(rb"[<>ch.][fdLDS][.+ ?cstpoguaxnbT]{9}")


class Item(NamedTuple):
    """One itemized line: what rsync would do to turn OLD's tree into NEW's.

    A named tuple, not a dataclass: a log can hold millions of lines.
    """

    update: str
    kind: str  # f, d, L, D, S; for deletions 'd' or '?' (rsync does not say)
    attributes: str
    path: str  # relative to the compared tree, '.' for its root

    @property
    def is_deletion(self) -> bool:
        return self.update == "*"

    @property
    def is_creation(self) -> bool:
        return self.attributes == "+" * 9

    @property
    def is_hardlink(self) -> bool:
        return self.update == "h"

    @property
    def is_significant(self) -> bool:
        """True when NEW's entry must be shipped (or OLD's removed)."""
        if self.update in "*<>ch":
            return True
        return any(
            flag == letter and letter in SIGNIFICANT_ATTRIBUTES
            for flag, letter in zip(self.attributes, ATTRIBUTE_COLUMNS)
        )


def parse_line(raw: bytes, lineno: int = 0) -> Item:
    """Parse one line (without its newline) into an ``Item``."""
    if len(raw) <= FLAGS_WIDTH + 1 or raw[FLAGS_WIDTH] != 0x20:
        raise LogParseError(f"line {lineno}: not an itemized change: {raw!r}")
    flags, name = raw[:FLAGS_WIDTH], raw[FLAGS_WIDTH + 1 :]
    decoded = decode_rsync_name(name)
    try:
        path = safe_relative(decoded)
    except UnsafePath as exc:
        raise UnsafePath(f"line {lineno}: {exc}") from None
    if flags.startswith(DELETING):
        return Item("*", "d" if decoded.endswith("/") else "?", "", path)
    if not _FLAGS.fullmatch(flags):
        raise LogParseError(f"line {lineno}: unknown change flags {flags.decode('ascii', 'replace')!r}")
    text = flags.decode("ascii")
    return Item(text[0], text[1], text[2:], path)


def iter_lines(stream: BinaryIO, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Yield lines without their trailing newline, keeping every other byte.

    Reads in large chunks: a per-line read is a large share of parsing time.
    """
    rest = b""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def parse(lines: Iterable[bytes]) -> Iterator[Item]:
    """Parse itemized lines lazily, so a million-line log needs little memory.

    The usual lines are handled inline, with names bound locally: this loop
    is the kit's hot path on large trees. Anything unusual (the root, a name
    leaving the tree, unknown flags) goes through ``parse_line``, which also
    explains errors.
    """
    unescape, new = _unescape, tuple.__new__
    width = FLAGS_WIDTH
    # A log holds few distinct flag strings: each is checked once, then its
    # fields come from this table (tuple.__new__ skips NamedTuple's own
    # constructor, a Python call per line).
    known: dict = {}
    for lineno, raw in enumerate(lines, start=1):
        if not raw:
            continue
        name = raw[width + 1 :]
        if raw[width : width + 1] == b" ":
            if b"\\" in name:
                name = unescape(name)
            path = name.decode("utf-8", "surrogateescape")
            is_dir = path[-1:] == "/"
            if is_dir:
                path = path[:-1]
            parts = path.split("/")
            if path and path[0] != "/" and "" not in parts and "." not in parts and ".." not in parts:
                flags = raw[:width]
                fields = known.get(flags)
                if fields is None:
                    fields = known[flags] = _flag_fields(flags)
                if fields is not None:
                    if fields[0] == "*":
                        fields = ("*", "d" if is_dir else "?", "")
                    yield new(Item, (fields[0], fields[1], fields[2], path))
                    continue
        yield parse_line(raw, lineno)


def _flag_fields(flags: bytes):
    """(update, kind, attributes) of a valid flag string, else None."""
    if flags.startswith(DELETING):
        return ("*", "?", "")
    if _FLAGS.fullmatch(flags):
        text = flags.decode("ascii")
        return (text[0], text[1], text[2:])
    return None
