"""compare-trees, in the CLI's differ container: the trees are mounted at
/trees/old and /trees/new by the engine; the result goes to /out, which the
CLI copies out through the API (no bind mount, so remote engines work)."""

import json
from pathlib import Path

from ..diffing import compare_and_record

OUT = Path("/out")


def command(path: str, refs: dict) -> list:
    """The differ's argv, as the CLI runs it in a container or a build step."""
    old, new = (json.dumps(refs[role], separators=(",", ":")) for role in ("old", "new"))
    return ["python3", "-m", "difflayers", "compare-trees", "--path", path, "--old", old, "--new", new]


def run(path: str, old: str, new: str) -> int:
    OUT.mkdir(exist_ok=True)
    compare_and_record("/trees/new", "/trees/old", OUT, path=path, old=json.loads(old), new=json.loads(new))
    return 0
