"""Compare two mounted trees and record the result: the step both paths share.

The Compose differ service and the CLI's differ container both end here, so
the log, the checks on it and the metadata are made by one piece of code.
"""

from pathlib import Path

from .itemize import iter_lines, parse
from .names import encode_rsync_name
from .outputs import LOG_NAME, META_NAME, sha256_file, write_json
from .plan import make_plan
from .trees import check_no_symlink_on_the_way, file_bytes, itemize, relinked, rsync_argv, superseded_bytes


def compare_and_record(
    new_root: str, old_root: str, output_dir: Path, *, path: str, old: dict, new: dict
) -> None:
    """Write ``rsync-image-diff.log`` and its metadata into ``output_dir``.

    ``old`` and ``new`` are ``{"ref": ..., "id": ...}`` of the images whose
    trees are mounted at ``old_root`` and ``new_root``.
    """
    output_dir = Path(output_dir)
    log = output_dir / LOG_NAME
    itemize(new_root, old_root, log)
    check_no_symlink_on_the_way(log, new_root, old_root)
    relink = relinked(new_root, old_root)
    with open(log, "rb") as lines:
        plan = make_plan(parse(iter_lines(lines)), relink)
    write_json(
        output_dir / META_NAME,
        {
            "path": path,
            "old": old,
            "new": new,
            "rsync": rsync_argv(new_root, old_root),
            # generate-dockerfile refuses a log edited after the diff.
            "log_sha256": sha256_file(log),
            # Escaped like the log, so any name survives JSON.
            "relink": [encode_rsync_name(name).decode("ascii") for name in relink],
            # For chains of deltas (see chain.py): dead bytes this delta leaves
            # in OLD's layers, and the live tree they are measured against.
            "superseded_bytes": superseded_bytes(old_root, plan),
            "new_tree_bytes": file_bytes(new_root),
        },
    )
