"""Compare two directory trees with rsync, and tidy the copies afterwards.

Pure of the engine: it only needs two folders, so the same code serves the
Compose differ and the property tests on plain directories.
"""

import os
import shutil
import stat
from pathlib import Path

from difflayers.adapters import process
from difflayers.core.itemize import iter_lines, parse
from difflayers.core.outputs import atomic_file
from difflayers.errors import UnsafePath

# Dry run of "make OLD's tree into NEW's": archive mode (perms, owners, links,
# devices and specials), hardlinks, xattrs, deletions, and content checksums so
# same-size same-mtime edits are found. Modification times are not compared
# (--no-times): a fresh checkout gives every file a new one, and a layer need
# not carry it, so the log lists only what the delta must change (directory
# mtimes are noise of the volume copy anyway). Numeric ids avoid name mapping.
RSYNC_OPTIONS = (
    "--dry-run",
    "--archive",
    "--no-times",
    "--hard-links",
    "--xattrs",
    "--omit-dir-times",
    "--numeric-ids",
    "--delete",
    "--checksum",
    "--itemize-changes",
    "--out-format=%i %n",
)
RSYNC_ENV = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def rsync_argv(new_root: str, old_root: str) -> list:
    """rsync's argv: trailing slashes compare the folders' contents."""
    return ["rsync", *RSYNC_OPTIONS, str(new_root).rstrip("/") + "/", str(old_root).rstrip("/") + "/"]


def itemize(new_root: str, old_root: str, log_path: Path) -> None:
    """Write rsync's itemized changes from OLD to NEW to ``log_path``, whole."""
    with atomic_file(log_path) as log:
        process.run(rsync_argv(new_root, old_root), stdout=log, env=RSYNC_ENV)


def check_no_symlink_on_the_way(log_path: Path, new_root: str, old_root: str) -> int:
    """Refuse a log naming a path that goes through a symlink or a file.

    Additions are looked up in NEW, deletions in OLD: every ancestor must be
    a real directory there, so neither the delta archive nor the removals
    can reach outside the compared tree through a link. Returns how many
    ancestors were looked at.
    """
    seen: set = set()
    with open(log_path, "rb") as log:
        for item in parse(iter_lines(log)):
            root = old_root if item.is_deletion else new_root
            parts = item.path.split("/")[:-1] if item.path != "." else []
            for depth in range(1, len(parts) + 1):
                ancestor = (root, "/".join(parts[:depth]))
                if ancestor in seen:
                    continue
                try:
                    is_dir = stat.S_ISDIR(os.lstat(os.path.join(*ancestor)).st_mode)
                except FileNotFoundError:
                    is_dir = False
                if not is_dir:
                    raise UnsafePath(f"{item.path!r} goes through {ancestor[1]!r}, which is not a directory")
                seen.add(ancestor)
    return len(seen)


def _regular_files(root: str):
    """(relative name, stat) of every regular file under ``root``, following no link."""
    stack = [("", root)]
    while stack:
        rel_dir, full_dir = stack.pop()
        with os.scandir(full_dir) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel, entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield rel, entry.stat(follow_symlinks=False)


def hardlink_groups(root: str) -> dict:
    """Relative name -> frozenset of all names sharing its inode (files with links only)."""
    by_inode: dict = {}
    for rel, info in _regular_files(root):
        if info.st_nlink > 1:
            by_inode.setdefault(info.st_ino, []).append(rel)
    return {name: frozenset(group) for group in by_inode.values() for name in group}


def file_bytes(root: str) -> int:
    """Bytes of the regular files under ``root``, each inode once."""
    return sum({info.st_ino: info.st_size for _, info in _regular_files(root)}.values())


def superseded_bytes(old_root: str, plan) -> int:
    """Bytes of OLD's files that NEW replaces or removes, each inode once.

    They stay in OLD's layers, below the delta, for every fresh pull: the
    dead weight a chain of deltas accumulates.
    """
    sizes: dict = {}
    real_dirs: set = set()
    for rel in (*plan.additions, *plan.removals):
        path = os.path.join(old_root, rel)
        info = _lstat_in_tree(old_root, rel, real_dirs)
        if info is None:
            continue  # new in NEW, or below something OLD has as a file or a link
        if stat.S_ISREG(info.st_mode):
            sizes[info.st_ino] = info.st_size
        elif stat.S_ISDIR(info.st_mode) and rel in plan.removals:
            sizes.update({i.st_ino: i.st_size for _, i in _regular_files(path)})
    return sum(sizes.values())


def _lstat_in_tree(root: str, rel: str, real_dirs: set):
    """``lstat`` of ``rel`` under ``root`` when every folder above it is a real
    directory there (``real_dirs``: those already seen), else None: a name
    below a symlink is not in the tree, and looking it up would follow the link."""
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        ancestor = "/".join(parts[:depth])
        if ancestor not in real_dirs:
            try:
                if not stat.S_ISDIR(os.lstat(os.path.join(root, ancestor)).st_mode):
                    return None
            except OSError:
                return None
            real_dirs.add(ancestor)
    try:
        return os.lstat(os.path.join(root, rel))
    except OSError:
        return None


def xattr_names(new_root: str, additions) -> dict:
    """NEW's extended attribute names of each entry to ship (those that have any).

    The engine's archives carry only some of them (moby's: security.capability);
    the methods check each shipped entry against this and refuse to drop one.
    """
    found = {}
    for rel in additions:
        try:
            names = os.listxattr(os.path.join(new_root, rel), follow_symlinks=False)
        except OSError:
            continue  # no xattr support for this kind of entry
        if names:
            found[rel] = sorted(names)
    return found


def relinked(new_root: str, old_root: str) -> list:
    """Names whose hardlink partners differ between the trees, sorted.

    rsync's dry run does not report a link that NEW broke (two names, same
    content, no longer one file), nor always a partner set that changed; the
    names found here are shipped too, so the result's links equal NEW's.
    """
    new_groups, old_groups = hardlink_groups(new_root), hardlink_groups(old_root)
    changed = {
        name
        for name in set(new_groups) | set(old_groups)
        if new_groups.get(name, frozenset([name])) != old_groups.get(name, frozenset([name]))
        and os.path.lexists(os.path.join(new_root, name))
    }
    return sorted(changed)


def empty_directory(root: str) -> None:
    """Remove everything inside ``root`` (not ``root`` itself), following no link."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
