"""The index differ: trees compared by their tree indexes, not by rsync.

- ``diff_stream``/``diff_tree``: NEW's tree, streamed once, against OLD's
  index. No tool image, volume or mount: the engine only exports NEW's tree,
  so OLD need not be in the engine at all (its index comes from the
  registry). As NEW passes, each entry is hashed and compared with OLD's;
  changed files are spooled (a tar of what the layer needs, in NEW's order)
  and NEW's own index is written.
- ``compare_indexes``: two indexes already made (the layer method's pass
  hashes both mounted trees), row by row.

Either way the changes become the same ``Item``s the rsync log gives, so
``core.plan.make_plan`` makes the plan (the property tests check that the
differs agree).
"""

import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from difflayers.adapters.streams import Counting
from difflayers.archives.dirindex import DirTree
from difflayers.archives.fstree import tar_reader
from difflayers.archives.treescan import group_leaders, scan
from difflayers.core import bytecode, treeindex
from difflayers.core.breakdown import BYTECODE_MTIME, CONTENT, MTIME_ONLY
from difflayers.core.itemize import ATTRIBUTE_COLUMNS, DELETING, Item
from difflayers.core.names import encode_rsync_name, under_any
from difflayers.core.plan import Plan, make_plan, with_bytecode_policy
from difflayers.core.treeindex import DIRECTORY, FILE, RSYNC_KIND, Entry, Writer, groups, tree_key
from difflayers.core.treeindex import read as read_index
from difflayers.errors import BadIndex

SPOOL_NAME = "changed-entries.tar"
NEW_INDEX_NAME = "new-tree-index.jsonl.gz"


@dataclass
class IndexDiff:
    """The plan, where its entries wait (``spool``), NEW's index, and what it cost."""

    plan: Plan
    spool: Path
    new_index: Path
    # Every entry the layer needs is in the spool; otherwise NEW must be read again.
    spool_complete: bool
    new_bytes_read: int = 0
    new_entries: int = 0
    equivalent_bytecode: list = field(default_factory=list)
    bytecode_sources: dict = field(default_factory=dict)  # pyc -> (its source, the source's size)
    causes: dict = field(default_factory=dict)  # as ``DiffRecord.causes``
    # What the chain policy weighs (``methods.remote.superseded_bytes``), where
    # the pass that compared both indexes counted it (None: not counted).
    superseded_bytes: int | None = None
    tree_bytes: int | None = None


def _attributes(old: Entry, new: Entry) -> str:
    """rsync's nine attribute columns for a changed entry (``core.itemize``)."""
    differs = {
        "c": old.digest != new.digest
        or old.link != new.link
        or (old.major, old.minor) != (new.major, new.minor),
        "s": old.size != new.size,
        "t": old.mtime != new.mtime,
        "p": old.mode != new.mode,
        "o": old.uid != new.uid,
        "g": old.gid != new.gid,
        "x": old.xattrs != new.xattrs,
    }
    return "".join(letter if differs.get(letter) else "." for letter in ATTRIBUTE_COLUMNS)


def items_for(old: Entry | None, new: Entry) -> list:
    """The itemized lines rsync would print for NEW's entry (none when equal)."""
    kind = RSYNC_KIND[new.kind]
    if old is None:
        return [Item(">" if new.kind == FILE else "c", kind, "+" * 9, new.name)]
    if old.kind != new.kind:
        # As rsync: the entry is created anew; OLD's children, if any, are deleted apart.
        return [Item(">" if new.kind == FILE else "c", kind, "+" * 9, new.name)]
    if new.same_as(old):
        return []
    return [Item(">" if new.kind == FILE else "c", kind, _attributes(old, new), new.name)]


@dataclass
class Compared:
    """What ``compare_indexes`` found: rsync's items and more, from indexes alone."""

    items: list  # as rsync's dry run itemizes OLD -> NEW, in tree order
    relink: list  # names whose hardlink partners differ (``comparing.rsync.relinked``)
    new_tree_bytes: int  # NEW's regular files' bytes, each hardlink group once
    mtime_only: list  # [files, bytes] unchanged but for their mtime
    keeps_old: frozenset = frozenset()  # directories where an entry of OLD stays (``Plan.keeps_old``)


