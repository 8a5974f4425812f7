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


def escaped_text(name: str) -> str:
    """``encode_rsync_name`` as ASCII text: how names are kept in JSON and templates."""
    return encode_rsync_name(name).decode("ascii")


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


# What Docker's init layer puts over the image's own entries in every container
# (moby's daemon/initlayer): empty files, /etc/mtab -> /proc/mounts, empty
# directories. A container's archive, export or volume copy shows these
# stand-ins, whatever the image holds there; only the image's layers (or
# BuildKit's mounts of them) show its own.
CONTAINER_STAND_INS = (
    "/.dockerenv",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
)


def stand_ins_under(path: str) -> list:
    """The container stand-ins at or below the absolute directory ``path``."""
    top = path.rstrip("/") + "/"
    return [name for name in CONTAINER_STAND_INS if name == path or name.startswith(top)]


def is_under(path: str, ancestor: str) -> bool:
    """True when relative ``path`` is ``ancestor`` itself or lies below it."""
    if ancestor == ".":
        return True
    return path == ancestor or path.startswith(ancestor + "/")


def under_any(path: str, ancestors) -> bool:
    """True when relative ``path`` is one of ``ancestors`` (a set) or lies below
    one: a walk up its components, not a scan of the set."""
    while True:
        if path in ancestors:
            return True
        if "/" not in path:
            return "." in ancestors and path != "."
        path = path.rsplit("/", 1)[0]


def check_tree_path(path: str, what: str = "RESTRICT_DIFF_TO_PATH", volume_target: bool = True) -> str:
    """Validate the compared path: an absolute, normalised directory below /.

    ``what`` names it as the user gave it (``--path`` for the command, the
    variable for the compose kit). A path that is not normalised would make
    the names in the delta archive disagree with the image's; ``/`` cannot be
    a volume target, nor can a path with a colon or a control character
    (``volume_target``: only where the tree is copied into a volume).
    """
    from difflayers.errors import PathProblem

    if not path:
        raise PathProblem(f"{what} is empty; name the directory to compare, e.g. /app")
    if not path.startswith("/"):
        raise PathProblem(f"{what} must be an absolute directory, not {path!r}")
    if path == "/" and volume_target:
        raise PathProblem(
            f"{what} cannot be / here: the trees are copied into volumes, and a volume cannot be "
            "mounted at /. The whole image is compared in place, with BuildKit: `difflayers optimize "
            "OLD NEW --path /` with a docker CLI that has it"
        )
    several = re.split(r"[\s,;]+(?=/)", path)
    if volume_target and len(several) > 1:
        raise PathProblem(
            f"{what} names one directory, not a list ({', '.join(several)}): Docker mounts one volume "
            "per path, so the compose kit compares one per run. Several directories at once, as their "
            "union: `difflayers optimize OLD NEW " + " ".join(f"--path {p}" for p in several) + "`"
        )
    normal = posixpath.normpath("/" + path.lstrip("/"))
    if normal != path:
        raise PathProblem(f"{what} must be normalised: {path!r} (try {normal!r})")
    if "\0" in path:
        raise PathProblem(f"{what} holds a NUL byte: {path!r}")
    if volume_target and (any(ord(c) < 32 or ord(c) == 127 for c in path) or ":" in path):
        raise PathProblem(
            f"{what} {path!r} holds a colon or a control character, which a volume target cannot "
            "(the trees are copied into volumes here)"
        )
    return path
