"""Byte-code and build noise on plain folders: rsync's dry run, the causes the
differ finds, the plan each rule gives, and the equality verify checks.

The trees are made with Python's own compiler (py_compile), gzip and zipfile,
as a package manager would leave them; no engine is needed.
"""

import gzip
import io
import os
import py_compile
import tarfile
import zipfile
from pathlib import Path

import pytest

from difflayers.comparing import difflog
from difflayers.comparing.equality import compare_streamed, equivalent_bytecode, read_tree, tree_differences
from difflayers.comparing.record import compare_and_record
from difflayers.core import breakdown, bytecode
from difflayers.core.diffrecord import ImageRef

T_OLD, T_NEW = 1_700_000_000, 1_700_086_400
TAG = "cpython-311"


def module(root: Path, name: str, text: str, mtime: int, dfile: str | None = None) -> None:
    """``name``.py with ``mtime`` and its timestamp-based byte-code in __pycache__."""
    source = root / f"{name}.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(text)
    os.utime(source, (mtime, mtime))
    cached = source.parent / "__pycache__" / f"{source.stem}.{TAG}.pyc"
    py_compile.compile(
        str(source),
        cfile=str(cached),
        dfile=dfile or f"/app/{name}.py",  # as built in place: the same path in both
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
    )


def gzipped(path: Path, data: bytes, mtime: int) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=mtime, filename="") as out:
        out.write(data)


def zipped(path: Path, when: tuple) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("pkg/a.txt", date_time=when), b"same bytes")


@pytest.fixture
def trees(tmp_path):
    """OLD and NEW as two builds of one project: NEW rewrote every file."""
    old, new = tmp_path / "old", tmp_path / "new"
    for root, mtime in ((old, T_OLD), (new, T_NEW)):
        module(root, "pkg/same", "X = 1\n", mtime)  # only the build time differs
        module(root, "pkg/edited", "Y = 1\n" if root is old else "Y = 2\n", mtime)
        # Same source, other code (another file name compiled in): not equivalent.
        module(root, "pkg/renamed", "Z = 1\n", mtime, dfile=None if root is old else "elsewhere.py")
        gzipped(root / "data.gz", b"payload" * 100, mtime)
        zipped(root / "lib.whl", (2024, 1, 1, 0, 0, 0) if root is old else (2025, 1, 1, 0, 0, 0))
        (root / "plain.txt").write_text("unchanged")
        os.utime(root / "plain.txt", (mtime, mtime))
    out = tmp_path / "out"
    out.mkdir()
    compare_and_record(str(new), str(old), out, path="/app", old=ImageRef("o", "1"), new=ImageRef("n", "2"))
    return old, new, out


def test_header_and_source_names():
    assert bytecode.source_of("a/__pycache__/m.cpython-311.pyc") == "a/m.py"
    assert bytecode.source_of("a/__pycache__/m.cpython-311.opt-1.pyc") == "a/m.py"
    assert bytecode.source_of("__pycache__/m.cpython-311.pyc") == "m.py"
    assert bytecode.source_of("a/m.pyc") is None  # legacy: unused while m.py exists
    assert bytecode.header(b"short") is None
    fields = b"\0" * 4 + (100).to_bytes(4, "little") + (7).to_bytes(4, "little")
    head = bytecode.header(b"\xa7\r\r\n" + fields)
    assert head.timestamp_based and head.fresh_for(100.9, 7) and not head.fresh_for(101, 7)
    assert not head.fresh_for(100, 8)


def test_the_differ_finds_equivalent_byte_code_and_each_cause(trees):
    old, new, out = trees
    record, plan = difflog.load(out)
    same = "pkg/__pycache__/same.cpython-311.pyc"
    renamed = "pkg/__pycache__/renamed.cpython-311.pyc"
    assert record.equivalent_bytecode == [same]
    assert plan.kept_from_old == (same,)
    assert same not in plan.additions
    # The renamed module's byte-code ships with its source (NEW's mtime), or it would be stale.
    assert {renamed, "pkg/renamed.py"} <= set(plan.additions)
    assert plan.sources_for_bytecode == ("pkg/renamed.py",)
    # The edited module ships whole; its source is shipped for its content, not for byte-code.
    assert {"pkg/edited.py", "pkg/__pycache__/edited.cpython-311.pyc"} <= set(plan.additions)
    assert "pkg/same.py" not in plan.additions and "plain.txt" not in plan.additions
    counts = record.causes
    assert counts[breakdown.BYTECODE_MTIME] == [1, (new / same).stat().st_size]
    assert counts["gzip header time"][0] == 1 and counts["zip member times"][0] == 1
    # plain.txt, same.py, renamed.py: content equal, mtime new (renamed.py then ships for its byte-code).
    assert counts[breakdown.MTIME_ONLY][0] == 3


def test_byte_exact_ships_the_pair(trees):
    _, _, out = trees
    _, plan = difflog.load(out, byte_exact=True)
    assert plan.kept_from_old == ()
    assert {"pkg/__pycache__/same.cpython-311.pyc", "pkg/same.py", "pkg/renamed.py"} <= set(plan.additions)
    assert set(plan.sources_for_bytecode) == {"pkg/same.py", "pkg/renamed.py"}


