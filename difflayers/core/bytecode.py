"""Python byte-code as a build leaves it: what a `.pyc` header says, and when two are equivalent.

A `.pyc` starts with 16 bytes (PEP 552): magic, flags, then either the
source's mtime and size (flags 0, "timestamp-based") or a hash of the source.
Python uses a timestamp-based file only while the `.py` beside it has that
mtime and size; otherwise it is "stale" and compiled again at every start.

A build without ``SOURCE_DATE_EPOCH`` writes every `.py` anew, so every
timestamp-based `.pyc` differs in bytes 8-11 alone. Such a pair is
equivalent: keeping OLD's `.pyc` with OLD's `.py` (same content, OLD's
mtime) is as fresh as NEW's pair, and ships nothing.
"""

import posixpath
from typing import NamedTuple

HEADER_SIZE = 16
MTIME_FIELD = slice(8, 12)
SUFFIX = ".pyc"
CACHE_DIR = "__pycache__"
# The fix in the build, printed beside the bytes it would save.
FIX = (
    "set SOURCE_DATE_EPOCH before pip install (pip then writes hash-based byte-code), "
    "or compile with `python -m compileall --invalidation-mode checked-hash`"
)


class Header(NamedTuple):
    magic: bytes
    flags: int
    source_mtime: int  # meaningful when timestamp-based
    source_size: int

    @property
    def timestamp_based(self) -> bool:
        return self.flags == 0

    def fresh_for(self, mtime: float, size: int) -> bool:
        """Would Python use this byte-code next to a source of this mtime and size?"""
        return (
            self.timestamp_based
            and self.source_mtime == int(mtime) & 0xFFFFFFFF
            and self.source_size == size & 0xFFFFFFFF
        )


def header(data: bytes) -> Header | None:
    """The header of a `.pyc`'s first bytes, or None if they cannot be one."""
    if len(data) < HEADER_SIZE or data[2:4] != b"\r\n":
        return None
    return Header(
        data[:4],
        int.from_bytes(data[4:8], "little"),
        int.from_bytes(data[8:12], "little"),
        int.from_bytes(data[12:16], "little"),
    )


def source_of(rel: str) -> str | None:
    """The `.py` a cached `.pyc` was compiled from: ``a/__pycache__/b.cpython-311[.opt-1].pyc``
    -> ``a/b.py``. Legacy `.pyc` files beside their source are not used by Python 3
    while the source exists, so they have none here."""
    if not rel.endswith(SUFFIX):  # most names: no split
        return None
    folder, name = posixpath.split(rel)
    if not name.endswith(SUFFIX) or posixpath.basename(folder) != CACHE_DIR:
        return None
    module = name[: -len(SUFFIX)].split(".")[0]
    if not module:
        return None
    return posixpath.join(posixpath.dirname(folder), module + ".py")


def differ_only_in_source_mtime(old: bytes, new: bytes) -> bool:
    """Both timestamp-based byte-code, same magic, flags, source size and code:
    only the embedded source mtime differs."""
    a, b = header(old), header(new)
    return (
        a is not None
        and b is not None
        and a.timestamp_based
        and b.timestamp_based
        and len(old) == len(new)
        and old[: MTIME_FIELD.start] == new[: MTIME_FIELD.start]
        and old[MTIME_FIELD.stop :] == new[MTIME_FIELD.stop :]
        and old[MTIME_FIELD] != new[MTIME_FIELD]
    )
