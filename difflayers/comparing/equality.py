"""Compare two images without rsync: their exported trees and runtime config.

Each tree is read from a tar stream (the engine's export, or the archive of
one path), so the comparison sees exactly what a container of each image
would: type, content digest, mode, numeric owner, link target, device
numbers, hardlink groups, and the extended attributes the archives carry
(moby's carry security.capability only: ``SCOPE_NOTE``). Modification times
are not compared.
"""

import posixpath
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from difflayers.core.chain import is_chain_label
from difflayers.core.names import check_tree_path
from difflayers.core.outputs import sha256_of

XATTR_PAX = "SCHILY.xattr."
# What an archive-based comparison can and cannot see; verify says it.
SCOPE_NOTE = (
    "content, type, mode, owner, links, device numbers and the extended attributes the engine's "
    "archives carry (security.capability); not modification times"
)
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


def read_tree(stream: BinaryIO, root: str = "") -> dict:
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

    entries, groups = {}, {}
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
        for member in tar:
            name = named(member.name)
            if member.islnk():
                first = named(member.linkname)
                groups.setdefault(first, [first]).append(name)
                entries[name] = entries.get(first, ("missing link target",))
                continue
            if member.isreg():
                payload = "sha256:" + sha256_of(tar.extractfile(member))
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


def _xattrs(member: tarfile.TarInfo) -> str:
    """The extended attributes the archive carries for ``member``, as one readable field."""
    found = sorted((k[len(XATTR_PAX) :], v) for k, v in member.pax_headers.items() if k.startswith(XATTR_PAX))
    return " ".join(f"xattr {name}={value.encode('utf-8', 'surrogateescape').hex()}" for name, value in found)


def tree_differences(a: dict, b: dict) -> list:
    """Readable lines, one per path that differs."""
    lines = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if left == right:
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
    return lines


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

    @property
    def equal(self) -> bool:
        return not self.config and not self.tree

    @property
    def scope(self) -> str:
        return f"files under {self.path}" if self.path else "the whole filesystem"


def image_tree(engine, image: str, path: str | None = None) -> dict:
    """``read_tree`` of ``image``: its whole filesystem, or ``path`` (a directory)."""
    if path is None:
        with engine.filesystem_archive(image) as stream:
            return read_tree(stream)
    engine.require_directory(image, path)
    with engine.tree_archive(image, path) as stream:
        return read_tree(stream, root=path)


def compare_images(engine, image_a: str, image_b: str, path: str | None = None) -> Comparison:
    """Compare two local images' runtime config and files (all, or under ``path``)."""
    if path is not None:
        path = check_tree_path(path, "--path", volume_target=False)
    inspected = [engine.inspect_image(ref) for ref in (image_a, image_b)]
    return Comparison(
        image_a,
        image_b,
        path,
        config_differences(*inspected),
        tree_differences(image_tree(engine, image_a, path), image_tree(engine, image_b, path)),
    )
