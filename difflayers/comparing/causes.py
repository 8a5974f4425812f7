"""Why each entry of a diff differs, read from the two mounted trees.

rsync says *that* a file changed; a real tree built by a package manager
changes for reasons that are not the user's edit: byte-code that embeds its
source's mtime, archives that embed times, and files whose only change is
their mtime (left out of the delta already). This module sorts the plan's
entries by cause, finds the byte-code that is equivalent to OLD's (see
``core.bytecode``), and the sources a shipped `.pyc` needs beside it to stay
fresh. Runs where the trees are: in the differ container or service.
"""

import os
import stat
from dataclasses import dataclass, field

from difflayers.core import bytecode, noise
from difflayers.core.breakdown import BYTECODE_MTIME, CONTENT, MTIME_ONLY
from difflayers.core.plan import Plan


@dataclass
class Causes:
    """What the differ found beyond rsync's log (names relative to the tree)."""

    # cause -> [entries, bytes of NEW's files]
    counts: dict = field(default_factory=dict)
    # Changed `.pyc` files equivalent to OLD's (only the embedded source mtime differs).
    equivalent_bytecode: list = field(default_factory=list)
    # Shipped (or, byte-exact, shippable) `.pyc` -> (its unchanged source, the source's bytes):
    # NEW's byte-code matches NEW's source mtime, not OLD's, so the source must go too.
    bytecode_sources: dict = field(default_factory=dict)

    def count(self, cause: str, size: int) -> None:
        entries, total = self.counts.get(cause, (0, 0))
        self.counts[cause] = [entries + 1, total + size]


def _read(path: str, size: int = -1) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _same_metadata(a: os.stat_result, b: os.stat_result) -> bool:
    same = (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid)
    return same and a.st_nlink == b.st_nlink == 1


def _lstat(path: str):
    try:
        return os.lstat(path)
    except OSError:  # not there, below a file, or below a link that loops
        return None


def find_causes(new_root: str, old_root: str, plan: Plan, mtime_only: list | None = None) -> Causes:
    """Sort ``plan.additions`` by cause; count unchanged files with new mtimes
    (``mtime_only``: [files, bytes] where the trees' indexes already counted them)."""
    found = Causes()
    shipped = set(plan.additions)
    for rel in plan.additions:
        new_path, old_path = os.path.join(new_root, rel), os.path.join(old_root, rel)
        new_info = os.lstat(new_path)
        if not stat.S_ISREG(new_info.st_mode):
            found.count(CONTENT, 0)
            continue
        old_info = None if rel in plan.new_paths else _lstat(old_path)
        changed_file = old_info is not None and stat.S_ISREG(old_info.st_mode)
        source = bytecode.source_of(rel)
        if source is not None and source not in shipped:
            if _needs_its_source(found, new_root, old_root, rel, source) and changed_file:
                if _equivalent(new_root, old_root, rel, source):
                    found.equivalent_bytecode.append(rel)
                    found.count(BYTECODE_MTIME, new_info.st_size)
                    continue
        if not changed_file:
            found.count(CONTENT, new_info.st_size)
            continue
        cause = noise.recognise(rel, lambda: open(old_path, "rb"), lambda: open(new_path, "rb"))
        found.count(cause or CONTENT, new_info.st_size)
    if mtime_only is None:
        _count_mtime_only(found, new_root, old_root, shipped)
    elif mtime_only[0]:
        found.counts[MTIME_ONLY] = list(mtime_only)
    return found


def _needs_its_source(found: Causes, new_root, old_root, rel, source) -> bool:
    """A `.pyc` NEW ships whose source does not ship: if NEW's byte-code is fresh
    only for NEW's mtime of that source, record that the source must go with it."""
    new_source, old_source = (_lstat(os.path.join(root, source)) for root in (new_root, old_root))
    if not all(info and stat.S_ISREG(info.st_mode) for info in (new_source, old_source)):
        return False
    new_header = bytecode.header(_read(os.path.join(new_root, rel), bytecode.HEADER_SIZE))
    if new_header is None or not new_header.fresh_for(new_source.st_mtime, new_source.st_size):
        return False  # stale in NEW too: shipping it alone keeps NEW's behaviour
    if new_header.fresh_for(old_source.st_mtime, old_source.st_size):
        return False  # OLD's source has the same mtime: fresh either way
    found.bytecode_sources[rel] = (source, new_source.st_size)
    return True


def _equivalent(new_root, old_root, rel, source) -> bool:
    """OLD's `.pyc` differs only in the embedded source mtime, is fresh for OLD's
    source, and has NEW's mode and owner: keeping OLD's pair behaves as NEW's."""
    new_path, old_path = os.path.join(new_root, rel), os.path.join(old_root, rel)
    old_data, new_data = _read(old_path), _read(new_path)
    if not bytecode.differ_only_in_source_mtime(old_data, new_data):
        return False
    old_source = os.lstat(os.path.join(old_root, source))
    return bytecode.header(old_data).fresh_for(old_source.st_mtime, old_source.st_size) and _same_metadata(
        os.lstat(new_path), os.lstat(old_path)
    )


def _count_mtime_only(found: Causes, new_root: str, old_root: str, shipped: set) -> None:
    """Regular files rsync left out whose only change is their mtime (what a naive
    rebuild ships again and the kit does not)."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(new_root, rel_dir)) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                elif entry.is_file(follow_symlinks=False) and rel not in shipped:
                    old = _lstat(os.path.join(old_root, rel))
                    info = entry.stat(follow_symlinks=False)
                    if old is not None and int(old.st_mtime) != int(info.st_mtime):
                        found.count(MTIME_ONLY, info.st_size)
