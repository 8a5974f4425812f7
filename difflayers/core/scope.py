"""Several ``--path`` options: their union, compared under the folder that holds them all.

The kit compares one directory per pass. Given ``/app`` and ``/root/.npm`` it
compares the folder holding both (``/``), whose plan is exact there, and ships
it only when every entry the plan names lies in one of the paths or is a
folder above one (its mtime changes when something is written below it).
Anything else that differs in that folder is refused before the image is
tagged or pushed: the union promises that the image made keeps OLD's files
outside the paths, as a single ``--path`` does.
"""

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from difflayers.core.names import check_tree_path, is_under
from difflayers.core.treeindex import DIRECTORY
from difflayers.errors import ChangesOutsidePaths, PathProblem

SHOWN = 5  # entries and folders a refusal names


@dataclass(frozen=True)
class Paths:
    """The directories asked for: absolute, normalised, none below another, sorted."""

    members: tuple

    @property
    def root(self) -> str:
        """The folder compared: the paths' common ancestor (the path itself for one)."""
        return posixpath.commonpath(self.members)

    @property
    def is_union(self) -> bool:
        return len(self.members) > 1

    def __str__(self) -> str:
        return ", ".join(self.members)

    def holds(self, name: str) -> bool:
        """Is absolute ``name`` in one of the paths, or a folder above one?"""
        return any(_within(name, member) or _within(member, name) for member in self.members)

    def outside(self, names: Iterable[str]) -> list:
        """The absolute names (of ``names``, relative to ``root``) the paths do not hold."""
        return [full for full in (_absolute(self.root, name) for name in names) if not self.holds(full)]


def union(paths: Iterable[str], what: str = "--path") -> Paths:
    """The union of ``paths``: each checked as a single one is; a path below
    another, or given twice, adds nothing."""
    given = sorted({check_tree_path(path, what, volume_target=False) for path in paths})
    if not given:
        raise ValueError("no path given")
    members = [path for path in given if not any(path != other and _within(path, other) for other in given)]
    return Paths(tuple(members))


def refuse_outside_paths(paths: Paths | None, plan) -> None:
    """Refuse (``ChangesOutsidePaths``) a plan of ``paths.root`` that ships or
    removes anything outside the union: nothing has been tagged or pushed yet."""
    if paths is None or not paths.is_union:
        return
    found = paths.outside([*plan.additions, *plan.removals])
    if not found:
        return
    folders: dict = {}
    for name in found:
        folder = _top_folder(paths, name)
        folders[folder] = folders.get(folder, 0) + 1
    where = ", ".join(f"{folder} ({count:,})" for folder, count in sorted(folders.items())[:SHOWN])
    wider = " ".join(f"--path {folder}" for folder in sorted(folders)[:SHOWN])
    raise ChangesOutsidePaths(
        f"NEW differs from OLD outside {paths} in {len(found):,} entries ({where}; first: {found[0]}): "
        f"the image made would keep OLD's there, so nothing was made. Add {wider}, keep what a build "
        "step leaves there out of the image (a cache: RUN --mount=type=cache,target=FOLDER), or ship "
        "NEW as built"
    )


def require_directories(paths: Paths | None, entries: Iterable, image: str) -> None:
    """Each of several paths is a directory in ``entries`` (NEW's tree under
    ``paths.root``, as index entries): a mistyped one is refused (exit 2), not
    silently compared as empty. Where NEW is in the engine it is asked instead."""
    if paths is None or not paths.is_union:
        return
    wanted = {posixpath.relpath(member, paths.root): member for member in paths.members}
    for entry in entries:
        if entry.kind == DIRECTORY:
            wanted.pop(entry.name, None)
    if wanted:
        missing = ", ".join(sorted(wanted.values()))
        raise PathProblem(f"{missing}: not a directory in {image}; each --path must be one in NEW")


def _within(name: str, folder: str) -> bool:
    """Is absolute ``name`` ``folder`` or below it (``/`` holds every name)?"""
    return folder == "/" or is_under(name, folder)


def _absolute(root: str, name: str) -> str:
    return posixpath.normpath(posixpath.join(root, name))


def _top_folder(paths: Paths, name: str) -> str:
    """The folder a user would add as a path: ``name``'s first component below
    the folder the paths share (``/etc`` for ``/etc/apt/sources.list`` under /),
    or that folder itself for a name directly in it."""
    below = posixpath.relpath(name, paths.root).split("/")
    return _absolute(paths.root, below[0]) if len(below) > 1 else paths.root