def compare_indexes(old_rows: Iterable[bytes], new_rows: Iterable[bytes]) -> Compared:
    """OLD's tree against NEW's, both as index rows (``treeindex.encode``) in
    tree order: what rsync's dry run finds (``items_for``, removals, broken or
    moved hardlinks), without reading either tree again. The differ's pass
    hashes both trees for their indexes anyway; a second read by rsync cost as
    much again. Rows equal but for the mtime are told apart without decoding
    (most rows of a fresh checkout)."""
    items: list = []
    old_groups: dict = {}
    new_groups: dict = {}
    kept_files: set = set()  # grouped names OLD has as a file and NEW still has
    keeps_old: set = set()
    new_bytes = 0
    mtime_only = [0, 0]
    last_folder = None  # of the last plain row kept: siblings come together
    pairs = treeindex.paired(map(treeindex.Row, old_rows), map(treeindex.Row, new_rows), treeindex.row_key)
    for old_row, new_row in pairs:
        if old_row is not None and new_row is not None and old_row.plain and new_row.plain:
            # Both rows plain and in no hardlink group: equal unless a field but the mtime differs.
            before, after = old_row.fields, new_row.fields
            if before[:6] + before[7:] == after[:6] + after[7:]:
                folder = after[0].rpartition(b"/")[0] or b"."
                if after[0] != b"." and folder != last_folder:
                    keeps_old.add(folder.decode("ascii"))
                    last_folder = folder
                if after[1] == b"f":
                    size = int(after[5])
                    new_bytes += size
                    if before[6] != after[6]:
                        mtime_only[0] += 1
                        mtime_only[1] += size
                continue
        before = old_row.entry if old_row is not None else None
        after = new_row.entry if new_row is not None else None
        if after is None:
            items.append(Item("*", "d" if before.kind == DIRECTORY else "?", "", before.name))
        else:
            if before is not None and after.name != ".":
                keeps_old.add(os.path.dirname(after.name) or ".")
            changes = items_for(before, after)
            items += changes
            if after.kind == FILE:
                if not after.group or after.group == after.name:
                    new_bytes += after.size
                if not changes and before.mtime != after.mtime:
                    mtime_only[0] += 1
                    mtime_only[1] += after.size
            if after.group:
                new_groups.setdefault(after.group, []).append(after.name)
        if before is not None and before.group:
            old_groups.setdefault(before.group, []).append(before.name)
        if before is not None and after is not None and before.kind == FILE and (before.group or after.group):
            kept_files.add(before.name)
    old_partners, new_partners = _partners(old_groups), _partners(new_groups)
    relink = sorted(
        name for name in kept_files if old_partners.get(name, (name,)) != new_partners.get(name, (name,))
    )
    return Compared(items, relink, new_bytes, mtime_only, frozenset(keeps_old))


def _partners(groups_by_leader: dict) -> dict:
    """name -> every name of its hardlink group, in tree order."""
    found = {}
    for names in groups_by_leader.values():
        ordered = tuple(sorted(names, key=tree_key))
        found.update((name, ordered) for name in names)
    return found


def write_log(items: list, log) -> None:
    """``items`` as rsync's itemized log (``--out-format='%i %n'``) into the
    binary file ``log``; ``core.itemize`` reads it back: one log format
    whichever differ made it."""
    for item in items:
        name = encode_rsync_name(item.path) + (b"/" if item.kind == "d" else b"")
        flags = DELETING if item.is_deletion else f"{item.update}{item.kind}{item.attributes}".encode()
        log.write(flags + b" " + name + b"\n")


class _Spool:
    """The tar of what the layer may need: every directory's header (the layer
    writer places parents and whiteouts by them) and each changed entry."""

    def __init__(self, path: Path):
        self.path = path
        self._tar = tarfile.open(
            path, "w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
        )
        self.files: set = set()
        self.names: set = set()
        self.missing_targets: set = set()  # of hardlinks spooled: NEW must be read again

    def add(self, member: tarfile.TarInfo, content, rel: str, target: str = "") -> None:
        if member.isreg():
            self._tar.addfile(member, content.file)
            self.files.add(rel)
        elif member.islnk() and target not in self.files:
            self.missing_targets.add(target)
            self._tar.addfile(member)
        else:
            self._tar.addfile(member)
        self.names.add(rel)

    def close(self) -> None:
        self._tar.close()


