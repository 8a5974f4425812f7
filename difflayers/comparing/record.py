"""Compare two mounted trees and record the result: the step both paths share.

The Compose differ service and the CLI's differ container both end here, so
the log, the checks on it and the metadata are made by one piece of code.
"""

from pathlib import Path

from difflayers.comparing.causes import find_causes
from difflayers.comparing.indexdiff import compare_indexes, write_log
from difflayers.comparing.rsync import (
    check_no_symlink_on_the_way,
    file_bytes,
    itemize,
    relinked,
    rsync_argv,
    superseded_bytes,
    xattr_names,
)
from difflayers.core import treeindex
from difflayers.core.diffrecord import DiffRecord, ImageRef
from difflayers.core.itemize import iter_lines, parse
from difflayers.core.names import escaped_text as escaped
from difflayers.core.outputs import LOG_NAME, META_NAME, atomic_file, sha256_file, write_json
from difflayers.core.plan import make_plan, with_bytecode_policy


def compare_and_record(
    new_root: str, old_root: str, output_dir: Path, *, path: str, old: ImageRef, new: ImageRef
) -> None:
    """Write ``rsync-image-diff.log`` and its metadata into ``output_dir``.

    ``old`` and ``new`` are the images whose trees are mounted at
    ``old_root`` and ``new_root``.
    """
    output_dir = Path(output_dir)
    log = output_dir / LOG_NAME
    itemize(new_root, old_root, log)
    made_by = rsync_argv(new_root, old_root)
    _record(log, new_root, old_root, output_dir, path, old, new, made_by, relinked(new_root, old_root))


def record_from_indexes(
    new_root: str, old_root: str, output_dir: Path, *, path: str, old: ImageRef, new: ImageRef, indexes: tuple
) -> frozenset:
    """As ``compare_and_record``, where both trees' indexes were just made
    (``indexes``: OLD's and NEW's files; the layer method's pass): the log
    comes from them (``indexdiff.compare_indexes``), not from rsync reading
    both trees once more. Returns the directories that keep an entry of OLD
    (``Plan.keeps_old``), which the layer writer then need not learn from
    every entry of NEW."""
    output_dir = Path(output_dir)
    log = output_dir / LOG_NAME
    with open(indexes[0], "rb") as old_lines, open(indexes[1], "rb") as new_lines:
        found = compare_indexes(treeindex.rows(old_lines, path), treeindex.rows(new_lines, path))
    with atomic_file(log) as handle:
        write_log(found.items, handle)
    made_by = ["difflayers", "compare-indexes", *(Path(name).name for name in indexes)]
    _record(
        log, new_root, old_root, output_dir, path, old, new, made_by, found.relink,
        new_tree_bytes=found.new_tree_bytes, mtime_only=found.mtime_only,
    )  # fmt: skip
    return found.keeps_old


def _record(
    log: Path, new_root, old_root, output_dir: Path, path, old, new, made_by, relink,
    new_tree_bytes=None, mtime_only=None,
) -> None:  # fmt: skip
    """The metadata of ``log``: what both ways of making it share."""
    check_no_symlink_on_the_way(log, new_root, old_root)
    with open(log, "rb") as lines:
        plan = make_plan(parse(iter_lines(lines)), relink)
    causes = find_causes(new_root, old_root, plan, mtime_only)
    sources = {pyc: source for pyc, (source, _) in causes.bytecode_sources.items()}
    shipped = with_bytecode_policy(plan, causes.equivalent_bytecode, sources)
    # xattrs of whatever either rule may ship; superseded bytes as the default ships.
    shippable = with_bytecode_policy(plan, causes.equivalent_bytecode, sources, byte_exact=True)
    record = DiffRecord(
        path=path,
        old=old,
        new=new,
        rsync=made_by,
        log_sha256=sha256_file(log),
        relink=[escaped(name) for name in relink],
        superseded_bytes=superseded_bytes(old_root, shipped),
        new_tree_bytes=file_bytes(new_root) if new_tree_bytes is None else new_tree_bytes,
        xattrs={escaped(rel): names for rel, names in xattr_names(new_root, shippable.additions).items()},
        causes=causes.counts,
        equivalent_bytecode=[escaped(rel) for rel in causes.equivalent_bytecode],
        bytecode_sources={
            escaped(rel): [escaped(source), size] for rel, (source, size) in causes.bytecode_sources.items()
        },
    )
    write_json(output_dir / META_NAME, record.to_json())
