"""What the differ makes in the pass that compares the trees: the method's input.

In the BuildKit step both images are mounted where they are (``mounts``).
Besides the itemized log (rsync's, or in the layer mode one made from both
trees' indexes), the same step writes what the method then needs, so
NEW's files never pass through the engine's archive endpoint (25-30 MB/s):

- ``delta`` (the Dockerfile method): the delta archive its Dockerfile ADDs,
  from NEW's mount, reading only the files it ships (``archives.delta``),
  and what differs outside the path, as below;
- ``layer`` (the layer method): the delta layer, likewise (``archives.layer``
  on an ``archives.fstree.FsTree``); OLD's and NEW's tree indexes of the
  compared path, hashed at once, from which the log is made in rsync's
  format (``comparing.indexdiff.compare_indexes``: no rsync reads both trees
  again; the check by construction applies the layer to OLD's index and
  compares with NEW's: ``comparing.construction``; NEW's is the index
  pushed beside the image); and what differs between OLD
  and NEW outside the path (both whole images mounted, hashed), which no
  delta of the path can carry.

``DONE`` is written last, with the mode and the seconds each part took; the
caller reads the rest from /out only when it is there.
"""

import multiprocessing
import os
import posixpath
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from difflayers.archives.delta import DeltaStats, clean_member, write_delta
from difflayers.archives.dirindex import DirTree
from difflayers.archives.fstree import FsTree, tar_info
from difflayers.archives.layer import LayerStats, ancestor_names, write_layer
from difflayers.comparing import difflog
from difflayers.comparing.indexcheck import tree_differences
from difflayers.comparing.indexdiff import index_stream
from difflayers.comparing.record import compare_and_record, record_from_indexes
from difflayers.comparing.sharedfiles import compared_entries
from difflayers.core.outputs import atomic_file, read_json, write_json
from difflayers.methods.dockerfile import DELTA_ARCHIVE as DELTA_NAME  # what the Dockerfile ADDs

# Where the differ's step sees the trees (the compare Dockerfile mounts them).
TREES = {"old": "/trees/old", "new": "/trees/new"}
ROOTS = {"old": "/trees/old-root", "new": "/trees/new-root"}  # the whole images
BASE_ROOT = "/trees/base-root"  # the image OLD and NEW were built FROM, when mounted

LAYER_NAME = "delta-layer.tar"
STATS = "in-pass-stats.json"
OLD_INDEX = "old-tree-index.jsonl.gz"
NEW_INDEX = "new-tree-index.jsonl.gz"
DONE = "in-pass.json"
SHOWN = 10


@dataclass
class InPass:
    """What the differ's pass wrote in ``folder`` (see the module), in ``mode``."""

    folder: Path
    mode: str

    @staticmethod
    def clear(folder: Path) -> None:
        """Remove a former pass's files (a kept --output folder), so none is taken for this one's."""
        for name in (DELTA_NAME, LAYER_NAME, STATS, OLD_INDEX, NEW_INDEX, DONE):
            (Path(folder) / name).unlink(missing_ok=True)

    @classmethod
    def found_in(cls, folder: Path):
        """The pass's results in ``folder``, or None where the diff made none."""
        done = Path(folder) / DONE
        return cls(Path(folder), read_json(done)["mode"]) if done.exists() else None

    @property
    def layer(self) -> Path | None:
        """The layer written (None: nothing to ship, or not the layer mode)."""
        path = self.folder / LAYER_NAME
        return path if self.mode == "layer" and path.exists() else None

    @property
    def layer_stats(self) -> LayerStats | None:
        path = self.folder / STATS
        return LayerStats(**read_json(path)) if self.layer is not None else None

    @property
    def delta_stats(self) -> DeltaStats | None:
        """The delta archive's figures (None: nothing to add, or not the delta mode)."""
        path = self.folder / STATS
        return DeltaStats(**read_json(path)) if self.mode == "delta" and path.exists() else None

    @property
    def old_index(self) -> bytes | None:
        path = self.folder / OLD_INDEX
        return path.read_bytes() if path.exists() else None

    @property
    def new_index(self) -> bytes | None:
        path = self.folder / NEW_INDEX
        return path.read_bytes() if path.exists() else None

    @property
    def outside(self) -> dict:
        """{"entries": N, "differences": count, "shown": [first lines]} outside the
        path, and "base_differences" (NEW against its FROM image) where compared."""
        return read_json(self.folder / DONE)["outside"]


