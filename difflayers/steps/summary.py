"""rsync-image-diff, the result service: say what the differ found."""

from pathlib import Path

from .. import report


def run(output_dir: Path) -> int:
    meta, plan = report.load(output_dir)
    print(report.summary(meta, plan), flush=True)
    return 0
