"""Verifying without OLD: the layer applied to OLD's index must give NEW's index.

Where OLD is not in the engine the processed image cannot be loaded and
compared with NEW there; what can be checked is the layer itself. Its
entries are read back (hashed anew), applied over OLD's index with their
whiteouts as an engine applies a layer (``archives.treescan.LayerChanges``),
and the result compared with NEW's index field by field: kind, mode, owner,
size, content digest, link target, device numbers, xattrs and hardlink
groups. Mtimes are not compared (as everywhere in the kit), except that a
`.pyc` must be exactly as fresh for its source as in NEW; byte-code the plan
kept from OLD must be equivalent to NEW's (``core.bytecode``).

Both indexes are streamed in tree order, side by side: what is held is the
layer's entries, the hardlinked names and the `.py` sources' stamps, never a
whole tree, so a million entries are checked in a few megabytes.
"""

import heapq
import io
import itertools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from difflayers.archives.tarstream import open_tar
from difflayers.archives.treescan import LayerChanges
from difflayers.core import bytecode, treeindex
from difflayers.core.names import escaped_text, under_any
from difflayers.core.plan import Plan
from difflayers.core.treeindex import DIRECTORY, FIELDS, Entry, Row, paired, row_key, tree_key

_APART = ("mtime", "group")  # not compared, or compared apart
# A side of a comparison: (entry, hardlink group key or None), in tree order.
Side = Iterable[tuple]


def layer_differences(old, layer: Path | None, new, plan: Plan, tree_path: str) -> list:
    """What the image made of OLD + ``layer`` would show differently from NEW
    (empty: equal); ``old`` and ``new``: the indexes (bytes, their rows streamed
    side by side: no tree held), or entries streamed in tree order
    (``treeindex.read``), or held (name -> Entry)."""
    changes = LayerChanges()
    if layer is not None:
        with open_tar(layer) as tar:
            changes = LayerChanges.read(tar, tree_path.strip("/"))
    if isinstance(old, bytes) and isinstance(new, bytes):
        old, new = _unalike(old, new, changes, tree_path)
    return differences(applied(_streamed(old), changes), grouped(_streamed(new)), set(plan.kept_from_old))


def _unalike(old: bytes, new: bytes, changes: LayerChanges, tree_path: str) -> tuple:
    """Both indexes' entries (as two streams in tree order) less the names that
    cannot differ: untouched by the layer, and given by rows of the quick form
    (``treeindex.plain_row``: no hardlink group, xattrs or byte-code record)
    whose fields but the mtime are the same bytes, neither Python source nor
    byte-code. A fresh checkout's rows differ in every mtime; decoding 100,000
    of them on each side cost 1.2 s. Both indexes were read (checked) or
    written by this run, so their rows are in tree order."""
    added = set(changes.added)
    # A layer's directory over OLD's keeps what is below it; anything else drops it.
    over = {name for name, entry in changes.added.items() if entry.kind != DIRECTORY}

    def untouched(name: str) -> bool:
        return name not in added and not (over and under_any(name, over)) and not changes.hides(name)

    def left_out(a, b) -> bool:
        if a is None or b is None or not (a.plain and b.plain):
            return False
        before, after = a.fields, b.fields
        if before[:6] + before[7:] != after[:6] + after[7:]:
            return False
        name = after[0].decode("ascii")
        return not (name.endswith(".py") or bytecode.source_of(name)) and untouched(name)

    def kept() -> Iterator[tuple]:
        rows = (map(Row, treeindex.rows(io.BytesIO(data), tree_path)) for data in (old, new))
        for a, b in paired(*rows, row_key):
            if not left_out(a, b):
                yield (a.entry if a is not None else None), (b.entry if b is not None else None)

    left, right = itertools.tee(kept())
    return (a for a, _ in left if a is not None), (b for _, b in right if b is not None)


def _streamed(entries) -> Iterable[Entry]:
    if getattr(entries, "in_tree_order", False):  # treeindex.Held
        return entries.values()
    if isinstance(entries, Mapping):
        return (entries[name] for name in sorted(entries, key=tree_key))
    return entries


def applied(old: Iterable[Entry], changes: LayerChanges) -> Iterator[tuple]:
    """OLD's entries (tree order) with one layer applied, in tree order: hidden
    entries dropped, the layer's entries in place of or beside OLD's, the
    contents of a directory the layer replaces by a non-directory dropped.
    Hardlink groups are keyed by the layer they come from, as an engine's
    inodes are: a name the layer adds leaves OLD's group."""
    added = dict(changes.added.items())  # the layer's: few
    targets = set(changes.linked.values())  # a tar names a link's target first
    replaced = changes.replaced
    replaced_dirs: set = set()
    layer_side = sorted(((tree_key(e.name), e) for e in added.values()), key=lambda pair: pair[0])

    def below() -> Iterator[tuple]:
        for entry in old:
            name = entry.name
            if changes.hides(name) or (replaced_dirs and under_any(name, replaced_dirs)):
                continue
            if name in added:
                if name in replaced and entry.kind == DIRECTORY:
                    replaced_dirs.add(name)
                continue
            yield (tree_key(name) if layer_side else None), 0, entry

    on_top = ((key, 1, entry) for key, entry in layer_side)
    rows = heapq.merge(below(), on_top, key=lambda row: row[0]) if layer_side else below()
    for _, layer_number, entry in rows:
        leader = entry.group or (entry.name if layer_number and entry.name in targets else "")
        yield entry._replace(group=""), ((layer_number, leader) if leader else None)


