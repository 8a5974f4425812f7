"""Tree index entries from tar streams: NEW's tree as the engine streams it,
and layers as a registry stores them (whiteouts applied in order).

Content is hashed as it passes; nothing but the entries is kept, except for
the caller's use of a file while it is current (the differ spools changed
files). See ``core.treeindex`` for the entries and ``comparing.indexdiff``
for the differ that runs on them.
"""

import hashlib
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from difflayers.archives.delta import relative_name
from difflayers.core import bytecode
from difflayers.core.names import safe_relative, under_any
from difflayers.core.treeindex import BLOCK, CHAR, DIRECTORY, FIFO, FILE, SYMLINK, Entry, Held, Pyc, tree_key
from difflayers.errors import BadInput

BLOCK_SIZE = 1 << 20
SPOOL_IN_MEMORY = 8 << 20  # a file larger than this waits on disk while it is hashed
_XATTR_PREFIXES = ("SCHILY.xattr.", "LIBARCHIVE.xattr.")
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


def _kind(member: tarfile.TarInfo) -> str:
    if member.isreg() or member.islnk():
        return FILE
    if member.isdir():
        return DIRECTORY
    if member.issym():
        return SYMLINK
    if member.ischr():
        return CHAR
    if member.isblk():
        return BLOCK
    if member.isfifo():
        return FIFO
    raise BadInput(f"the archive holds {member.name!r} of an unknown type {member.type!r}")


def _xattrs(member: tarfile.TarInfo) -> tuple:
    found = []
    for key, value in member.pax_headers.items():
        for prefix in _XATTR_PREFIXES:
            if key.startswith(prefix):
                data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
                found.append((key[len(prefix) :], hashlib.sha256(data).hexdigest()))
    return tuple(sorted(found))


def _metadata(member: tarfile.TarInfo, rel: str) -> Entry:
    return Entry(
        name=rel,
        kind=_kind(member),
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        mtime=int(member.mtime),
        link=member.linkname if member.issym() else "",
        major=member.devmajor if member.ischr() or member.isblk() else 0,
        minor=member.devminor if member.ischr() or member.isblk() else 0,
        xattrs=_xattrs(member),
    )


class Content:
    """A regular file's bytes, hashed as read and kept (in memory, or on disk
    when large) for the caller to copy while the stream is on this member."""

    def __init__(self, source: BinaryIO, size: int, rel: str, spool_dir=None, keep=True):
        # ``keep=False``: hashed only (an index of a tree that can be read again).
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=spool_dir) if keep else None
        digest = hashlib.sha256()
        masked = hashlib.sha256() if bytecode.source_of(rel) else None
        head = b""
        first = True
        read = 0
        while True:
            block = source.read(BLOCK_SIZE)
            if not block:
                break
            read += len(block)
            digest.update(block)
            if self.file is not None:
                self.file.write(block)
            if masked is not None:
                if first and len(block) >= bytecode.HEADER_SIZE:
                    head = block[: bytecode.HEADER_SIZE]
                    block = (
                        block[: bytecode.MTIME_FIELD.start] + b"\0" * 4 + block[bytecode.MTIME_FIELD.stop :]
                    )
                masked.update(block)
            first = False
        self.digest = "sha256:" + digest.hexdigest()
        self.size = read
        if self.size != size:
            raise BadInput(f"the archive's {rel!r} holds {self.size} bytes, its header says {size}")
        found = bytecode.header(head) if masked is not None else None
        self.pyc = (
            Pyc("sha256:" + masked.hexdigest(), found.source_mtime, found.source_size)
            if found is not None and found.timestamp_based
            else None
        )
        if self.file is not None:
            self.file.seek(0)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Files:
    """The regular files of one stream, by name, for the hardlinks that follow
    them (a tar names a hardlink's target before the link)."""

    def __init__(self, spool_dir=None, keep=True):
        # name -> size (8 bytes) and digest (32) of every file, as one bytes
        # object: a tree's worth of them is held while it streams.
        self._seen: dict = {}
        self._pyc: dict = {}  # name -> Pyc, for the byte-code among them
        self._spool_dir = spool_dir
        self._keep = keep

    def read(self, tar: tarfile.TarFile, member: tarfile.TarInfo, entry: Entry, target) -> tuple:
        """(``entry`` with its content's size, digest and byte-code record, the
        ``Content`` or None); ``target``: a hardlink's target, relative to the tree."""
        if member.islnk():
            if target not in self._seen:
                raise BadInput(
                    f"the hardlink {entry.name!r} points to {member.linkname!r}, not to a file before it"
                )
            seen = self._seen[target]
            size, digest = int.from_bytes(seen[:8], "big"), "sha256:" + seen[8:].hex()
            return entry._replace(size=size, digest=digest, pyc=self._pyc.get(target), group=target), None
        if not member.isreg():
            return entry, None
        with tar.extractfile(member) as source:
            content = Content(source, member.size, entry.name, self._spool_dir, self._keep)
        self._seen[entry.name] = content.size.to_bytes(8, "big") + bytes.fromhex(content.digest[7:])
        if content.pyc is not None:
            self._pyc[entry.name] = content.pyc
        return entry._replace(size=content.size, digest=content.digest, pyc=content.pyc), content