def make(out: Path, path: str, old, new, byte_exact: bool, mode: str) -> None:
    """Compare and record as ``compare_and_record`` does, and write what
    ``mode`` needs into ``out`` (see the module)."""
    base = posixpath.basename(path)
    started = time.monotonic()
    seconds = {}

    def timed(name, work, *args, **kwargs):
        result, took = _timed(name, work, *args, **kwargs)
        seconds.update(took)
        return result

    def new_tree():
        return nullcontext(FsTree(TREES["new"], base))

    done = {"mode": mode}
    # Processes, not threads: walking and hashing many small files is Python
    # work that would hold one interpreter's lock; beside rsync (processes of
    # its own) each tree is read on a core of its own.
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        jobs = []
        if mode == "layer":
            # Both trees hashed at once, one core each; the log then comes
            # from the two indexes, so no rsync reads both trees again.
            indexes = (out / OLD_INDEX, out / NEW_INDEX)
            jobs = [
                pool.submit(_timed, f"{role} index", index_stream, DirTree(TREES[role]), path, dest)
                for role, dest in zip(("old", "new"), indexes)
            ]
        # Either method's delta of the path makes NEW only where NEW equals
        # OLD outside it: both whole images compared, beside the path's work.
        outside = pool.submit(_timed, "outside", outside_differences, path)
        if mode == "layer":
            for job in jobs:
                seconds.update(job.result()[1])
            keeps_old = timed(
                "compare", record_from_indexes, TREES["new"], TREES["old"], out,
                path=path, old=old, new=new, indexes=indexes,
            )  # fmt: skip
        else:
            timed("rsync", compare_and_record, TREES["new"], TREES["old"], out, path=path, old=old, new=new)
        jobs = [outside]
        _, plan = difflog.load(out, byte_exact)
        if mode == "layer":
            # Known: the layer writer reads only the directories and the entries it ships.
            plan = replace(plan, keeps_old=keeps_old)
        stats = None
        if mode == "layer" and not plan.is_empty:
            above = ancestors(ROOTS["new"], path)
            layer = out / LAYER_NAME
            stats = timed("layer", write_layer, new_tree, layer, tree_path=path, plan=plan, ancestors=above)
        elif mode == "delta" and plan.additions:

            def delta():
                with new_tree() as tree, atomic_file(out / DELTA_NAME) as dest:
                    return write_delta(tree, dest, tree_path=path, plan=plan)

            stats = timed("delta", delta)
        if stats is not None:
            write_json(out / STATS, asdict(stats))
        for job in jobs:
            seconds.update(job.result()[1])
        done["outside"] = outside.result()[0]
    seconds["all"] = round(time.monotonic() - started, 2)
    write_json(out / DONE, {**done, "seconds": seconds})


def _timed(name: str, work, *args, **kwargs) -> tuple:
    """(``work(*args, **kwargs)``, {name: seconds it took}); module-level, so a
    process of the pool can run it."""
    begun = time.monotonic()
    result = work(*args, **kwargs)
    return result, {name: round(time.monotonic() - begun, 2)}


def ancestors(root: str, path: str) -> list:
    """NEW's directories above ``path``, as layer entries with NEW's owner and mode."""
    headers = []
    for ancestor in ancestor_names(path):
        fs_path = (root + ancestor).encode("utf-8", "surrogateescape")
        rel = ancestor.lstrip("/")
        header = tar_info(fs_path, rel, os.lstat(fs_path))
        clean_member(header, "", rel, None)
        headers.append(header)
    return headers


