"""NEW's tree read from its layers in the registry, for an image the engine
does not have (one platform of a multi-platform NEW: its code is never run,
and need not be of this machine's architecture).

The layers are streamed once, bottom first, through ``archives.treescan.Overlay``
(whiteouts applied as an engine applies them). Only what a delta may need is
kept on disk: the content and tar header of each entry that differs from OLD's
(by name, in OLD's tree index) or is hardlinked; the rest is hashed and
dropped. The merged tree then passes to the index differ
(``comparing.indexdiff.diff_tree``) as the engine's archive stream would.
"""

import copy
import os
import shutil
import tarfile
from pathlib import Path

from difflayers.archives.delta import KEPT_PAX_PREFIXES, clean_member
from difflayers.archives.layer import ancestor_names
from difflayers.archives.treescan import Overlay
from difflayers.core import treeindex
from difflayers.core.treeindex import BLOCK, CHAR, DIRECTORY, FIFO, FILE, SYMLINK, tree_key
from difflayers.errors import BadInput
from difflayers.methods.oldtree import layer_tar

_TYPES = {
    FILE: tarfile.REGTYPE,
    DIRECTORY: tarfile.DIRTYPE,
    SYMLINK: tarfile.SYMTYPE,
    CHAR: tarfile.CHRTYPE,
    BLOCK: tarfile.BLKTYPE,
    FIFO: tarfile.FIFOTYPE,
}


class _Kept:
    """Headers and content of the entries a delta may need, by name; content
    stored once per digest in ``folder``."""

    def __init__(self, folder: Path, old: dict, keep_all: bool):
        self.folder, self.old, self.keep_all = folder, old, keep_all
        folder.mkdir(parents=True, exist_ok=True)
        self.members: dict = {}

    def wanted(self, entry) -> bool:
        before = self.old.get(entry.name)
        return (
            self.keep_all
            or before is None
            or bool(entry.group or before.group)
            or not entry.same_as(before)
            or entry.kind == DIRECTORY  # the spool holds every directory's header
        )

    def __call__(self, member: tarfile.TarInfo, entry, content) -> None:
        if not self.wanted(entry):
            self.members.pop(entry.name, None)  # an earlier layer's version is not NEW's
            return
        self.members[entry.name] = copy.copy(member)
        if content is not None:
            stored = self.folder / entry.digest.removeprefix("sha256:")
            if not stored.exists():
                partial = stored.with_suffix(".partial")
                with open(partial, "wb") as handle:
                    shutil.copyfileobj(content.file, handle, 1 << 20)
                os.replace(partial, stored)
            content.file.seek(0)

    def content(self, entry):
        stored = self.folder / entry.digest.removeprefix("sha256:")
        return _Stored(stored) if stored.exists() else None


class _Stored:
    """A kept file, as ``treescan.Content`` offers one (``file``, ``close``)."""

    def __init__(self, path: Path):
        self.file = open(path, "rb")

    def close(self) -> None:
        self.file.close()


class RegistryTree:
    """The tree at ``path`` of an image in the registry (``methods.push.RemoteImage``).

    Iterated, it yields (member, entry, content) in tree order as
    ``comparing.indexdiff._NewTree`` does, and writes the tree's index to ``dest``.
    """

    def __init__(self, registry, image, path: str, old, work_dir: Path, keep_all: bool = False):
        """``old``: OLD's index entries, against which what a delta needs is
        kept; None to index the tree only (nothing kept)."""
        self.path, self.dest = path, work_dir / "new-tree-index.jsonl.gz"
        self.kept = _Kept(work_dir / "kept", old, keep_all) if old is not None else None
        overlay = Overlay(path, keep=self.kept)
        before = registry.received
        for descriptor in image.layers:
            with layer_tar(registry, image.source.repository, descriptor["digest"]) as tar:
                overlay.apply(tar)
        self.bytes_read = registry.received - before
        self.result = overlay.result()
        root = self.result.get(".")
        whole = not path.strip("/")  # "/": a layer need not list the root
        if not whole and (root is None or root.kind != DIRECTORY):
            raise BadInput(f"{path} is not a directory in {image.source} ({_platform(image.config)})")
        self.above, self.last_outside, self.image = overlay.above, overlay.last_outside, overlay.image()
        self.entries = len(self.result)
        self.leaders = {name: e.group for name, e in self.result.items() if e.group}

    def __iter__(self):
        base = os.path.basename(self.path.rstrip("/"))
        with open(self.dest, "wb") as handle:
            handle.write(treeindex.to_bytes(self.path, self.result, self.image))
        for name in sorted(self.result, key=tree_key):
            entry = self.result[name]
            leader = entry.group or name
            member = self._member(entry)
            member.name = base if name == "." else f"{base}/{name}"
            if name != leader:
                member.type, member.size, member.linkname = tarfile.LNKTYPE, 0, f"{base}/{leader}"
                yield member, entry._replace(group=leader), None
                continue
            content = self.kept.content(entry) if entry.kind == FILE and self.kept else None
            try:
                yield member, entry._replace(group=""), content
            finally:
                if content is not None:
                    content.close()

    def _member(self, entry) -> tarfile.TarInfo:
        """The header kept for ``entry`` (its xattrs with it), or one made from the entry."""
        member = self.kept.members.get(entry.name) if self.kept else None
        if member is None:
            member = tarfile.TarInfo(entry.name)
            member.mode, member.uid, member.gid, member.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
            member.linkname = entry.link
            member.devmajor, member.devminor = entry.major, entry.minor
        member = copy.copy(member)
        # Only xattrs are carried: a layer's PAX path or size would override the fields set here.
        member.pax_headers = {k: v for k, v in member.pax_headers.items() if k.startswith(KEPT_PAX_PREFIXES)}
        member.type = _TYPES[entry.kind]
        member.size = entry.size if entry.kind == FILE else 0
        if entry.kind != SYMLINK:
            member.linkname = ""
        return member

    def ancestors(self) -> list:
        """The directories above the path as NEW has them, for the layer writer."""
        headers = []
        for ancestor in ancestor_names(self.path):
            rel = ancestor.strip("/")
            found = self.above.get(rel)
            header = tarfile.TarInfo(rel)
            header.type = tarfile.DIRTYPE
            header.mode = found.mode if found else 0o755
            header.uid, header.gid = (found.uid, found.gid) if found else (0, 0)
            header.mtime = found.mtime if found else 0
            clean_member(header, "", rel, None)
            headers.append(header)
        return headers


def _platform(config: dict) -> str:
    return "/".join(p for p in (config.get("os"), config.get("architecture"), config.get("variant")) if p)