def scan(tar: tarfile.TarFile, base: str, spool_dir=None, keep=True) -> Iterator[tuple]:
    """(member, entry, content) for each member of NEW's tree stream (members
    ``base/...``, as the engine's archive endpoint names them); ``content`` is
    a ``Content`` for regular files, else None, and is closed after the caller's
    turn. A hardlink's entry has its target's digest and size, and its target
    as ``group``; the groups' leaders are known once the stream has ended
    (``group_leaders``)."""
    files = _Files(spool_dir, keep)
    for member in tar:
        rel = relative_name(member.name.rstrip("/") or member.name, base)
        target = relative_name(member.linkname, base) if member.islnk() else None
        entry, content = files.read(tar, member, _metadata(member, rel), target)
        try:
            yield member, entry, content
        finally:
            if content is not None:
                content.close()


def group_leaders(links: dict) -> dict:
    """name -> the first name (tree order) of its hardlink group, for every
    name in a group; ``links`` maps each hardlink to the name it points at."""
    members: dict = {}
    for link, target in links.items():
        members.setdefault(target, {target}).add(link)
    leaders = {}
    for names in members.values():
        leader = min(names, key=tree_key)
        for name in names:
            leaders[name] = leader
    return leaders


def tree_relative(name: str, root: str):
    """A layer member's name relative to the tree at ``root`` (no slashes around):
    '.' for the tree itself, '' for a directory above it, None outside it."""
    name = name.removeprefix("./").strip("/")
    if not root:  # the whole filesystem
        return safe_relative(name) if name not in ("", ".") else "."
    if name == root:
        return "."
    if name.startswith(root + "/"):
        return safe_relative(name[len(root) + 1 :])
    if root.startswith(name + "/") or name == "":
        return ""
    return None


# The root of a whole image's tree, as an engine makes it: a layer's "./"
# entry is not applied (moby's pkg/archive Unpack skips "." once the root
# exists), and BuildKit's mounts of an image show this root whatever its
# layers say (debootstrap's base layer says 0700).
WHOLE_ROOT = Entry(".", DIRECTORY, 0o755, 0, 0)


