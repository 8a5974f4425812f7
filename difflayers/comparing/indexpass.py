"""NEW's tree against OLD's tree index, in place: the registry flow's pass.

With OLD only in the registry, OLD's tree is its index (``core.treeindex``).
NEW was streamed through the engine's archive endpoint (25-30 MB/s here, and
through a container, which shows Docker's stand-ins for /etc/hosts and nine
other entries). Where BuildKit is, NEW is mounted in a build step instead (a
snapshot, nothing copied), OLD's index comes in as a file of the build
context, and the step indexes NEW where it is, compares the two indexes row
by row (``indexdiff.diff_indexes``) and writes the delta layer from the
mount, reading only what it ships. Where the engine has the image NEW was
built FROM, the same step compares it with NEW outside the path, on a core
of its own. Only the plan, the layer and NEW's index leave the engine; the
caller checks the layer against both indexes as before (``indexcheck``).

``DONE`` is written last; the caller reads the rest only when it is there.
"""

import multiprocessing
import os
import posixpath
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

from difflayers.archives.dirindex import DirTree
from difflayers.archives.fstree import FsTree
from difflayers.archives.layer import LayerStats, write_layer
from difflayers.comparing import initlayer, inpass, mounts
from difflayers.comparing.indexdiff import NEW_INDEX_NAME, IndexDiff, diff_indexes, index_stream
from difflayers.core.outputs import read_json, write_json
from difflayers.core.plan import Plan
from difflayers.methods.dockerfile import render_index_pass_dockerfile

OLD_INDEX = "old-tree-index.jsonl.gz"  # in the build context, mounted at IN
IN = "/in"
LAYER_NAME = inpass.LAYER_NAME
FOUND = "index-diff.json"
DONE = "index-pass.json"


def command(path: str, byte_exact: bool, index_only: bool = False, base_is_old: bool = False) -> list:
    """The tool's argv in the build step."""
    return [
        "python3", "-m", "difflayers", "diff-against-index", "--path", path,
        *(["--byte-exact"] if byte_exact else []),
        *(["--index-only"] if index_only else []),
        *(["--base-is-old"] if base_is_old else []),
    ]  # fmt: skip


def diff_in_place(
    engine,
    tool_image: str,
    new_ref: str,
    path: str,
    old_index: bytes,
    output_dir: Path,
    byte_exact: bool,
    base_ref: str | None = None,
    old_ref: str | None = None,
    base_is_old: bool = False,
) -> tuple:
    """(``IndexDiff``, the layer or None, its ``LayerStats`` or None, what
    differs outside ``path``): NEW's ``path`` compared in place with
    ``old_index`` (see the module); the layer and NEW's index are left in
    ``output_dir``. ``base_ref``: the image NEW was built FROM (its layers
    shared with OLD), compared with NEW outside ``path`` in the same pass
    (None: not compared, and the last item is None), or OLD itself
    (``base_is_old``: so the differences name it); ``old_ref``: OLD, when
    the engine has it, compared with ``base_ref`` there too (its "old" item).
    Raises ``mounts.Unavailable`` when no docker CLI here can build with BuildKit."""
    output_dir = Path(output_dir)
    argv = command(path, byte_exact, base_is_old=base_is_old)
    _run(engine, tool_image, new_ref, path, old_index, output_dir, argv, base_ref, old_ref)
    initlayer.refuse_leftovers(output_dir / NEW_INDEX_NAME, path, new_ref)
    return read_found(output_dir)


def from_image(engine, new: dict, shared: int, path: str) -> str | None:
    """A tag of the image NEW was built FROM (NEW's first ``shared`` layers,
    those it shares with OLD), when the engine has one the pass can mount:
    NEW's tree outside ``path`` is then compared with it where it is, instead
    of reading NEW's own layers to prove they change nothing there."""
    if path == "/" or not 0 < shared < len(new["RootFS"]["Layers"]):
        return None
    found = engine.image_with_layers(new["RootFS"]["Layers"][:shared])
    return found if found is not None and mounts.usable(found, found, path) else None


def index_in_place(
    engine, tool_image: str, image_ref: str, path: str, dest: Path, base_ref: str | None = None
) -> tuple:
    """(entries, bytes read, the image against ``base_ref`` outside ``path`` or
    None): the tree index of ``path`` in a local image, read where it is
    mounted (no container: the image's own /etc/hosts and the like), written
    to ``dest``. Raises ``mounts.Unavailable`` as ``diff_in_place``."""
    dest = Path(dest)
    argv = command(path, False, index_only=True)
    _run(engine, tool_image, image_ref, path, None, dest.parent, argv, base_ref)
    initlayer.refuse_leftovers(dest.parent / NEW_INDEX_NAME, path, image_ref)
    os.replace(dest.parent / NEW_INDEX_NAME, dest)
    done = read_json(dest.parent / DONE)
    (dest.parent / DONE).unlink()
    return done["entries"], done["bytes_read"], done.get("outside")


