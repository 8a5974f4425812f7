"""Property: the index differ (NEW streamed against OLD's tree index) and the
rsync differ make the same plan on the same random trees, each checking the
other; the layer written from the index differ's spool, applied to OLD with
whiteouts as an engine does, gives NEW's tree; and that layer applied to
OLD's index gives NEW's index (the check ``optimize`` makes without OLD)."""

import os
import tarfile
import tempfile
from contextlib import nullcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from difflayers.archives.dirindex import DirTree
from difflayers.archives.fstree import FsTree
from difflayers.archives.layer import write_layer
from difflayers.archives.treescan import Overlay
from difflayers.comparing import difflog
from difflayers.comparing.indexcheck import layer_differences
from difflayers.comparing.indexdiff import compare_indexes, diff_indexes, diff_stream, index_stream, write_log
from difflayers.comparing.record import compare_and_record
from difflayers.core import treeindex
from difflayers.core.diffrecord import ImageRef
from difflayers.core.itemize import iter_lines, parse
from difflayers.core.plan import make_plan
from difflayers.methods.remote import superseded_bytes

from .test_exact_trees import EXAMPLES, engine_like_stream, pytestmark  # noqa: F401 (rsync and root)
from .treemodel import HARD_CASES, materialize, remove, snapshot, trees, unpack


def tree_index(archive: Path, tree_path: str) -> dict:
    """A tree's index, built as for an OLD read from a registry (one layer)."""
    overlay = Overlay(tree_path)
    with tarfile.open(archive, "r|", encoding="utf-8", errors="surrogateescape") as tar:
        overlay.apply(tar)
    return overlay.result()


def apply_layer(layer: Path, prefix: str, dest: Path, work: Path) -> None:
    """Whiteouts first (they hide what is below), then the entries, as the engine
    unpacks a layer over OLD. Written for the test, sharing no code with the kit."""
    plain = work / "plain.tar"
    with (
        tarfile.open(layer, encoding="utf-8", errors="surrogateescape") as tar,
        tarfile.open(
            plain, "w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
        ) as out,
    ):
        for member in tar:
            parent, leaf = os.path.split(member.name)
            here = dest / parent[len(prefix) + 1 :] if parent != prefix else dest
            if leaf == ".wh..wh..opq":
                for child in list(here.iterdir()):
                    remove(child)
            elif leaf.startswith(".wh."):
                remove(here / leaf[4:])
            else:
                out.addfile(member, tar.extractfile(member) if member.isreg() else None)
    unpack(plain, prefix, dest)


def both_plans(old: Path, new: Path, work: Path):
    record = work / "record"
    record.mkdir()
    image = ImageRef("test", "sha256:test")
    compare_and_record(str(new), str(old), record, path="/" + new.name, old=image, new=image)
    _, rsync_plan = difflog.load(record)
    # OLD's index as a registry's layers would give it, under NEW's name.
    os.rename(old, old.with_name(new.name + ".old"))
    staged = work / "stage"
    staged.mkdir()
    os.rename(old.with_name(new.name + ".old"), staged / new.name)
    old_index = tree_index(engine_like_stream(staged / new.name, staged), "/" + new.name)
    os.rename(staged / new.name, old)
    with open(engine_like_stream(new, work), "rb") as source:
        found = diff_stream(source, "/" + new.name, old_index, work)
    # OLD's index as optimize holds one found in the registry (encoded lines,
    # walked in tree order beside NEW): the same plan.
    held = treeindex.load(treeindex.to_bytes("/" + new.name, old_index.values()), "/" + new.name)
    assert held == old_index
    (work / "held").mkdir()
    with open(engine_like_stream(new, work), "rb") as source:
        again = diff_stream(source, "/" + new.name, held, work / "held")
    assert (again.plan.additions, again.plan.removals) == (found.plan.additions, found.plan.removals)
    return rsync_plan, found, old_index


def check(old_spec, new_spec, work: Path):
    old, new = work / "old", work / "app"
    old.mkdir()
    new.mkdir()
    materialize(old_spec, old)
    materialize(new_spec, new)
    rsync_plan, found, old_index = both_plans(old, new, work)
    plan = found.plan
    assert (plan.additions, plan.removals) == (rsync_plan.additions, rsync_plan.removals)
    if not any(spec[0] == "hardlink" for tree in (old_spec, new_spec) for spec in tree.values()):
        # Where a hardlink group changes, rsync calls "created" whichever name
        # it links to a member it finds in OLD, "changed" the others: the
        # split (not the entries shipped) depends on its file-list order.
        assert (plan.created, plan.changed) == (rsync_plan.created, rsync_plan.changed)
    new_index = treeindex.load(found.new_index.read_bytes(), "/app")
    assert new_index == tree_index(engine_like_stream(new, work), "/app")
    check_indexes_alone(old_index, new_index, rsync_plan, plan, work)
    if plan.is_empty:
        return
    layer = work / "layer.tar"
    source = found.spool if found.spool_complete else engine_like_stream(new, work)
    write_layer(lambda: open(source, "rb"), layer, tree_path="/app", plan=plan, ancestors=[])
    # On disk, as the engine applies it.
    result = work / "result"
    os.rename(old, result)
    apply_layer(layer, "app", result, work)
    assert snapshot(result) == snapshot(new)
    # On the index, as optimize checks it without OLD.
    assert layer_differences(old_index, layer, new_index, plan, "/app") == []
    ordered = (sorted(i.values(), key=lambda e: treeindex.tree_key(e.name)) for i in (old_index, new_index))
    old_rows, new_rows = (treeindex.to_bytes("/app", entries) for entries in ordered)
    assert layer_differences(old_rows, layer, new_rows, plan, "/app") == []  # rows alike left undecoded
    # Without the layer the trees differ: found the same way from the rows.
    unchanged = layer_differences(old_rows, None, new_rows, plan, "/app")
    assert unchanged == layer_differences(old_index, None, new_index, plan, "/app")
    check_in_place(new, old_index, new_index, plan, work)