def grouped(entries: Iterable[Entry]) -> Iterator[tuple]:
    """An index's entries as a side: each hardlink group keyed by its leader."""
    for entry in entries:
        yield entry, entry.group or None


def tree_differences(got: dict, new: dict, kept=frozenset(), only=("missing", "not in NEW")) -> list:
    """Two trees' entries held as dicts (name -> Entry), compared as ``differences``."""
    return differences(_in_order(got), _in_order(new), kept, only)


def _in_order(entries: dict) -> Iterator[tuple]:
    return grouped(_streamed(entries))


def differences(got: Side, new: Side, kept=frozenset(), only=("missing", "not in NEW")) -> list:
    """Two trees compared as the kit compares trees: every field but mtime,
    hardlink groups, byte-code freshness; ``kept``: byte-code that may be
    OLD's equivalent of NEW's; ``only``: how a name in one tree only is said
    (in ``new`` only, in ``got`` only). Both sides are streamed in tree order."""
    lines = []
    sides = (_Held(), _Held())  # got's and new's hardlinks and byte-code stamps
    pycs = []  # names of byte-code in both trees, for the freshness check
    for made, wanted in paired(got, new, _key, _same):
        name = (made or wanted)[0].name
        shown = escaped_text(name)
        for held, pair in zip(sides, (made, wanted)):
            if pair is not None:
                held.note(*pair)
        if made is None:
            lines.append(f"{only[0]}: {shown}")
        elif wanted is None:
            lines.append(f"{only[1]}: {shown}")
        else:
            made, wanted = made[0], wanted[0]
            if bytecode.source_of(name):
                pycs.append(name)
            if not made.same_as(wanted) and not (name in kept and _equivalent(made, wanted)):
                fields = [f for f, a, b in zip(FIELDS, made, wanted) if a != b and f not in _APART]
                lines.append(f"differs in {', '.join(fields)}: {shown}")
    made_groups, new_groups = (held.groups() for held in sides)
    for name in sorted(set(made_groups) | set(new_groups), key=tree_key):
        if made_groups.get(name) != new_groups.get(name):
            lines.append(f"hardlinks differ: {escaped_text(name)}")
    for name in pycs:
        fresh = [held.fresh(name) for held in sides]
        if None not in fresh and fresh[0] != fresh[1]:
            lines.append(f"byte-code freshness differs: {escaped_text(name)}")
    return lines


def _key(pair: tuple) -> tuple:
    return tree_key(pair[0].name)


def _same(a: tuple, b: tuple) -> bool:
    return a[0].name == b[0].name


class Stamp(NamedTuple):
    """What byte-code freshness reads of a source (``treeindex.Pyc.fresh_for``)."""

    mtime: int
    size: int


class _Held:
    """What one side's streamed comparison keeps: its hardlink groups and the
    stamps of its `.py` files and byte-code (a few per cent of a tree)."""

    def __init__(self):
        self._group_of: dict = {}  # hardlinked name -> group key
        self._py: dict = {}  # a.py -> its Stamp
        self._pyc: dict = {}  # byte-code name -> Pyc or None

    def note(self, entry: Entry, group) -> None:
        if group is not None:
            self._group_of[entry.name] = group
        if entry.name.endswith(".py"):
            self._py[entry.name] = Stamp(entry.mtime, entry.size)
        elif bytecode.source_of(entry.name):
            self._pyc[entry.name] = entry.pyc

    def groups(self) -> dict:
        """name -> the names of its hardlink group (groups of two names or more)."""
        members: dict = {}
        for name, key in self._group_of.items():
            members.setdefault(key, []).append(name)
        found = {}
        for names in members.values():
            if len(names) > 1:
                group = tuple(sorted(names, key=tree_key))
                found.update(dict.fromkeys(names, group))
        return found

    def fresh(self, name: str):
        """Would Python use this byte-code beside its source? None: no source."""
        source = self._py.get(bytecode.source_of(name))
        if source is None:
            return None
        pyc = self._pyc.get(name)
        return pyc is not None and pyc.fresh_for(source)


def _equivalent(made, wanted) -> bool:
    same_rest = made._replace(digest="", mtime=0, pyc=None) == wanted._replace(digest="", mtime=0, pyc=None)
    return same_rest and made.pyc is not None and wanted.pyc is not None and made.pyc.code == wanted.pyc.code