class LayerChanges:
    """What one layer does to the tree under its root, as an engine applies it
    (OCI image spec, "Applying Changesets"): the names its whiteouts hide with
    everything below (``hidden``), the directories it makes opaque, whether it
    hides or replaces the whole tree, and the entries it adds (hashed; a
    hardlink's ``group`` is its target). Read once, so an index of a lower tree
    can be streamed past it (``comparing.indexcheck.applied``) or held and
    changed (``Overlay``)."""

    def __init__(self):
        self.hidden: set = set()
        self.opaque: set = set()
        self.whole_tree = False
        self.outside = False  # changes something outside the tree
        self.above: dict = {}  # the directories above the tree it holds, by name
        # The entries it adds (name -> Entry, kept encoded: a first layer holds a
        # whole tree), the names among them that are not directories, and its
        # hardlinks (name -> the name linked to).
        self.added = Held()
        self.replaced: set = set()
        self.linked: dict = {}

    @classmethod
    def read(cls, tar: tarfile.TarFile, root: str, keep=None) -> "LayerChanges":
        """One layer's tar (opened in stream mode); ``root``: the tree, no slashes
        around; ``keep(member, entry, content)`` as ``Overlay`` says."""
        found = cls()
        files = _Files()
        for member in tar:
            parent, leaf = posixpath.split(member.name.removeprefix("./").rstrip("/"))
            if leaf == OPAQUE_MARKER or leaf.startswith(WHITEOUT_PREFIX):
                target = (
                    parent if leaf == OPAQUE_MARKER else posixpath.join(parent, leaf[len(WHITEOUT_PREFIX) :])
                )
                rel = tree_relative(target, root)
                if rel == "" or (rel == "." and leaf != OPAQUE_MARKER):
                    found.whole_tree = found.outside = True  # the tree or a directory above it is hidden
                elif rel is not None:
                    (found.opaque if leaf == OPAQUE_MARKER else found.hidden).add(rel)
                else:
                    found.outside = True
                continue
            rel = tree_relative(member.name, root)
            if rel == "." and not root and member.isdir():
                continue  # an engine keeps the root it made (``WHOLE_ROOT``)
            if rel is None or (rel == "" and not member.isdir()):
                found.outside = True
            if rel == "" and not member.isdir():
                found.whole_tree = True  # a directory above the tree replaced
            if rel == "" and member.isdir():
                name = member.name.removeprefix("./").strip("/")
                found.above[name] = _metadata(member, name)
            if not rel:
                continue
            target = tree_relative(member.linkname, root) if member.islnk() else None
            entry, content = files.read(tar, member, _metadata(member, rel), target)
            if keep is not None:
                keep(member, entry, content)
            if content is not None:
                content.close()
            found.added[entry.name] = entry
            if entry.kind != DIRECTORY:
                found.replaced.add(entry.name)
            if entry.group:
                found.linked[entry.name] = entry.group
        return found

    def hides(self, name: str) -> bool:
        """Is ``name`` of a lower layer hidden by this layer's whiteouts?"""
        return (
            self.whole_tree
            or (bool(self.opaque) and name not in self.opaque and under_any(name, self.opaque))
            or (bool(self.hidden) and under_any(name, self.hidden))
        )


class Overlay:
    """A tree under ``tree_path`` built from image layers, bottom first, as an
    engine unpacks them (``LayerChanges``): each layer's whiteouts hide what the
    layers below hold, then its entries are added. Only entries under
    ``tree_path`` are kept (``entries``: name -> Entry), and the directories
    above it (``above``). ``keep(member, entry, content)``, if given, sees each
    entry of the tree while it passes, with a regular file's content
    (``methods.registrytree`` keeps what a delta needs)."""

    def __init__(self, tree_path: str, keep=None):
        self.root = tree_path.strip("/")
        self.keep = keep
        self.entries = Held()  # name -> Entry, kept encoded: a whole tree is held
        if not self.root:
            self.entries["."] = WHOLE_ROOT
        self.above: dict = {}  # the directories above the tree, by name
        self._inode: dict = {}  # hardlinked names -> (layer number, first name)
        self._layers = 0
        # The last layer (counted from 1) that changed anything outside the tree.
        self.last_outside = 0

    def apply(self, tar: tarfile.TarFile) -> None:
        """Apply one layer's tar (opened in stream mode)."""
        self._layers += 1
        changes = LayerChanges.read(tar, self.root, self.keep)
        if changes.outside:
            self.last_outside = self._layers
        self.above.update(changes.above)
        if changes.whole_tree or changes.opaque or changes.hidden:
            self._drop(changes.hides)
        self._add(changes)

    def _add(self, changes: LayerChanges) -> None:
        replaced_dirs = {
            n for n in changes.replaced if n in self.entries and self.entries[n].kind == DIRECTORY
        }
        if replaced_dirs:
            self._drop(lambda name: name not in replaced_dirs and under_any(name, replaced_dirs))
        for name, line in changes.added.lines.items():
            self._inode.pop(name, None)
            target = changes.linked.get(name)
            if target is None:
                self.entries.lines[name] = line  # no group to clear: the line as it is
                continue
            key = (self._layers, target)
            self._inode[name] = self._inode[target] = key
            self.entries[name] = changes.added[name]._replace(group="")

    def _drop(self, hidden) -> None:
        for name in [n for n in self.entries if hidden(n)]:
            del self.entries[name]
            self._inode.pop(name, None)

    def image(self) -> dict:
        """The index header's record of the layers applied (``core.treeindex.header``)."""
        return {"layers": self._layers, "path_only_from": self.last_outside}

    def result(self) -> dict:
        """The entries with hardlink groups as ``core.treeindex`` writes them."""
        by_inode: dict = {}
        for name, key in self._inode.items():
            by_inode.setdefault(key, []).append(name)
        entries = self.entries.copy()
        for names in by_inode.values():
            if len(names) > 1:
                leader = min(names, key=tree_key)
                for name in names:
                    entries[name] = entries[name]._replace(group=leader)
        return entries