def check_indexes_alone(old_index: dict, new_index: dict, rsync_plan, plan, work: Path) -> None:
    """The log made from both trees' indexes (the layer method's pass) reads
    back as the plan rsync's log gives."""
    ordered = [
        sorted(index.values(), key=lambda entry: treeindex.tree_key(entry.name))
        for index in (old_index, new_index)
    ]
    compared = compare_indexes(*([treeindex.encode(entry) for entry in entries] for entries in ordered))
    with open(work / "from-indexes.log", "wb") as log:
        write_log(compared.items, log)
    with open(work / "from-indexes.log", "rb") as log:
        again = make_plan(parse(iter_lines(log)), compared.relink)
    assert (again.additions, again.removals) == (rsync_plan.additions, rsync_plan.removals)
    assert (again.created, again.changed) == (plan.created, plan.changed)
    assert compared.new_tree_bytes == sum(
        entry.size
        for entry in new_index.values()
        if entry.kind == treeindex.FILE and entry.group in ("", entry.name)
    )


def check_in_place(new: Path, old_index: dict, new_index: dict, plan, work: Path) -> None:
    """NEW read where it is (``FsTree``, as in the differ's BuildKit step) gives
    the same members, index and layer as NEW's archive stream."""
    with tarfile.open(engine_like_stream(new, work), encoding="utf-8", errors="surrogateescape") as tar:
        streamed = [member_fields(member) for member in tar]
    assert [member_fields(member) for member in FsTree(str(new), "app")] == streamed
    index_stream(FsTree(str(new), "app"), "/app", work / "in-place-index.jsonl.gz")
    assert treeindex.load((work / "in-place-index.jsonl.gz").read_bytes(), "/app") == new_index
    # The differ's pass indexes the trees without tar headers: the same bytes.
    index_stream(DirTree(str(new)), "/app", work / "walked-index.jsonl.gz")
    assert (work / "walked-index.jsonl.gz").read_bytes() == (work / "in-place-index.jsonl.gz").read_bytes()
    # The registry flow's pass (``comparing.indexpass``): that index against OLD's, row by row.
    (work / "old-index.jsonl.gz").write_bytes(treeindex.to_bytes("/app", old_index.values()))
    compared = diff_indexes(work / "old-index.jsonl.gz", work / "walked-index.jsonl.gz", "/app")
    assert (compared.plan.additions, compared.plan.removals) == (plan.additions, plan.removals)
    assert (compared.plan.created, compared.plan.changed) == (plan.created, plan.changed)
    assert compared.plan.keeps_old == plan.keeps_old
    # The chain policy's figures, counted in the pass, as from both indexes held.
    counted = superseded_bytes(old_index, new_index, compared.plan)
    assert (compared.superseded_bytes, compared.tree_bytes) == counted
    layer = work / "in-place-layer.tar"
    tree = lambda: nullcontext(FsTree(str(new), "app"))  # noqa: E731
    write_layer(tree, layer, tree_path="/app", plan=plan, ancestors=[])
    assert layer_differences(old_index, layer, new_index, plan, "/app") == []


def member_fields(member: tarfile.TarInfo) -> tuple:
    return (
        member.name.rstrip("/"),
        member.type,
        member.mode,
        member.uid,
        member.gid,
        member.size if member.isreg() else 0,
        member.linkname,
        int(member.mtime),
        (member.devmajor, member.devminor) if member.ischr() or member.isblk() else None,
    )


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old_spec=trees(), new_spec=trees())
def test_index_differ_agrees_with_rsync(old_spec, new_spec):
    with tempfile.TemporaryDirectory() as tmp:
        check(old_spec, new_spec, Path(tmp))


# A directory of two files, for the layer writer's opaque and per-name whiteouts.
OLD_XY = {
    "d": ("dir", 0o755, (0, 0), {"x": ("file", b"x", 0o644, (0, 0)), "y": ("file", b"", 0o644, (0, 0))})
}


@pytest.mark.parametrize(
    "old_spec,new_spec",
    [
        *HARD_CASES,
        # A directory none of whose entries survive: one opaque whiteout.
        (
            OLD_XY,
            {"d": ("dir", 0o755, (0, 0), {"z": ("file", b"z", 0o644, (0, 0))})},
        ),
        # A directory keeping an unchanged entry: a whiteout per name, never opaque.
        (
            OLD_XY,
            {"d": ("dir", 0o755, (0, 0), {"x": ("file", b"x", 0o644, (0, 0))})},
        ),
    ],
)
def test_known_hard_cases(old_spec, new_spec, tmp_path):
    check(old_spec, new_spec, tmp_path)
