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
import sys
import tarfile
from dataclasses import dataclass
from dataclasses import field as default
from typing import BinaryIO

from difflayers.archives.tarstream import open_tar
from difflayers.core import bytecode
from difflayers.core.chain import is_chain_label
from difflayers.core.names import CONTAINER_STAND_INS, check_tree_path
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
        self.groups: dict = {}  # first name of a hardlink group -> its names

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


def read_tree(stream: BinaryIO, root: str = "", with_groups: bool = True) -> Tree:
    """name -> description of each entry of a tar stream; hardlinks grouped.

    ``root`` (e.g. ``/srv/app``) names the directory an archive of one path
    holds, whose members the engine names from its basename (``app/...``);
    they are reported from ``/`` (``srv/app/...``) as in a whole export.
    ``with_groups=False``: the descriptions without the hardlink groups, which
    are in ``tree.groups`` (as ``compare_streamed`` reads its first tree).
    """
    entries = Tree()
    for name, description, first in _described(stream, root, entries):
        if first is not None:
            entries.groups.setdefault(first, [first]).append(name)
            description = entries.get(first, ("missing link target",))
        entries[name] = description
    return with_links(entries) if with_groups else entries


def with_links(tree: Tree) -> Tree:
    """The tree's descriptions with each hardlink group's names added."""
    for name, linked in _linked(tree.groups).items():
        tree[name] = tree[name] + (linked,)
    return tree


def _linked(groups: dict) -> dict:
    return {name: "linked with " + ", ".join(sorted(group)) for group in groups.values() for name in group}


_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CHRTYPE: "char device",
    tarfile.BLKTYPE: "block device",
}


def _described(stream: BinaryIO, root: str, side: Tree):
    """(name, description, None) for each member, (name, None, first name) for
    a hardlink; byte-code headers and `.py` stamps go to ``side``."""
    base, full = posixpath.basename(root), root.strip("/")

    def named(name: str) -> str:
        name = name.rstrip("/") or "/"
        if base and (name == base or name.startswith(base + "/")):
            return full + name[len(base) :]
        return name

    with open_tar(fileobj=stream) as tar:
        for member in tar:
            name = named(member.name)
            if member.islnk():
                yield name, None, named(member.linkname)
                continue
            if member.isreg() and name.endswith(bytecode.SUFFIX):
                digest, masked, head = _bytecode_digests(tar.extractfile(member))
                payload = "sha256:" + digest
                if head is not None:
                    side.bytecode[name] = (head, masked)
            elif member.isreg():
                payload = "sha256:" + sha256_of(tar.extractfile(member))
                if name.endswith(".py"):
                    side.sources[name] = (member.mtime, member.size)
            elif member.issym():
                payload = "-> " + member.linkname
            elif member.ischr() or member.isblk():
                payload = f"device {member.devmajor}:{member.devminor}"
            else:
                payload = ""
            kind = _KINDS.get(member.type, f"type {member.type!r}")
            # Interned: a few distinct modes and owners, shared by a whole tree.
            mode, owner = sys.intern(f"{member.mode & 0o7777:04o}"), sys.intern(f"{member.uid}:{member.gid}")
            yield name, (kind, mode, owner, payload, _xattrs(member)), None


def compare_streamed(a: Tree, stream_b: BinaryIO, root: str = "", byte_exact: bool = False) -> tuple:
    """(``tree_differences``, ``equivalent_bytecode``) of ``a`` (read with
    ``with_groups=False``) and the tree of ``stream_b``, B read as it streams:
    only A is held, with B's names and what differs, so comparing two images
    of 100,000 files holds one of them, not both."""
    b = Tree()  # B's byte-code records and sources, and what is kept of B
    differing: dict = {}  # name -> B's description, or None: not in B
    seen: set = set()
    for name, description, first in _described(stream_b, root, b):
        if first is not None:
            b.groups.setdefault(first, [first]).append(name)
            description = _of_b(first, a, differing, seen) or ("missing link target",)
        seen.add(name)
        if a.get(name) != description:
            differing[name] = description
    linked_a, linked_b = _linked(a.groups), _linked(b.groups)
    wanted = set(differing) | (set(a) - seen) | (set(a.bytecode) & set(b.bytecode))
    wanted |= {n for n in set(linked_a) | set(linked_b) if linked_a.get(n) != linked_b.get(n)}
    views = []
    for side, linked in ((a, linked_a), (b, linked_b)):
        view = Tree()
        view.bytecode, view.sources = side.bytecode, side.sources
        for name in wanted:
            found = a.get(name) if side is a else _of_b(name, a, differing, seen)
            if found is not None:
                view[name] = found + ((linked[name],) if name in linked else ())
        views.append(view)
    equivalent = [] if byte_exact else equivalent_bytecode(*views)
    return tree_differences(*views, byte_exact), equivalent


def _of_b(name: str, a: Tree, differing: dict, seen: set):
    """B's description of ``name`` (without its group): kept where it differs
    from A's, else A's; None where B has no such name."""
    if name in differing:
        return differing[name]
    return a.get(name) if name in seen else None


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
    # Read through Docker's export of a container (the whole filesystem, with
    # the init layer's stand-ins in both; Podman's export shows the image's own).
    exported: bool = False

    @property
    def equal(self) -> bool:
        return not self.config and not self.tree

    @property
    def scope(self) -> str:
        if self.check == "construction":
            return f"OLD's tree index of {self.path} + the layer against NEW's, the trees outside it"
        if self.path:
            return f"files under {self.path}"
        if self.exported:
            return f"the whole filesystem but {EXPORT_BLIND_SPOT}"
        return "the whole filesystem"


# What an export cannot show: the same stand-ins in every container (core.names).
EXPORT_BLIND_SPOT = f"what Docker puts in every container ({', '.join(CONTAINER_STAND_INS)})"


def image_tree(engine, image: str, path: str | None = None, with_groups: bool = True) -> Tree:
    """``read_tree`` of ``image``: its whole filesystem, or ``path`` (a directory)."""
    with _tree_stream(engine, image, path) as stream:
        return read_tree(stream, root=path or "", with_groups=with_groups)


def _tree_stream(engine, image: str, path: str | None):
    if path is None:
        return engine.filesystem_archive(image)
    engine.require_directory(image, path)
    return engine.tree_archive(image, path)


def compare_images(
    engine, image_a: str, image_b: str, path: str | None = None, byte_exact: bool = False
) -> Comparison:
    """Compare two local images' runtime config and files (all, or under
    ``path``): A read and held, B compared with it as it streams."""
    if path is not None:
        path = check_tree_path(path, "--path", volume_target=False)
    path = None if path == "/" else path
    inspected = [engine.inspect_image(ref) for ref in (image_a, image_b)]
    tree_a = image_tree(engine, image_a, path, with_groups=False)
    with _tree_stream(engine, image_b, path) as stream:
        lines, equivalent = compare_streamed(tree_a, stream, path or "", byte_exact)
    config = config_differences(*inspected)
    exported = path is None and not engine.is_podman
    return Comparison(image_a, image_b, path, config, lines, equivalent, byte_exact, exported=exported)
