"""File names as data: rsync's escaping, and paths kept inside the compared tree.

Names are ``str`` decoded from bytes with ``surrogateescape``, as ``os`` does on
Linux, so any byte sequence survives a round trip exactly.
"""

import posixpath
import re

from difflayers.errors import UnsafePath

_ESCAPE = re.compile(rb"\\#([0-7]{3})")
# rsync writes \#ooo for bytes it will not print; a backslash is itself
# escaped only where it would start such a sequence, so encoding reverses
# decoding exactly when we escape the same set.
_NEEDS_ESCAPE = re.compile(rb"[\x00-\x1f\x7f-\xff]|\\(?=#[0-7]{3})")


def decode_rsync_name(raw: bytes) -> str:
    r"""Turn a name as rsync printed it (``\#ooo`` escapes) back into a name.

    >>> decode_rsync_name(rb"a\#012b")
    'a\nb'
    """
    if b"\\#" in raw:
        raw = unescape(raw)
    return raw.decode("utf-8", "surrogateescape")


def _octal_byte(match) -> bytes:
    return bytes([int(match.group(1), 8)])


def unescape(raw: bytes) -> bytes:
    r"""rsync's ``\#ooo`` escapes back to the bytes they stand for."""
    return _ESCAPE.sub(_octal_byte, raw)


def encode_rsync_name(name: str) -> bytes:
    r"""Escape a name the way rsync does, so one line always holds one name.

    Tab is escaped too (rsync prints it raw), which keeps lists line-safe;
    ``decode_rsync_name`` reads both forms.

    >>> encode_rsync_name("a\nb")
    b'a\\#012b'
    """
    raw = name.encode("utf-8", "surrogateescape")
    return _NEEDS_ESCAPE.sub(lambda m: b"\\#%03o" % m.group(0)[0], raw)


def safe_relative(name: str) -> str:
    """Normalise a name relative to the compared tree, refusing any escape.

    ``'.'`` stands for the tree's root. Absolute names, ``..`` components and
    empty components are refused rather than repaired: a log that holds them
    was not written by rsync for this tree.
    """
    if name in (".", "./"):
        return "."
    if name.startswith("/"):
        raise UnsafePath(f"absolute name {name!r} in a list of relative names")
    body = name.removesuffix("/")
    parts = body.split("/")
    if "" in parts or "." in parts or ".." in parts:
        raise UnsafePath(f"name {name!r} is not a plain path inside the tree")
    return body


def join_under(root: str, rel: str) -> str:
    """Absolute path of ``rel`` (already safe) under the absolute ``root``."""
    return root if rel == "." else posixpath.join(root, rel)


def is_under(path: str, ancestor: str) -> bool:
    """True when relative ``path`` is ``ancestor`` itself or lies below it."""
    if ancestor == ".":
        return True
    return path == ancestor or path.startswith(ancestor + "/")


def check_tree_path(path: str) -> str:
    """Validate RESTRICT_DIFF_TO_PATH: an absolute, normalised directory below /.

    ``/`` itself cannot be a volume target, and a path that is not normalised
    would make the names in the delta archive disagree with the image's.
    """
    from difflayers.errors import PathProblem

    if not path:
        raise PathProblem("RESTRICT_DIFF_TO_PATH is empty; name the directory to compare, e.g. /app")
    if not path.startswith("/") or path == "/":
        raise PathProblem(f"RESTRICT_DIFF_TO_PATH must be an absolute directory below /, not {path!r}")
    if posixpath.normpath(path) != path or "//" in path:
        raise PathProblem(
            f"RESTRICT_DIFF_TO_PATH must be normalised: {path!r} (try {posixpath.normpath(path)!r})"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in path) or ":" in path:
        raise PathProblem(f"RESTRICT_DIFF_TO_PATH holds a character a volume target cannot: {path!r}")
    return path