def diff_stream(source, tree_path: str, old: dict, work_dir: Path, byte_exact: bool = False) -> IndexDiff:
    """Compare NEW's tree (``source``: a tar stream from the archive endpoint)
    with OLD's index (``old``: name -> Entry); write the spool and NEW's index
    into ``work_dir``."""
    return diff_tree(_NewTree(source, tree_path, work_dir / NEW_INDEX_NAME), old, work_dir, byte_exact)


def diff_tree(new_tree, old: dict, work_dir: Path, byte_exact: bool = False) -> IndexDiff:
    """As ``diff_stream``, for any NEW tree that yields (member, entry, content)
    in tree order and then knows its index (``dest``), hardlink ``leaders``,
    ``entries`` and ``bytes_read`` (``_NewTree``; ``methods.registrytree``)."""
    spool = _Spool(work_dir / SPOOL_NAME)
    remaining = _Remaining(old)
    items: list = []
    keeps_old: set = set()
    new_pyc: dict = {}  # NEW's `.pyc` -> its entry, for the byte-code rule
    new_files: dict = {}  # NEW's sources of those, filled as they pass
    sizes: dict = {}  # changed files -> NEW's size, for the breakdown by cause
    mtime_only = [0, 0]  # unchanged files with a new mtime: entries, bytes
    for member, entry, content in new_tree:
        rel = entry.name
        remaining.passed(rel)
        before = old.get(rel)
        if before is not None and rel != ".":
            keeps_old.add(os.path.dirname(rel) or ".")
        changes = items_for(before, entry)
        items += changes
        if entry.kind == FILE:
            if changes:
                sizes[rel] = entry.size
            elif before.mtime != entry.mtime:
                mtime_only[0] += 1
                mtime_only[1] += entry.size
        if changes or member.isdir() or (member.islnk() and entry.group in spool.files):
            spool.add(member, content, rel, entry.group)
        if entry.pyc is not None and bytecode.source_of(rel):
            new_pyc[rel] = entry
        if entry.kind == FILE and rel.endswith(".py"):
            new_files[rel] = entry
    spool.close()
    remaining = remaining.rest()
    items += [Item("*", "d" if old[name].kind == DIRECTORY else "?", "", name) for name in remaining]
    relink = _relinked(old, new_tree.leaders, remaining)
    found = make_plan(sorted(items, key=lambda i: tree_key(i.path)), relink)
    plan, equivalent, sources = _bytecode(found, old, new_pyc, new_files, byte_exact)
    sizes.update((name, old[name].size) for name in relink if name not in sizes)
    causes = _causes(found, sizes, set(equivalent), mtime_only)
    complete = set(plan.additions) <= spool.names and not spool.missing_targets
    # The spool lacks the unchanged entries from which the layer writer would
    # learn which directories keep OLD's entries (no opaque whiteout there).
    plan = replace(plan, keeps_old=frozenset(keeps_old))
    return IndexDiff(
        plan,
        spool.path,
        new_tree.dest,
        complete,
        new_tree.bytes_read,
        new_tree.entries,
        equivalent,
        sources,
        causes,
    )


def diff_indexes(old_index: Path, new_index: Path, path: str, byte_exact: bool = False) -> IndexDiff:
    """As ``diff_tree``, where NEW's index was made first, from its mounted tree
    (``comparing.indexpass``): both indexes compared row by row
    (``compare_indexes``), and only the entries the plan and the byte-code rule
    name are decoded. At 100,000 files, 2.6 s against 6.7 s for NEW read
    through tar headers and looked up in OLD's index held whole. Nothing is
    spooled: NEW is read again where it is for the layer."""
    with open(old_index, "rb") as old_lines, open(new_index, "rb") as new_lines:
        compared = compare_indexes(treeindex.rows(old_lines, path), treeindex.rows(new_lines, path))
    found = make_plan(sorted(compared.items, key=lambda i: tree_key(i.path)), compared.relink)
    wanted = set(found.additions) | set(compared.relink)
    wanted |= {bytecode.source_of(name) for name in found.additions} - {None}
    removed = frozenset(found.removals)
    old = _entries_named(old_index, path, wanted, below=removed)
    new = _entries_named(new_index, path, wanted)
    new_pyc = {name: e for name, e in new.items() if e.pyc is not None and bytecode.source_of(name)}
    new_files = {name: e for name, e in new.items() if e.kind == FILE and name.endswith(".py")}
    plan, equivalent, sources = _bytecode(found, old, new_pyc, new_files, byte_exact)
    sizes = {name: new[name].size for name in found.additions if name in new and new[name].kind == FILE}
    sizes.update((name, old[name].size) for name in compared.relink if name not in sizes)
    causes = _causes(found, sizes, set(equivalent), compared.mtime_only)
    return IndexDiff(
        replace(plan, keeps_old=compared.keeps_old),
        None,
        Path(new_index),
        True,
        equivalent_bytecode=equivalent,
        bytecode_sources=sources,
        causes=causes,
        superseded_bytes=_superseded(old, set(plan.additions) - plan.new_paths, removed),
        tree_bytes=compared.new_tree_bytes,
    )


