"""Compare two images without rsync: their exported trees and runtime config.

Each tree is read from a tar stream (the engine's export, or the archive of
one path), so the comparison sees exactly what a container of each image
would: type, content digest, mode, numeric owner, link target, device
numbers, hardlink groups, and the extended attributes the archives carry
(moby's carry security.capability only: ``SCOPE_NOTE``). Modification times
are not compared, but what they decide is: whether each timestamp-based
`.pyc` is fresh for the `.py` beside it must be the same in both images.
By default a `.pyc` that differs only in its embedded source mtime, fresh in
both, counts as equal (and is listed); ``byte_exact`` counts it as a difference.
"""

import hashlib
import posixpath
import tarfile
from dataclasses import dataclass
from dataclasses import field as default
from typing import BinaryIO

from difflayers.core import bytecode
from difflayers.core.chain import is_chain_label
from difflayers.core.names import check_tree_path
from difflayers.core.outputs import sha256_of

XATTR_PAX = "SCHILY.xattr."
# What an archive-based comparison can and cannot see; verify says it.
SCOPE_NOTE = (
    "content, type, mode, owner, links, device numbers and the extended attributes the engine's "
    "archives carry (security.capability); not modification times, but byte-code freshness"
)


def equality_checked(byte_exact: bool) -> str:
    """Which equality of file content a comparison checked, in words."""
    if byte_exact:
        return "byte-exact: every file's bytes"
    return (
        "byte-exact but for byte-code: a timestamp-based .pyc differing only in its embedded source "
        "mtime, fresh for its .py in both images, is equivalent"
    )


class Tree(dict):
    """name -> description of each entry (see ``read_tree``), with what byte-code
    checks need: each `.pyc`'s header and digest without its mtime field, and
    each `.py`'s mtime and size."""

    def __init__(self):
        super().__init__()
        self.bytecode: dict = {}  # name -> (bytecode.Header, masked digest)
        self.sources: dict = {}  # name -> (mtime, size)

    def fresh(self, pyc: str):
        """Is this `.pyc` fresh for its source here? None if not timestamp-based or no source."""
        found, source = self.bytecode.get(pyc), bytecode.source_of(pyc)
        if found is None or not found[0].timestamp_based or source not in self.sources:
            return None
        return found[0].fresh_for(*self.sources[source])


# Runtime config that makes a container behave as it does.
CONFIG_FIELDS = (
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "Healthcheck",
    "StopSignal",
    "Shell",
    "OnBuild",
)


def read_tree(stream: BinaryIO, root: str = "") -> Tree:
    """name -> description of each entry of a tar stream; hardlinks grouped.

    ``root`` (e.g. ``/srv/app``) names the directory an archive of one path
    holds, whose members the engine names from its basename (``app/...``);
    they are reported from ``/`` (``srv/app/...``) as in a whole export.
    """
    base, full = posixpath.basename(root), root.strip("/")

    def named(name: str) -> str:
        name = name.rstrip("/") or "/"
        if base and (name == base or name.startswith(base + "/")):
            return full + name[len(base) :]
        return name

    entries, groups = Tree(), {}
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
        for member in tar:
            name = named(member.name)
            if member.islnk():
                first = named(member.linkname)
                groups.setdefault(first, [first]).append(name)
                entries[name] = entries.get(first, ("missing link target",))
                continue
            if member.isreg() and name.endswith(bytecode.SUFFIX):
                digest, masked, head = _bytecode_digests(tar.extractfile(member))
                payload = "sha256:" + digest
                if head is not None:
                    entries.bytecode[name] = (head, masked)
            elif member.isreg():
                payload = "sha256:" + sha256_of(tar.extractfile(member))
                if name.endswith(".py"):
                    entries.sources[name] = (member.mtime, member.size)
            elif member.issym():
                payload = "-> " + member.linkname
            elif member.ischr() or member.isblk():
                payload = f"device {member.devmajor}:{member.devminor}"
            else:
                payload = ""
            kind = {
                tarfile.REGTYPE: "file",
                tarfile.AREGTYPE: "file",
                tarfile.DIRTYPE: "dir",
                tarfile.SYMTYPE: "symlink",
                tarfile.FIFOTYPE: "fifo",
                tarfile.CHRTYPE: "char device",
                tarfile.BLKTYPE: "block device",
            }.get(member.type, f"type {member.type!r}")
            mode, owner = f"{member.mode & 0o7777:04o}", f"{member.uid}:{member.gid}"
            entries[name] = (kind, mode, owner, payload, _xattrs(member))
    for group in groups.values():
        linked = "linked with " + ", ".join(sorted(group))
        for name in group:
            entries[name] = entries[name] + (linked,)
    return entries


def _bytecode_digests(stream: BinaryIO):
    """(sha256 of the file, sha256 with the source-mtime field zeroed, header or None)."""
    head = stream.read(bytecode.HEADER_SIZE)
    whole, masked = (
        hashlib.sha256(head),
        hashlib.sha256(head[: bytecode.MTIME_FIELD.start] + b"\0\0\0\0" + head[bytecode.MTIME_FIELD.stop :]),
    )
    while block := stream.read(1 << 16):
        whole.update(block)
        masked.update(block)
    return whole.hexdigest(), masked.hexdigest(), bytecode.header(head)


