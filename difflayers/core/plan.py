"""Turn itemized changes into a plan: what to ship from NEW, what to remove.

The plan is pure data, sorted, so the files rendered from it are deterministic.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from difflayers.core.itemize import Item
from difflayers.core.names import is_under


@dataclass(frozen=True)
class Plan:
    """Entries to copy from NEW (with their metadata) and paths to remove.

    ``additions`` are relative paths in NEW; every one is listed on its own
    (rsync itemizes each new file, so a new directory does not imply its
    children). ``removals`` are the top-most paths to delete from OLD; a
    directory's deleted children are covered by the directory itself.
    """

    additions: tuple = ()
    removals: tuple = ()
    created: int = 0
    changed: int = 0
    kinds: dict = field(default_factory=dict, compare=False)
    # Additions that did not exist in OLD at all: the layer writer may hide a
    # whole directory of OLD (opaque whiteout) when all its entries are new.
    new_paths: frozenset = field(default_factory=frozenset, compare=False)
    # Extended attribute names NEW has on shipped entries (path -> names), from
    # the differ: the archive writers refuse an entry whose stream lacks one.
    xattrs: dict = field(default_factory=dict, compare=False)
    # The byte-code rule's doing (``with_bytecode_policy``): changed `.pyc` files
    # left as OLD has them, and unchanged sources shipped for the byte-code's sake.
    kept_from_old: tuple = ()
    sources_for_bytecode: tuple = ()
    # Directories that keep an entry of OLD, when the differ knows them (the
    # index differ's spool lacks the unchanged entries the layer writer would
    # otherwise learn it from); None: learnt from NEW's stream.
    keeps_old: frozenset | None = field(default=None, compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.additions and not self.removals


def collapse_removals(paths: Iterable[str]) -> list:
    """Keep only the top-most paths: removing a directory removes its contents.

    >>> collapse_removals(["a/b", "a", "c/d", "c/d/e"])
    ['a', 'c/d']
    """
    kept: list = []
    for path in sorted(set(paths), key=_tree_order):
        if not kept or not is_under(path, kept[-1]):
            kept.append(path)
    return sorted(kept)


def _tree_order(path: str) -> tuple:
    # Component-wise order puts a directory right before everything below it,
    # which plain string order does not ("a/b" sorts after "a-c").
    return tuple(path.split("/")) if path != "." else ()


def make_plan(items: Iterable[Item], relink: Iterable[str] = ()) -> Plan:
    """Build a ``Plan`` from parsed items (see ``itemize.parse``).

    ``relink`` names files whose hardlink partners changed where rsync does
    not say so (see ``trees.relinked``); they are shipped as changed files.
    """
    additions: dict = {}
    removed: list = []
    new_paths: set = set()
    created = changed = 0
    for item in items:
        if item.is_deletion:
            removed.append(item.path)
        elif item.is_significant:
            additions[item.path] = item.kind
            if item.is_creation:
                new_paths.add(item.path)
            if item.is_creation or item.is_hardlink:
                created += 1
            else:
                changed += 1
    for path in relink:
        if path not in additions:
            additions[path] = "f"
            changed += 1
    # A directory replaced by a file or link: rsync deletes only the children.
    # Removing the directory itself first leaves a clean place for the entry.
    for path, kind in additions.items():
        if kind != "d" and any(is_under(r, path) for r in removed):
            removed.append(path)
    return Plan(
        additions=tuple(sorted(additions, key=_tree_order)),
        removals=tuple(collapse_removals(removed)),
        created=created,
        changed=changed,
        kinds=additions,
        new_paths=frozenset(new_paths),
    )


def with_bytecode_policy(plan: Plan, equivalent, sources: dict, byte_exact: bool = False) -> Plan:
    """The plan with the byte-code rule applied (see ``core.bytecode``).

    By default a `.pyc` in ``equivalent`` (only its embedded source mtime
    differs) is not shipped: OLD's pair stays, as fresh as NEW's. With
    ``byte_exact`` it is shipped. Either way a shipped `.pyc` named in
    ``sources`` (pyc -> its unchanged source) takes its source along, so the
    source's mtime is NEW's and the byte-code is not stale.
    """
    dropped = set() if byte_exact else set(equivalent) & set(plan.additions)
    kinds = {path: kind for path, kind in plan.kinds.items() if path not in dropped}
    added = []
    for pyc, source in sorted(sources.items()):
        if pyc in kinds and source not in kinds:
            kinds[source] = "f"
            added.append(source)
    if not dropped and not added:
        return plan
    return replace(
        plan,
        additions=tuple(sorted(kinds, key=_tree_order)),
        changed=plan.changed - len(dropped) + len(added),
        kinds=kinds,
        kept_from_old=tuple(sorted(dropped)),
        sources_for_bytecode=tuple(sorted(added)),
    )