def _entries_named(index: Path, path: str, names: set, below=frozenset()) -> dict:
    """name -> Entry of the index at ``index`` for ``names`` and the names
    ``below`` any of ``below`` only; the other rows are matched
    (``treeindex.plain_row``), not decoded."""
    found: dict = {}
    if not names and not below:
        return found

    def wanted(name: str) -> bool:
        return name in names or (bool(below) and under_any(name, below))

    with open(index, "rb") as handle:
        for line in treeindex.rows(handle, path):
            match = treeindex.plain_row(line)
            if match is not None and not wanted(match.group(1).decode("ascii")):
                continue
            entry = treeindex.decode(line, 0)
            if wanted(entry.name):
                found[entry.name] = entry
    return found


def _superseded(old: dict, replaced: set, removed: frozenset) -> int:
    """Bytes of OLD's files the layer replaces or removes, a hardlink group once
    (as ``methods.remote.superseded_bytes`` counts them from both indexes held)."""
    seen, count = set(), 0
    for name, entry in old.items():
        if entry.kind != FILE or not (name in replaced or under_any(name, removed)):
            continue
        if entry.group:
            if entry.group in seen:
                continue
            seen.add(entry.group)
        count += entry.size
    return count


def _causes(plan: Plan, sizes: dict, equivalent: set, mtime_only: list) -> dict:
    """The breakdown's causes (``core.breakdown``), as the differ's record keeps them.
    Build noise inside files (gzip and zip times) needs both contents, which OLD's
    index does not hold: such files count as content here."""
    causes: dict = {}
    for name in plan.additions:
        cause = BYTECODE_MTIME if name in equivalent else CONTENT
        entries, total = causes.get(cause, (0, 0))
        causes[cause] = [entries + 1, total + sizes.get(name, 0)]
    if mtime_only[0]:
        causes[MTIME_ONLY] = list(mtime_only)
    return causes


class _NewTree:
    """NEW's tree read once from the engine's archive stream: each (member,
    entry, content) goes to the caller, and NEW's index is written as they pass
    (``dest``); the hardlink groups' leaders, known once the stream has ended,
    are filled in then (``leaders``)."""

    def __init__(self, source, tree_path: str, dest: Path, keep=True):
        # A byte stream is counted as it passes; a tar-like reader (``FsTree``) counts itself.
        readers = hasattr(source, "extractfile") or isinstance(source, DirTree)
        self.source = source if readers else Counting(source)
        self.tree_path, self.dest = tree_path, dest
        self.keep = keep  # False: NEW's index only, no content for a caller
        self.entries = 0
        self.leaders: dict = {}

    @property
    def bytes_read(self) -> int:
        return self.source.count if isinstance(self.source, Counting) else self.source.bytes_read

    def __iter__(self):
        links: dict = {}
        partial = self.dest.with_name(self.dest.name + ".partial")
        with open(partial, "wb") as handle:
            writer = Writer(handle, self.tree_path)
            for member, entry, content in self._scanned():
                self.entries += 1
                if entry.group:
                    links[entry.name] = entry.group
                writer.add(entry._replace(group=""))
                yield member, entry, content
            writer.close()
        self.leaders = group_leaders(links)
        if self.leaders:
            _with_groups(partial, self.dest, self.tree_path, self.leaders)
        else:
            os.replace(partial, self.dest)  # no hardlinks: the index as written is whole

    def _scanned(self):
        if isinstance(self.source, DirTree):  # entries only, read in place
            yield from ((None, entry, None) for entry in self.source.entries())
            return
        with tar_reader(self.source) as tar:
            yield from scan(tar, os.path.basename(self.tree_path), self.dest.parent, self.keep)


