"""Verifying without OLD: the layer applied to OLD's index must give NEW's index.

Where OLD is not in the engine the processed image cannot be loaded and
compared with NEW there; what can be checked is the layer itself. Its
entries are read back (hashed anew), applied over OLD's index with their
whiteouts as an engine applies a layer (``archives.treescan.Overlay``), and
the result compared with NEW's index field by field: kind, mode, owner,
size, content digest, link target, device numbers, xattrs and hardlink
groups. Mtimes are not compared (as everywhere in the kit), except that a
`.pyc` must be exactly as fresh for its source as in NEW; byte-code the plan
kept from OLD must be equivalent to NEW's (``core.bytecode``).
"""

import tarfile
from pathlib import Path

from difflayers.archives.treescan import overlay_of
from difflayers.core import bytecode
from difflayers.core.names import escaped_text
from difflayers.core.plan import Plan
from difflayers.core.treeindex import FIELDS, groups, tree_key


def layer_differences(old: dict, layer: Path | None, new: dict, plan: Plan, tree_path: str) -> list:
    """What the image made of OLD + ``layer`` would show differently from NEW (empty: equal)."""
    overlay = overlay_of(tree_path, old)
    if layer is not None:
        with tarfile.open(layer, "r|", encoding="utf-8", errors="surrogateescape") as tar:
            overlay.apply(tar)
    return tree_differences(overlay.result(), new, set(plan.kept_from_old))


def tree_differences(got: dict, new: dict, kept=frozenset(), only=("missing", "not in NEW")) -> list:
    """Two trees' entries (name -> Entry) compared as the kit compares trees:
    every field but mtime, hardlink groups, byte-code freshness; ``kept``:
    byte-code that may be OLD's equivalent of NEW's; ``only``: how a name in
    one tree only is said (in ``new`` only, in ``got`` only)."""
    lines = []
    for name in sorted(set(got) | set(new), key=tree_key):
        made, wanted = got.get(name), new.get(name)
        shown = escaped_text(name)
        if made is None:
            lines.append(f"{only[0]}: {shown}")
        elif wanted is None:
            lines.append(f"{only[1]}: {shown}")
        elif not made.same_as(wanted) and not (name in kept and _equivalent(made, wanted)):
            fields = [f for f, a, b in zip(FIELDS, made, wanted) if a != b and f not in ("mtime", "group")]
            lines.append(f"differs in {', '.join(fields)}: {shown}")
    made_groups = {n: tuple(names) for names in groups(got).values() for n in names}
    new_groups = {n: tuple(names) for names in groups(new).values() for n in names}
    for name in sorted(set(made_groups) | set(new_groups), key=tree_key):
        if made_groups.get(name) != new_groups.get(name):
            lines.append(f"hardlinks differ: {escaped_text(name)}")

    def fresh(pyc_entry, source) -> bool:
        return pyc_entry.pyc is not None and pyc_entry.pyc.fresh_for(source)

    for name, entry in got.items():
        source = bytecode.source_of(name)
        if source and name in new and source in got and source in new:
            if fresh(entry, got[source]) != fresh(new[name], new[source]):
                lines.append(f"byte-code freshness differs: {escaped_text(name)}")
    return lines


def _equivalent(made, wanted) -> bool:
    same_rest = made._replace(digest="", mtime=0, pyc=None) == wanted._replace(digest="", mtime=0, pyc=None)
    return same_rest and made.pyc is not None and wanted.pyc is not None and made.pyc.code == wanted.pyc.code