def test_rows_say_what_ships_and_the_fix(trees):
    _, _, out = trees
    record, plan = difflog.load(out)
    rows = {row.cause: row for row in breakdown.rows(record, plan)}
    assert not rows[breakdown.BYTECODE_MTIME].shipped and not rows[breakdown.MTIME_ONLY].shipped
    assert rows["gzip header time"].shipped and "gzip -n" in rows["gzip header time"].fix
    assert rows[breakdown.SOURCES_FOR_BYTECODE].entries == 1
    text = "\n".join(breakdown.lines(list(rows.values())))
    assert "left out" in text and "SOURCE_DATE_EPOCH" in text
    _, exact = difflog.load(out, byte_exact=True)
    assert {row.cause: row for row in breakdown.rows(record, exact)}[breakdown.BYTECODE_MTIME].shipped


def tar_of_tree(root: Path, mtimes: dict) -> io.BytesIO:
    """A tar of ``root`` whose members carry ``mtimes`` (name -> mtime) where given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            name = path.relative_to(root).as_posix()
            info = tar.gettarinfo(str(path), arcname=name)
            info.mtime = mtimes.get(name, info.mtime)
            tar.addfile(info, open(path, "rb") if info.isreg() else None)
    buffer.seek(0)
    return buffer


def test_equality_accepts_equivalent_byte_code_and_finds_stale(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    module(old, "m", "A = 1\n", T_OLD)
    module(new, "m", "A = 1\n", T_NEW)
    pyc = "__pycache__/m.cpython-311.pyc"
    a, b = read_tree(tar_of_tree(new, {})), read_tree(tar_of_tree(old, {}))
    assert equivalent_bytecode(a, b) == [pyc]
    assert tree_differences(a, b) == []
    assert any(line.startswith(f"differs: {pyc}") for line in tree_differences(a, b, byte_exact=True))
    # NEW's byte-code beside OLD's source (what shipping the .pyc alone gives): stale.
    stale = read_tree(tar_of_tree(new, {"m.py": T_OLD}))
    lines = tree_differences(a, stale)
    assert lines == [f"byte-code: {pyc} is fresh in A, stale in B (the mtime or size its .py has there)"]
    # B read as it streams, against A held: the same lines and equivalences.
    for exact in (False, True):
        for other in ({}, {"m.py": T_OLD}):
            held_a = read_tree(tar_of_tree(new, {}), with_groups=False)
            found = compare_streamed(held_a, tar_of_tree(old if not other else new, other), byte_exact=exact)
            b_tree = read_tree(tar_of_tree(old if not other else new, other))
            assert found == (
                tree_differences(a, b_tree, exact),
                [] if exact else equivalent_bytecode(a, b_tree),
            )


def _tree_tar(root: Path, name: str) -> io.BytesIO:
    """A tree as the engine's archive streams it: members ``name/...`` in name order, mtimes kept."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(root, arcname=name, recursive=False)
        for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).parts):
            tar.add(path, arcname=f"{name}/{path.relative_to(root)}", recursive=False)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("byte_exact", [False, True])
def test_the_index_differ_applies_the_same_byte_code_rule(trees, tmp_path, byte_exact):
    """OLD only as an index (no content): the same equivalent byte-code, the same sources shipped."""
    from difflayers.archives.dirindex import DirTree
    from difflayers.archives.treescan import Overlay
    from difflayers.comparing.indexdiff import diff_indexes, diff_stream, index_stream
    from difflayers.core import treeindex

    old, new, out = trees
    record, plan = difflog.load(out, byte_exact)
    overlay = Overlay("/app")
    with tarfile.open(fileobj=_tree_tar(old, "app"), mode="r|") as tar:
        overlay.apply(tar)
    work = tmp_path / f"work-{byte_exact}"
    work.mkdir()
    found = diff_stream(_tree_tar(new, "app"), "/app", overlay.result(), work, byte_exact)
    # The registry flow's pass: NEW's index made first where NEW is, then both compared.
    (work / "old.jsonl.gz").write_bytes(treeindex.to_bytes("/app", overlay.result().values()))
    index_stream(DirTree(str(new)), "/app", work / "new.jsonl.gz")
    from_indexes = diff_indexes(work / "old.jsonl.gz", work / "new.jsonl.gz", "/app", byte_exact)
    for found in (found, from_indexes):
        assert found.plan.additions == plan.additions and found.plan.removals == plan.removals
        assert found.plan.kept_from_old == plan.kept_from_old
        assert found.plan.sources_for_bytecode == plan.sources_for_bytecode
        assert found.equivalent_bytecode == record.equivalent_bytecode
        assert found.causes[breakdown.MTIME_ONLY] == record.causes[breakdown.MTIME_ONLY]
    assert (
        from_indexes.causes
        == diff_stream(_tree_tar(new, "app"), "/app", overlay.result(), work, byte_exact).causes
    )