def outside_differences(path: str) -> dict:
    """OLD's and NEW's whole trees but ``path``, compared entry by entry (content
    hashed): the processed image keeps OLD's there, so they must be equal.
    With ``path`` / (the whole image) there is nothing outside."""
    if path == "/":
        found = {"entries": 0, "differences": 0, "shown": [], "folders": {}}
        return {**found, "base_differences": 0} if os.path.isdir(BASE_ROOT) else found
    with_base = os.path.isdir(BASE_ROOT)
    old, new, *base = outside_entries([ROOTS["old"], ROOTS["new"], *([BASE_ROOT] if with_base else [])], path)
    found = summarized(old, new, only=("only in NEW", "only in OLD"))
    if with_base:
        # NEW's tree outside the path against its FROM image's: equal, the
        # image made (OLD's layers, the delta) is its base outside the path,
        # which its tree index records, so no later run reads its layers for it.
        found["base_differences"] = len(tree_differences(base[0], new))
    return found


def outside_entries(roots: list, path: str) -> list:
    """name -> Entry of each whole tree at ``roots`` but ``path``, for comparing
    with each other: only files the trees do not share are read (``sharedfiles``)."""
    return compared_entries(roots, skip=path.strip("/"))


def summarized(got: dict, new: dict, only: tuple) -> dict:
    """Two trees compared entry by entry, as the refusal of changes outside the
    path reads them (``outside_refusal``): {"entries": NEW's, "differences":
    count, "shown": [first lines], "folders": ``top_folders``}; ``only`` as
    ``indexcheck.differences`` says a name in one tree only."""
    lines = tree_differences(got, new, only=only)
    return {
        "entries": len(new),
        "differences": len(lines),
        "shown": lines[:SHOWN],
        "folders": top_folders(line.split(": ", 1)[1] for line in lines),
    }


def top_folders(names) -> dict:
    """Where differing entries are (names relative to /): their folder two levels
    down (``/root/.npm``, ``/usr/lib``), or one for a name directly in one
    (``/etc``) -> how many, most first: what a user reads to see which build
    step left them."""
    counts: dict = {}
    for name in names:
        parts = name.split("/")
        folder = "/" + "/".join(parts[: 2 if len(parts) > 2 else 1])
        counts[folder] = counts.get(folder, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def outside_refusal(outside: dict, path: str) -> str | None:
    """Why a delta of ``path`` cannot make NEW (None: it can): OLD's and NEW's
    trees differ outside it, where the image made keeps OLD's (or, compared
    each with their FROM image, OLD's does: its "old" item)."""
    if not outside["differences"]:
        old = outside.get("old")
        if old and old["differences"]:
            return (
                f"OLD differs from the image it was built FROM outside {path} in {old['differences']:,} "
                f"entries (first: {old['shown'][0]}), and NEW does not: OLD with a layer of {path} cannot "
                "make NEW, so nothing was made. Ship NEW as built, or compare a path that covers them"
            )
        return None
    folders = outside.get("folders") or {}
    where = ", ".join(f"{folder} ({count:,})" for folder, count in list(folders.items())[:SHOWN])
    first = outside["shown"][0] if outside["shown"] else ""
    count = f"{outside['differences']:,} entries"
    covering = posixpath.commonpath([path, *folders]) if folders else "/"
    if covering != "/":
        wider = f"--path {covering}, which covers them"
    else:  # the folders beside the path, as their union; or everything
        union = " ".join(f"--path {folder}" for folder in [path, *list(folders)[:SHOWN]])
        wider = f"{union} (their union), or --path / (the whole image)"
    return (
        f"NEW differs from OLD outside {path} in {count} ({where}; first: {first}): "
        f"OLD with a layer of {path} cannot make NEW, so nothing was made. Keep what a build step leaves "
        f"there out of the image (a cache: RUN --mount=type=cache,target=FOLDER), compare with {wider}, "
        "or ship NEW as built"
    )