def equivalent_bytecode(a: dict, b: dict) -> list:
    """Names of `.pyc` files that differ only in the embedded source mtime and are
    fresh for their `.py` in both trees: they behave the same."""
    found = []
    for name in sorted(set(getattr(a, "bytecode", {})) & set(getattr(b, "bytecode", {}))):
        if a[name] == b[name] or a.bytecode[name][1] != b.bytecode[name][1]:
            continue
        rest_a, rest_b = a[name][:3] + a[name][4:], b[name][:3] + b[name][4:]
        if rest_a == rest_b and a.fresh(name) is True and b.fresh(name) is True:
            found.append(name)
    return found


def freshness_differences(a: dict, b: dict) -> list:
    """Lines for `.pyc` files fresh in one tree and stale in the other (Python
    recompiles a stale one at every start, and writes it if it can)."""
    lines = []
    for name in sorted(set(getattr(a, "bytecode", {})) & set(getattr(b, "bytecode", {}))):
        fresh_a, fresh_b = a.fresh(name), b.fresh(name)
        if fresh_a is not None and fresh_b is not None and fresh_a != fresh_b:
            state = {True: "fresh", False: "stale"}
            shown = name if name.isprintable() else repr(name)
            lines.append(
                f"byte-code: {shown} is {state[fresh_a]} in A, {state[fresh_b]} in B "
                "(the mtime or size its .py has there)"
            )
    return lines


def _xattrs(member: tarfile.TarInfo) -> str:
    """The extended attributes the archive carries for ``member``, as one readable field."""
    found = sorted((k[len(XATTR_PAX) :], v) for k, v in member.pax_headers.items() if k.startswith(XATTR_PAX))
    return " ".join(f"xattr {name}={value.encode('utf-8', 'surrogateescape').hex()}" for name, value in found)


def tree_differences(a: dict, b: dict, byte_exact: bool = False) -> list:
    """Readable lines, one per path that differs, then byte-code freshness."""
    lines = []
    equivalent = set() if byte_exact else set(equivalent_bytecode(a, b))
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if left == right or name in equivalent:
            continue
        shown = name if name.isprintable() else repr(name)
        if left is None:
            lines.append(f"only in B: {shown} {' '.join(right)}")
        elif right is None:
            lines.append(f"only in A: {shown} {' '.join(left)}")
        else:
            fields = [
                f"{x or '(none)'} != {y or '(none)'}"
                for x, y in zip(left + ("",) * 6, right + ("",) * 6)
                if x != y
            ]
            lines.append(f"differs: {shown}: {'; '.join(fields)}")
    return lines + freshness_differences(a, b)


def _normal(field: str, value):
    if field == "Env":  # order carries no meaning once names are unique
        return dict(entry.partition("=")[::2] for entry in value or [])
    if field == "Labels":  # the kit's record of a chain of deltas is not NEW's
        return {k: v for k, v in (value or {}).items() if not is_chain_label(k)} or None
    return value or None


def config_differences(a: dict, b: dict) -> list:
    """Readable lines for runtime config, platform included."""
    lines = [
        f"{field}: {a.get(field)} != {b.get(field)}"
        for field in ("Os", "Architecture")
        if a.get(field) != b.get(field)
    ]
    config_a, config_b = a.get("Config") or {}, b.get("Config") or {}
    for field in CONFIG_FIELDS:
        left, right = _normal(field, config_a.get(field)), _normal(field, config_b.get(field))
        if left != right:
            lines.append(f"config {field}: {left} != {right}")
    return lines


@dataclass(frozen=True)
class Comparison:
    """What ``compare_images`` found: config and tree lines, and what was compared."""

    image_a: str
    image_b: str
    path: str | None
    config: list
    tree: list
    # `.pyc` files counted equal though their bytes differ (``equivalent_bytecode``).
    equivalent: list = default(default_factory=list)
    byte_exact: bool = False
    # "full": both images' files read and compared; "construction": ``comparing.construction``.
    check: str = "full"

    @property
    def equal(self) -> bool:
        return not self.config and not self.tree

    @property
    def scope(self) -> str:
        if self.check == "construction":
            return f"OLD's tree index of {self.path} + the layer against NEW's, the trees outside it"
        return f"files under {self.path}" if self.path else "the whole filesystem"


def image_tree(engine, image: str, path: str | None = None) -> dict:
    """``read_tree`` of ``image``: its whole filesystem, or ``path`` (a directory)."""
    if path is None:
        with engine.filesystem_archive(image) as stream:
            return read_tree(stream)
    engine.require_directory(image, path)
    with engine.tree_archive(image, path) as stream:
        return read_tree(stream, root=path)


def compare_images(
    engine, image_a: str, image_b: str, path: str | None = None, byte_exact: bool = False
) -> Comparison:
    """Compare two local images' runtime config and files (all, or under ``path``)."""
    if path is not None:
        path = check_tree_path(path, "--path", volume_target=False)
    inspected = [engine.inspect_image(ref) for ref in (image_a, image_b)]
    tree_a, tree_b = image_tree(engine, image_a, path), image_tree(engine, image_b, path)
    return Comparison(
        image_a,
        image_b,
        path,
        config_differences(*inspected),
        tree_differences(tree_a, tree_b, byte_exact),
        [] if byte_exact else equivalent_bytecode(tree_a, tree_b),
        byte_exact,
    )
