"""Property: for random trees OLD and NEW, the kit's real path (rsync, parse,
plan, delta archive) turns OLD into a tree equal to NEW. No engine needed:
the archive is applied the way the engine applies an ADDed tar."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from difflayers.archives.delta import write_delta
from difflayers.comparing import difflog
from difflayers.comparing.record import compare_and_record
from difflayers.core.diffrecord import ImageRef

from .treemodel import HARD_CASES, materialize, snapshot, trees, unpack

pytestmark = pytest.mark.skipif(
    shutil.which("rsync") is None or os.geteuid() != 0,
    reason="needs rsync and root (owners are part of the tree)",
)
EXAMPLES = int(os.environ.get("DIFFLAYERS_PROPERTY_EXAMPLES", "300"))


def engine_like_stream(tree: Path, work: Path) -> Path:
    """A tar of ``tree`` named ``<basename>/...``, in name order, as the engine sends."""
    archive = work / "source.tar"
    subprocess.run(
        [
            "tar",
            "--sort=name",
            "--numeric-owner",
            "--xattrs",
            "-C",
            str(tree.parent),
            "-cf",
            str(archive),
            tree.name,
        ],
        check=True,
    )
    return archive


def run_pipeline(old: Path, new: Path, work: Path) -> Path:
    record = work / "record"
    record.mkdir()
    image = ImageRef("test", "sha256:test")
    compare_and_record(str(new), str(old), record, path="/" + new.name, old=image, new=image)
    _, plan = difflog.load(record)
    result = work / "result"
    subprocess.run(["cp", "-a", str(old), str(result)], check=True)
    for rel in plan.removals:
        target = result / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
    if plan.additions:
        with open(engine_like_stream(new, work), "rb") as source, open(work / "delta.tar", "wb") as dest:
            write_delta(source, dest, tree_path="/" + new.name, plan=plan)
        unpack(work / "delta.tar", new.name, result)
    return result


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old_spec=trees(), new_spec=trees())
def test_result_equals_new(old_spec, new_spec):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old, new = work / "old", work / "new"
        old.mkdir()
        new.mkdir()
        materialize(old_spec, old)
        materialize(new_spec, new)
        result = run_pipeline(old, new, work)
        expected, got = snapshot(new), snapshot(result)
        assert got == expected, {
            k: (expected.get(k), got.get(k))
            for k in set(expected) | set(got)
            if expected.get(k) != got.get(k)
        }


@pytest.mark.parametrize("old_spec,new_spec", HARD_CASES)
def test_known_hard_cases(old_spec, new_spec, tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    materialize(old_spec, old)
    materialize(new_spec, new)
    assert snapshot(run_pipeline(old, new, tmp_path)) == snapshot(new)
