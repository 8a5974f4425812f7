"""compare-trees, in the CLI's differ container (or its BuildKit build step):
the trees are mounted at /trees/old and /trees/new; the result goes to /out,
which the CLI copies out through the API (no bind mount, so remote engines work).
"""

import json
from dataclasses import asdict
from pathlib import Path

from difflayers.comparing.record import compare_and_record
from difflayers.core.diffrecord import ImageRef

OUT = Path("/out")
TREES = {"old": "/trees/old", "new": "/trees/new"}


def command(path: str, old: ImageRef, new: ImageRef) -> list:
    """The differ's argv, as the CLI runs it in a container or a build step."""
    old_json, new_json = (json.dumps(asdict(image), separators=(",", ":")) for image in (old, new))
    return [
        "python3",
        "-m",
        "difflayers",
        "compare-trees",
        "--path",
        path,
        "--old",
        old_json,
        "--new",
        new_json,
    ]


def run(path: str, old_json: str, new_json: str) -> None:
    OUT.mkdir(exist_ok=True)
    old, new = (ImageRef(**json.loads(text)) for text in (old_json, new_json))
    compare_and_record(TREES["new"], TREES["old"], OUT, path=path, old=old, new=new)
