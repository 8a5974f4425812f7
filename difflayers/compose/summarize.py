"""rsync-image-diff, the result service: say what the differ found."""

from pathlib import Path

from difflayers.comparing import difflog


def run(output_dir: Path) -> None:
    record, plan = difflog.load(output_dir)
    print(difflog.summary(record, plan), flush=True)