def tree_index(
    engine, tool_image: str, image_ref: str, path: str, dest: Path, progress, base_ref: str | None = None
) -> tuple:
    """(entries, bytes read, where NEW was read: "mounts" or "archive", the
    image against ``base_ref`` outside ``path``, as ``outside_base``, or None):
    the tree index of ``path`` in a local image, into ``dest``: in place where
    BuildKit is, else through the engine's archive endpoint (refused there for
    a path holding Docker's stand-ins; nothing compared there)."""
    if usable(engine, image_ref, path):
        engine.ensure_tool_image(progress)
        try:
            entries, read, outside = index_in_place(engine, tool_image, image_ref, path, dest, base_ref)
            return entries, read, "mounts", outside
        except mounts.Unavailable as exc:
            mounts.fall_back(engine, exc, progress, f"reading {path} through a container")
    with engine.tree_archive(image_ref, path) as source:
        return (*index_stream(source, path, dest), "archive", None)


def base_of(engine, image: dict, path: str) -> tuple | None:
    """(a tag, its layer count) of the image ``image`` (inspected) was built
    FROM, when the engine has one the pass can mount beside it: compared with
    it outside ``path`` while ``path`` is indexed, the index then records the
    image's scope (``outside_as_layers``)."""
    if path == "/":
        return None
    found = engine.base_image(image["RootFS"]["Layers"])
    return found if found is not None and mounts.usable(found[0], found[0], path) else None


def _run(
    engine,
    tool_image: str,
    image_ref: str,
    path: str,
    old_index,
    output_dir: Path,
    argv: list,
    base_ref=None,
    old_ref=None,
) -> None:
    """Build the pass (OLD's index in its context when given); its results into ``output_dir``."""
    for name in (LAYER_NAME, NEW_INDEX_NAME, FOUND, DONE):
        (output_dir / name).unlink(missing_ok=True)
    dockerfile = render_index_pass_dockerfile(
        tool_image=tool_image,
        new_ref=image_ref,
        path=path,
        old_index=OLD_INDEX if old_index is not None else None,
        command=argv,
        base_ref=base_ref,
        old_ref=old_ref,
    )
    context = Path(tempfile.mkdtemp(prefix=".difflayers-index-pass-", dir=output_dir))
    try:
        (context / "Dockerfile").write_text(dockerfile)
        if old_index is not None:
            (context / OLD_INDEX).write_bytes(old_index)
        result = context / "out"
        failures = engine.export_build(context, result)
        if failures:
            raise mounts.Unavailable("; ".join(failures))
        if not (result / DONE).is_file():
            raise mounts.Unavailable("the pass ended without its results")
        for item in result.iterdir():
            os.replace(item, output_dir / item.name)
    finally:
        shutil.rmtree(context, ignore_errors=True)


def make(out: Path, path: str, byte_exact: bool, index_only: bool = False, base_is_old: bool = False) -> None:
    """In the build step: NEW (mounted) against OLD's index (a context file);
    the plan, NEW's index and the layer into ``out``. ``index_only``: NEW's
    index alone (no OLD); ``base_is_old``: the image mounted as the base is
    OLD itself (``outside_base``)."""
    out.mkdir(exist_ok=True)
    # A process, not a thread: hashing trees is Python work (``inpass.make``).
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
        outside = pool.submit(outside_base, path, base_is_old) if os.path.isdir(inpass.BASE_ROOT) else None
        # NEW's index hashed where it is mounted (then compared with OLD's row by row).
        entries, read = index_stream(DirTree(inpass.TREES["new"]), path, out / NEW_INDEX_NAME)
        if index_only:
            found = {"entries": entries, "bytes_read": read}
        else:
            found = _compared(out, path, byte_exact, entries, read)
        if outside is not None:
            found["outside"] = outside.result()
    if index_only:
        write_json(out / DONE, found)
        return
    write_json(out / FOUND, found)
    write_json(out / DONE, {"layer": found["layer"] is not None})