def index_stream(source, tree_path: str, dest: Path) -> tuple:
    """Only the index of a tree (no OLD to compare with): (entries, bytes read).
    ``source``: a tar stream of the tree, a tar-like reader (``fstree.FsTree``),
    or a mounted tree's entries (``dirindex.DirTree``, the quickest)."""
    new_tree = _NewTree(source, tree_path, dest, keep=False)
    for _ in new_tree:
        pass
    return new_tree.entries, new_tree.bytes_read


class _Remaining:
    """OLD's names that NEW lacks, found as NEW passes in tree order: a walk of
    OLD's names beside NEW's where OLD is held in tree order (``treeindex.Held``:
    no set of a whole tree's names), else a set."""

    def __init__(self, old):
        self._ordered = getattr(old, "in_tree_order", False)
        self._names = iter(old) if self._ordered else set(old)
        self._gone: list = []
        self._next = next(self._names, None) if self._ordered else None

    def passed(self, name: str) -> None:
        if not self._ordered:
            self._names.discard(name)
            return
        if self._next is None or self._next == name:
            self._next = next(self._names, None) if self._next == name else None
            return
        key = tree_key(name)
        while self._next is not None and tree_key(self._next) < key:
            self._gone.append(self._next)
            self._next = next(self._names, None)
        if self._next == name:
            self._next = next(self._names, None)

    def rest(self) -> set:
        if not self._ordered:
            return self._names
        if self._next is not None:
            self._gone.append(self._next)
            self._gone.extend(self._names)
            self._next = None
        return set(self._gone)


def _relinked(old: dict, leaders: dict, removed: set) -> list:
    """Files of OLD still in NEW (not ``removed``) whose hardlink partners differ."""
    old_groups = groups(old)
    old_partners = {name: tuple(names) for names in old_groups.values() for name in names}
    new_members: dict = {}
    for name, leader in leaders.items():
        new_members.setdefault(leader, []).append(name)
    new_partners = {
        name: tuple(sorted(names, key=tree_key)) for names in new_members.values() for name in names
    }
    changed = []
    for name in set(old_partners) | set(new_partners):
        if (
            name in old
            and name not in removed
            and old[name].kind == FILE
            and old_partners.get(name, (name,)) != new_partners.get(name, (name,))
        ):
            changed.append(name)
    return changed


def _bytecode(plan: Plan, old: dict, new_pyc: dict, new_files: dict, byte_exact: bool) -> tuple:
    """The byte-code rule of ``comparing.causes``, on index entries."""
    shipped = set(plan.additions)
    equivalent, sources = [], {}
    for rel in plan.additions:
        entry, source = new_pyc.get(rel), bytecode.source_of(rel)
        if entry is None or source in shipped or rel in plan.new_paths:
            continue
        before, new_source, old_source = old.get(rel), new_files.get(source), old.get(source)
        if before is None or new_source is None or old_source is None or old_source.kind != FILE:
            continue
        if not entry.pyc.fresh_for(new_source) or entry.pyc.fresh_for(old_source):
            continue
        sources[rel] = (source, new_source.size)
        if (
            before.pyc is not None
            and before.pyc.code == entry.pyc.code
            and before.size == entry.size
            and before.pyc.fresh_for(old_source)
            and (before.mode, before.uid, before.gid) == (entry.mode, entry.uid, entry.gid)
            and not before.group
            and not entry.group
        ):
            equivalent.append(rel)
    policy_sources = {pyc: source for pyc, (source, _) in sources.items()}
    return with_bytecode_policy(plan, equivalent, policy_sources, byte_exact), equivalent, sources


def _with_groups(partial: Path, dest: Path, tree_path: str, leaders: dict) -> None:
    """NEW's index with hardlink groups, known only once the stream has ended."""
    with open(partial, "rb") as source, open(dest, "wb") as handle:
        writer = Writer(handle, tree_path)
        try:
            for entry in read_index(source, tree_path):
                writer.add(entry._replace(group=leaders.get(entry.name, "")))
        except BadIndex as exc:
            raise BadIndex(f"NEW's tree was not streamed in tree order ({exc})") from None
        writer.close()
    partial.unlink()
