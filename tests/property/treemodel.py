"""Random directory trees for property tests, and tools to compare and apply.

The comparison and the apply step here share no code with the kit: ``snapshot``
walks a tree with ``os.lstat``; ``unpack`` follows what the engine does when
it adds a tar (an existing entry of another type is removed first; links are
never followed).
"""

import hashlib
import os
import shutil
import stat
import tarfile
from pathlib import Path

from hypothesis import strategies as st

# Names that have broken tools before: spaces at either end, control
# characters, rsync's own escape syntax, shell metacharacters, the text rsync
# uses for link targets, non-ASCII, a byte that is not UTF-8, a long name.
ODD_NAMES = [
    "a",
    "b",
    "dir",
    " lead",
    "trail ",
    "tab\tname",
    "new\nline",
    "back\\slash",
    "lit\\#012",
    "q'\"",
    "*?[",
    "-dash",
    "x -> y",
    "caf\u00e9",
    "\U0001f433",
    "latin-\udce9",
    "n" * 250,
]
CONTENTS = [b"", b"x", b"y" * 3000]
FILE_MODES = [0o644, 0o755, 0o600, 0o4755, 0o2755]
DIR_MODES = [0o755, 0o700, 0o1777]
OWNERS = [(0, 0), (1000, 1000), (0, 50)]

names = st.sampled_from(ODD_NAMES)
owners = st.sampled_from(OWNERS)
files = st.tuples(st.just("file"), st.sampled_from(CONTENTS), st.sampled_from(FILE_MODES), owners)
links = st.tuples(
    st.just("symlink"), st.sampled_from(["a", "../a", "dir/b", "/etc/passwd", "missing", "x -> y"]), owners
)
fifos = st.tuples(st.just("fifo"), st.sampled_from([0o644, 0o600]), owners)
hardlinks = st.tuples(st.just("hardlink"), st.sampled_from(ODD_NAMES))


# Pairs (OLD, NEW) that broke the kit or a differ before, run on every test run.
HARD_CASES = [
    # rsync's dry run is silent when NEW breaks a hardlink pair apart.
    (
        {"a": ("file", b"x", 0o644, (0, 0)), "b": ("hardlink", "a")},
        {"a": ("file", b"x", 0o644, (0, 0)), "b": ("file", b"x", 0o644, (0, 0))},
    ),
    # A new name linked to an unchanged file stays linked to it.
    ({"b": ("file", b"x", 0o644, (0, 0))}, {"b": ("file", b"x", 0o644, (0, 0)), "a": ("hardlink", "b")}),
    # A file replaced by a directory, and a directory by a symlink.
    (
        {
            "f": ("file", b"x", 0o644, (0, 0)),
            "d": ("dir", 0o755, (0, 0), {"c": ("file", b"", 0o600, (1000, 1000))}),
        },
        {"f": ("dir", 0o700, (0, 0), {"g": ("fifo", 0o600, (0, 0))}), "d": ("symlink", "f", (0, 0))},
    ),
    # A symlink to itself replaced by a directory: OLD's names below it are not
    # looked up through the link (its loop stopped the differ).
    ({"a": ("symlink", "a", (0, 0))}, {"a": ("dir", 0o755, (0, 0), {"a": ("hardlink", "a")})}),
]


def trees(depth=2):
    leaf = st.one_of(files, files, links, fifos, hardlinks)
    if depth == 0:
        return st.dictionaries(names, leaf, max_size=4)
    node = st.one_of(
        leaf,
        st.tuples(st.just("dir"), st.sampled_from(DIR_MODES), owners, st.deferred(lambda: trees(depth - 1))),
    )
    return st.dictionaries(names, node, max_size=5)


def materialize(spec: dict, root: Path) -> None:
    """Create ``spec`` under ``root`` (which must exist). Needs root for chown."""
    pending_links = []

    def build(node_spec, here: Path):
        for name, node in node_spec.items():
            path = here / name
            kind = node[0]
            if kind == "file":
                path.write_bytes(node[1])
                os.chown(path, *node[3])
                os.chmod(path, node[2])
            elif kind == "symlink":
                os.symlink(node[1], path)
                os.lchown(path, *node[2])
            elif kind == "fifo":
                os.mkfifo(path)
                os.chown(path, *node[2])
                os.chmod(path, node[1])
            elif kind == "hardlink":
                pending_links.append((path, here / node[1]))
            elif kind == "dir":
                path.mkdir()
                build(node[3], path)
                os.chown(path, *node[2])
                os.chmod(path, node[1])

    build(spec, root)
    for path, target in pending_links:
        if target.is_file() and not target.is_symlink():
            os.link(target, path)
        else:
            path.write_bytes(b"hardlink target was not a file")


def snapshot(root: Path) -> dict:
    """path -> (type, mode, uid, gid, content digest or link target), plus hardlink groups."""
    entries, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["."] if dirpath == str(root) else []:
            st_ = os.lstat(dirpath)
            entries["."] = ("dir", stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid, "")
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st_ = os.lstat(full)
            mode = stat.S_IMODE(st_.st_mode)
            if stat.S_ISDIR(st_.st_mode):
                entry = ("dir", mode, st_.st_uid, st_.st_gid, "")
            elif stat.S_ISLNK(st_.st_mode):
                entry = ("symlink", 0, st_.st_uid, st_.st_gid, os.readlink(full))
            elif stat.S_ISREG(st_.st_mode):
                with open(full, "rb") as handle:
                    entry = ("file", mode, st_.st_uid, st_.st_gid, hashlib.sha256(handle.read()).hexdigest())
                inodes.setdefault(st_.st_ino, []).append(rel)
            elif stat.S_ISFIFO(st_.st_mode):
                entry = ("fifo", mode, st_.st_uid, st_.st_gid, "")
            else:
                entry = ("other", mode, st_.st_uid, st_.st_gid, "")
            entries[rel] = entry
    groups = {rel: tuple(sorted(group)) for group in inodes.values() if len(group) > 1 for rel in group}
    return {rel: entry + (groups.get(rel, ()),) for rel, entry in entries.items()}


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def unpack(archive: Path, prefix: str, dest: Path) -> None:
    """Extract members named ``prefix/...`` into ``dest`` as the engine's ADD does."""
    with tarfile.open(archive, encoding="utf-8", errors="surrogateescape") as tar:
        for member in tar:
            rel = "." if member.name == prefix else member.name[len(prefix) + 1 :]
            path = dest / rel if rel != "." else dest
            if os.path.lexists(path) and not (member.isdir() and path.is_dir() and not path.is_symlink()):
                remove(path)
            if member.isdir():
                path.mkdir(exist_ok=True)
            elif member.isreg():
                with open(path, "wb") as handle:
                    shutil.copyfileobj(tar.extractfile(member), handle)
            elif member.issym():
                os.symlink(member.linkname, path)
            elif member.islnk():
                os.link(dest / member.linkname[len(prefix) + 1 :], path)
                continue  # a hardlink shares its target's metadata
            elif member.isfifo():
                os.mkfifo(path)
            os.lchown(path, member.uid, member.gid)
            if not member.issym():
                os.chmod(path, member.mode)
