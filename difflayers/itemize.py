"""Parse rsync's itemized output (``--out-format='%i %n'``, ``LC_ALL=C``).

Each line is 11 flag characters, one space, then the name exactly as rsync
printed it: leading and trailing spaces belong to the name, so lines are never
stripped or split on white space. See rsync(1), "--itemize-changes".
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .errors import LogParseError, UnsafePath
from .names import decode_rsync_name, safe_relative

FLAGS_WIDTH = 11
UPDATE_TYPES = "<>ch.*"
FILE_TYPES = "fdLDS"
DELETING = b"*deleting  "
# Attribute letters in their columns (after the update and file type):
# checksum, size, time, perms, owner, group, atime/ctime, ACL, xattr.
ATTRIBUTE_COLUMNS = "cstpoguax"
# A time-only difference is not a change of content, type, mode, owner or
# link target, so it does not earn a place in the delta layer.
SIGNIFICANT_ATTRIBUTES = frozenset("cspogax")


@dataclass(frozen=True)
class Item:
    """One itemized line: what rsync would do to turn OLD's tree into NEW's."""

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
    if len(raw) <= FLAGS_WIDTH + 1 or raw[FLAGS_WIDTH : FLAGS_WIDTH + 1] != b" ":
        raise LogParseError(f"line {lineno}: not an itemized change: {raw!r}")
    flags, name = raw[:FLAGS_WIDTH], raw[FLAGS_WIDTH + 1 :]
    decoded = decode_rsync_name(name)
    try:
        path = safe_relative(decoded)
    except UnsafePath as exc:
        raise UnsafePath(f"line {lineno}: {exc}") from None
    if flags.startswith(DELETING):
        kind = "d" if decoded.endswith("/") else "?"
        return Item("*", kind, "", path)
    text = flags.decode("ascii", "replace")
    update, kind, attributes = text[0], text[1], text[2:]
    if update not in UPDATE_TYPES or update == "*" or kind not in FILE_TYPES:
        raise LogParseError(f"line {lineno}: unknown change flags {text!r}")
    if not all(a in ".+ ?nbT" + ATTRIBUTE_COLUMNS for a in attributes):
        raise LogParseError(f"line {lineno}: unknown attribute flags {text!r}")
    return Item(update, kind, attributes, path)


def iter_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Yield lines without their trailing newline, keeping every other byte."""
    for raw in stream:
        yield raw[:-1] if raw.endswith(b"\n") else raw


def parse(lines: Iterable[bytes]) -> Iterator[Item]:
    """Parse itemized lines lazily, so a million-line log needs little memory."""
    for lineno, raw in enumerate(lines, start=1):
        if raw:
            yield parse_line(raw, lineno)