def _compared(out: Path, path: str, byte_exact: bool, entries: int, read: int) -> dict:
    """NEW's index (in ``out``: ``entries``, ``read`` bytes) against OLD's, and
    the layer written from NEW's mount, reading only what it ships: what
    ``read_found`` reads back."""
    found = diff_indexes(Path(IN) / OLD_INDEX, out / NEW_INDEX_NAME, path, byte_exact)
    found.new_bytes_read, found.new_entries = read, entries
    stats = None
    if not found.plan.is_empty:
        stats = write_layer(
            lambda: nullcontext(FsTree(inpass.TREES["new"], posixpath.basename(path))),
            out / LAYER_NAME,
            tree_path=path,
            plan=found.plan,
            ancestors=inpass.ancestors(inpass.ROOTS["new"], path),
        )
    return _found_json(found, stats)


def outside_base(path: str, base_is_old: bool = False) -> dict:
    """NEW's whole tree but ``path`` against its FROM image's: equal, NEW's own
    layers change nothing there, so OLD's layers and a delta of ``path`` can
    make NEW. OLD's side is proven apart, or here when OLD is mounted too
    (its "old" item: OLD against the same FROM image). ``base_is_old``: the
    image mounted as the base is OLD itself (no FROM image tagged), named so."""
    with_old = os.path.isdir(inpass.ROOTS["old"])
    roots = [inpass.BASE_ROOT, inpass.ROOTS["new"], *([inpass.ROOTS["old"]] if with_old else [])]
    base, new, *old = inpass.outside_entries(roots, path)
    only = ("only in NEW", "only in OLD" if base_is_old else "only in the image NEW was built FROM")
    found = inpass.summarized(base, new, only=only)
    if with_old:
        old = old[0]
        found["old"] = inpass.summarized(
            base, old, only=("only in OLD", "only in the image OLD was built FROM")
        )
    return found


def read_found(folder: Path) -> tuple:
    """What ``make`` wrote into ``folder``: (``IndexDiff``, layer or None,
    ``LayerStats`` or None, NEW against its FROM image outside the path or None)."""
    data = read_json(folder / FOUND)
    plan = data["plan"]
    found = IndexDiff(
        plan=Plan(
            additions=tuple(plan["additions"]),
            removals=tuple(plan["removals"]),
            created=plan["created"],
            changed=plan["changed"],
            kinds=plan["kinds"],
            new_paths=frozenset(plan["new_paths"]),
            xattrs=plan["xattrs"],
            kept_from_old=tuple(plan["kept_from_old"]),
            sources_for_bytecode=tuple(plan["sources_for_bytecode"]),
            keeps_old=None if plan["keeps_old"] is None else frozenset(plan["keeps_old"]),
        ),
        spool=None,
        new_index=folder / NEW_INDEX_NAME,
        spool_complete=True,
        new_bytes_read=data["new_bytes_read"],
        new_entries=data["new_entries"],
        equivalent_bytecode=data["equivalent_bytecode"],
        bytecode_sources={pyc: tuple(pair) for pyc, pair in data["bytecode_sources"].items()},
        causes=data["causes"],
        superseded_bytes=data.get("superseded_bytes"),
        tree_bytes=data.get("tree_bytes"),
    )
    outside = data.get("outside")
    if data["layer"] is None:
        return found, None, None, outside
    return found, folder / LAYER_NAME, LayerStats(**data["layer"]), outside


def _found_json(found: IndexDiff, stats: LayerStats | None) -> dict:
    """``found`` and ``stats`` as JSON (names with any byte survive: JSON escapes
    the surrogates that stand for non-UTF-8 bytes)."""
    plan = found.plan
    return {
        "plan": {
            "additions": list(plan.additions),
            "removals": list(plan.removals),
            "created": plan.created,
            "changed": plan.changed,
            "kinds": plan.kinds,
            "new_paths": sorted(plan.new_paths),
            "xattrs": plan.xattrs,
            "kept_from_old": list(plan.kept_from_old),
            "sources_for_bytecode": list(plan.sources_for_bytecode),
            "keeps_old": None if plan.keeps_old is None else sorted(plan.keeps_old),
        },
        "new_bytes_read": found.new_bytes_read,
        "new_entries": found.new_entries,
        "equivalent_bytecode": list(found.equivalent_bytecode),
        "bytecode_sources": {pyc: list(pair) for pyc, pair in found.bytecode_sources.items()},
        "causes": found.causes,
        "superseded_bytes": found.superseded_bytes,
        "tree_bytes": found.tree_bytes,
        "layer": asdict(stats) if stats is not None else None,
    }


def usable(engine, new_ref: str, path: str) -> bool:
    """Whether this engine may compare in place here (the caller falls back to
    the archive stream when the pass turns out ``Unavailable``)."""
    return engine.compare != "volumes" and mounts.usable(new_ref, new_ref, path)
