"""Index entries of a tree read where it is mounted, without tar headers.

``scan(FsTree(root, base))`` gives a mounted tree's entries as the engine's
archive would (``archives.fstree``), building a tar header for every entry
first: most of the time a 100,000-file tree took to index went to those
headers and the layers around them. This walk makes the same entries, in the
same order, straight from ``lstat`` and the files' bytes (the property tests
check the two agree), for the differ's pass, which indexes both trees whole.

``identify``: a regular file's digest is left as the file itself (``SAME_FILE``,
its inode and ctime), not read, for trees compared side by side where the
engine mounts them (``comparing.sharedfiles``).
"""

import hashlib
import os
import stat
from collections.abc import Iterator

from difflayers.archives.fstree import CAPABILITY, raw, text, walk
from difflayers.archives.treescan import Content
from difflayers.core import bytecode
from difflayers.core.treeindex import BLOCK, CHAR, DIRECTORY, FIFO, FILE, SYMLINK, Entry
from difflayers.errors import BadInput

BLOCK_SIZE = 1 << 20
SAME_FILE = "file:"  # a digest that stands for the file on disk (``identify``)


class DirTree:
    """The tree at ``root`` as index entries in tree order (``entries``);
    ``skip``: a name relative to the tree whose subtree is left out.
    A hardlink's entry has the first name of its inode seen as ``group``, as
    ``treescan.scan`` gives it; ``bytes_read`` counts the files' bytes.
    ``identify``: see the module; byte-code is read all the same (its
    freshness is compared with its source's), and ``files_at`` keeps a path
    of each file left unread."""

    def __init__(self, root: str, skip: str | None = None, identify: bool = False):
        self.root = raw(root.rstrip("/") or "/")
        self.skip = raw(skip) if skip else None
        self.bytes_read = 0
        self.identify = identify
        self.files_at: dict = {}  # SAME_FILE digest -> a path of that file

    def entries(self) -> Iterator[Entry]:
        seen: dict = {}  # (device, inode) -> the first name, for hardlinks
        files: dict = {}  # that first name -> its entry, whose content the links share
        for rel, fs_path, st in walk(self.root, self.skip):
            entry = self._entry(rel, fs_path, st)
            if entry is None:
                continue
            if entry.kind == FILE:
                if st.st_nlink > 1:
                    first = seen.setdefault((st.st_dev, st.st_ino), entry.name)
                    if first != entry.name:
                        target = files[first]
                        yield entry._replace(
                            size=target.size, digest=target.digest, pyc=target.pyc, group=first
                        )
                        continue
                if self.identify and not bytecode.source_of(entry.name):
                    entry = entry._replace(size=st.st_size, digest=identity(st))
                    self.files_at.setdefault(entry.digest, fs_path)
                else:
                    entry = self.hashed(entry, fs_path, st.st_size)
                if st.st_nlink > 1:
                    files[entry.name] = entry
            yield entry

    def _entry(self, rel: bytes, fs_path: bytes, st: os.stat_result) -> Entry | None:
        mode = st.st_mode
        name = "." if rel == b"." else text(rel)
        link, major, minor = "", 0, 0
        if stat.S_ISREG(mode):
            kind = FILE
        elif stat.S_ISDIR(mode):
            kind = DIRECTORY
        elif stat.S_ISLNK(mode):
            kind, link = SYMLINK, text(os.readlink(fs_path))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = CHAR if stat.S_ISCHR(mode) else BLOCK
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            kind = FIFO
        else:
            return None  # a socket: the engine's archive leaves it out
        xattrs = ()
        if kind != SYMLINK:
            try:
                value = os.getxattr(fs_path, CAPABILITY, follow_symlinks=False)
            except OSError:
                value = None
            if value:
                xattrs = ((CAPABILITY, hashlib.sha256(value).hexdigest()),)
        return Entry(
            name, kind, stat.S_IMODE(mode), st.st_uid, st.st_gid, 0, int(st.st_mtime), "", link, "",
            major, minor, xattrs, None,
        )  # fmt: skip

    def hashed(self, entry: Entry, fs_path: bytes, size: int) -> Entry:
        """``entry`` with its file's size and digest (and byte-code record)."""
        if bytecode.source_of(entry.name):
            with open(fs_path, "rb") as source:
                content = Content(source, size, entry.name, keep=False)
            self.bytes_read += content.size
            return entry._replace(size=content.size, digest=content.digest, pyc=content.pyc)
        digest = hashlib.sha256()
        read = 0
        fd = os.open(fs_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while True:
                block = os.read(fd, BLOCK_SIZE)
                if not block:
                    break
                read += len(block)
                digest.update(block)
        finally:
            os.close(fd)
        if read != size:
            raise BadInput(f"{entry.name!r} holds {read} bytes, its stat says {size}: did the tree change?")
        self.bytes_read += read
        return entry._replace(size=read, digest="sha256:" + digest.hexdigest())


def identity(st: os.stat_result) -> str:
    """The file on disk: two trees the engine mounts from layers they share
    show the same inode with the same change time (a file written again, by a
    layer of its own or any other way, has another inode or a later ctime)."""
    return f"{SAME_FILE}{st.st_ino}:{st.st_ctime_ns}:{st.st_mtime_ns}:{st.st_size}"
