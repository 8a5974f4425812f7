"""Write the delta as an image layer: NEW's changed entries plus OCI whiteouts.

Unlike the archive the Dockerfile ADDs (``delta``), a layer is unpacked by the
engine into an empty directory that overlays OLD, so it must stand on its own:

- removals are whiteouts, ``.wh.NAME`` beside the removed name, or one opaque
  ``.wh..wh..opq`` in a directory none of whose OLD entries survive;
- every directory on the way to an entry is in the layer with NEW's owner and
  mode, else the engine makes it up (root, 0600) and it hides OLD's;
- hardlinks point inside the layer: a changed name linked to an unchanged file
  ships that file and all its names (a second pass over NEW, only then).

The source is NEW's tree as the engine's archive endpoint streams it, or as
the differ's mount shows it (``fstree``), read in order; directory headers
wait on a stack until something below needs them.
(OCI image spec, "Changesets" and "Whiteouts".)
"""

import hashlib
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from difflayers.archives.delta import check_xattrs_carried, clean_member, copy_member, relative_name
from difflayers.archives.fstree import FsTree, tar_reader
from difflayers.archives.tarstream import open_tar
from difflayers.core.names import is_under
from difflayers.core.outputs import atomic_file
from difflayers.core.plan import Plan
from difflayers.errors import StaleOutput

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass
class LayerStats:
    """What the layer holds, and its identity: ``diff_id`` is the sha256 of
    the uncompressed tar, as an image config lists it."""

    entries: int = 0
    content_bytes: int = 0
    whiteouts: int = 0
    opaque: int = 0
    size: int = 0
    diff_id: str = ""


class _HashingWriter:
    """A write-only file that hashes and counts what passes through."""

    def __init__(self, dest: BinaryIO):
        self._dest = dest
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self._dest.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


class _NeedTargets(Exception):
    def __init__(self, targets: set):
        self.targets = targets


def removals_by_directory(plan: Plan) -> dict:
    """The plan's removals as whiteouts to write, keyed by parent directory.

    A removal that NEW replaces by an entry of another type needs none: the
    entry in the layer hides OLD's (and whatever was below it).
    """
    by_parent: dict = {}
    for path in plan.removals:
        if path in plan.kinds:
            continue
        parent, name = posixpath.split(path)
        by_parent.setdefault(parent or ".", []).append(name)
    return by_parent


def write_layer(
    open_source: Callable,
    dest_path,
    *,
    tree_path: str,
    plan: Plan,
    ancestors: list,
) -> LayerStats:
    """Write the layer tar to ``dest_path`` (atomically); return its stats.

    ``open_source()`` is a context manager yielding a fresh tar stream of
    NEW's ``tree_path``, or a tar-like reader of it (``fstree.FsTree``);
    ``ancestors`` are NEW's headers (``tarfile.TarInfo``) of the directories
    above ``tree_path``, outermost first.
    """
    extra: set = set()
    while True:
        try:
            with open_source() as source, atomic_file(dest_path) as dest:
                return _write_once(source, dest, tree_path, plan, ancestors, frozenset(extra))
        except _NeedTargets as need:
            if need.targets <= extra:
                raise StaleOutput("NEW's hardlinks changed while the layer was written; run again") from None
            extra |= need.targets


def _write_once(source, dest, tree_path, plan, ancestors, extra) -> LayerStats:
    base = posixpath.basename(tree_path)
    root = tree_path.lstrip("/")
    wanted = set(plan.additions) | extra
    whiteouts = removals_by_directory(plan)
    found: set = set()
    shipped_files: set = set()
    needed_targets: set = set()
    placed: set = set()
    stats = LayerStats()
    writer = _HashingWriter(dest)
    # Directories seen but not all finished: [rel, header, written, keeps_old_entry]
    stack: list = []

    def flush():
        for frame in stack:
            if not frame[2]:
                out.addfile(frame[1])
                frame[2] = True
                stats.entries += 1

    def finish(frame):
        """Leaving a directory: its whiteouts, now that its NEW entries are known."""
        rel, header, written, keeps_old = frame
        names = whiteouts.get(rel)
        if not names:
            return
        flush()  # the directories above it (it is off the stack by now)
        if not written:
            out.addfile(header)
            stats.entries += 1
        placed.add(rel)
        if not keeps_old:
            # None of OLD's entries here survive: hide them all at once.
            out.addfile(_marker(posixpath.join(header.name, OPAQUE_MARKER)))
            stats.opaque += 1
            return
        for name in sorted(names):
            out.addfile(_marker(posixpath.join(header.name, WHITEOUT_PREFIX + name)))
            stats.whiteouts += 1

    with open_tar(fileobj=writer, mode="w|") as out:
        for header in ancestors:
            out.addfile(header)
            stats.entries += 1
        with tar_reader(source) as src:
            if isinstance(src, FsTree) and plan.keeps_old is not None:
                # Nothing but directories and shipped entries matters then:
                # the others are not made into members at all.
                src.only = wanted
            for member in src:
                rel = relative_name(member.name.rstrip("/") or member.name, base)
                while stack and not is_under(rel, stack[-1][0]):
                    finish(stack.pop())
                if stack and plan.keeps_old is None and rel not in plan.new_paths:
                    stack[-1][3] = True  # the parent keeps an entry OLD had
                target = relative_name(member.linkname, base) if member.islnk() else None
                clean_member(member, root, rel, target)
                ship = rel in wanted or target in shipped_files
                if ship and target is not None and target not in shipped_files:
                    needed_targets.add(target)
                if member.isdir():
                    stack.append([rel, member, False, plan.keeps_old is not None and rel in plan.keeps_old])
                if not ship:
                    continue
                found.add(rel)
                check_xattrs_carried(member, rel, plan)
                flush()
                if member.isdir():
                    continue  # written by flush, as the top of the stack
                if member.isreg():
                    shipped_files.add(rel)
                copy_member(out, src, member, stats)
            while stack:
                finish(stack.pop())
    if needed_targets:
        raise _NeedTargets(needed_targets)
    missing = sorted(set(plan.additions) - found) + sorted(set(whiteouts) - placed)
    if missing:
        raise StaleOutput(
            f"{len(missing)} entries of the plan are not in NEW's tree (first: {missing[0]!r}); "
            "the diff was made from another image: run it again"
        )
    stats.size = writer.size
    stats.diff_id = "sha256:" + writer.sha256.hexdigest()
    return stats


def _marker(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def ancestor_names(tree_path: str) -> list:
    """Directories above ``tree_path``, outermost first: ``/a/b/c`` -> ``/a``, ``/a/b``."""
    parts = tree_path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
