"""A mounted tree read as the engine's archive endpoint would stream it.

In the differ's BuildKit step OLD and NEW are mounted read-only where they
are. Walking a mount gives the members the engine's archive of the same path
holds (moby's ``archive.TarWithOptions``): names ``base/...`` in tree order
(siblings sorted as bytes, depth first), numeric owners, the first name of a
hardlinked file as the file and the later ones as links to it,
``security.capability`` as the only extended attribute, sockets left out. It
only reads the contents the caller asks for, where the archive endpoint sends
every byte (25-30 MB/s here): the layer is written from NEW in the same pass
that compares the trees, reading only what changed.

``FsTree`` behaves as a ``tarfile.TarFile`` read in stream mode does for the
kit's readers (``archives.layer``, ``archives.treescan``): iterate it, and
``extractfile`` the current member.
"""

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator

from difflayers.archives.tarstream import open_tar

CAPABILITY = "security.capability"
_XATTR_KEY = "SCHILY.xattr." + CAPABILITY


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def tar_info(fs_path: bytes, name: str, st: os.stat_result) -> tarfile.TarInfo | None:
    """A tar header for the entry at ``fs_path`` named ``name``; None for a socket
    (the engine's archive leaves sockets out)."""
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, text(os.readlink(fs_path))
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    if not stat.S_ISLNK(mode):
        try:
            value = os.getxattr(fs_path, CAPABILITY, follow_symlinks=False)
        except OSError:
            value = None
        if value:
            info.pax_headers = {_XATTR_KEY: text(value)}
    return info


class FsTree:
    """The tree at ``root`` as tar members named ``base/...`` (see the module).

    ``skip``: a name relative to the tree whose subtree is left out (the
    compared path, when ``root`` is a whole image and the rest is wanted).
    """

    def __init__(self, root: str, base: str, skip: str | None = None):
        self.root = raw(root.rstrip("/") or "/")
        self.base = base
        self.skip = raw(skip) if skip else None
        self.bytes_read = 0
        # Names (relative to the tree) of the only entries a reader wants
        # besides directories and hardlinked files (a link's target may be
        # needed), or None for all: the others are not made into members.
        self.only: set | None = None
        self._current: tarfile.TarInfo | None = None
        self._current_path = b""

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        seen: dict = {}  # (device, inode) -> the member name first seen, for hardlinks
        for rel, fs_path, st in walk(self.root, self.skip):
            name = self.base if rel == b"." else f"{self.base}/{text(rel)}"
            linked = stat.S_ISREG(st.st_mode) and st.st_nlink > 1
            if self.only is not None and not linked and not stat.S_ISDIR(st.st_mode):
                if text(rel) not in self.only:
                    continue
            info = tar_info(fs_path, name, st)
            if info is None:
                continue
            if info.isreg() and st.st_nlink > 1:
                first = seen.setdefault((st.st_dev, st.st_ino), name)
                if first != name:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
            self._current, self._current_path = info, fs_path
            yield info
        self._current = None

    def extractfile(self, member: tarfile.TarInfo):
        """The current member's content, opened (as ``TarFile.extractfile`` in stream mode)."""
        if member is not self._current or not member.isreg():
            raise ValueError(f"{member.name!r} is not the current file of the walk")
        self.bytes_read += member.size
        return open(self._current_path, "rb")


def walk(root: bytes, skip: bytes | None = None):
    """(name relative to the tree, path, lstat) of every entry under ``root``
    in tree order: depth first, siblings sorted as bytes (Go's
    ``filepath.Walk``, which the engine uses); ``skip``: a subtree left out."""
    st = os.lstat(root)
    yield b".", root, st
    if not stat.S_ISDIR(st.st_mode):
        return
    stack = [_children(b"", root, skip)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        yield item
        if stat.S_ISDIR(item[2].st_mode):
            stack.append(_children(item[0], item[1], skip))


def _children(rel: bytes, directory: bytes, skip: bytes | None):
    prefix = directory + b"/" if directory != b"/" else directory
    for name in sorted(os.listdir(directory)):
        child_rel = rel + b"/" + name if rel else name
        if child_rel != skip:
            child = prefix + name
            yield child_rel, child, os.lstat(child)


def tar_reader(source):
    """A context manager yielding tar members of ``source``: a tar-like reader
    (``FsTree``, a ``TarFile``) as it is, a byte stream opened in stream mode."""
    if hasattr(source, "extractfile"):
        return contextlib.nullcontext(source)
    return open_tar(fileobj=source)
