"""compare-trees, in the CLI's differ container (or its BuildKit build step):
the trees are mounted at /trees/old and /trees/new; the result goes to /out,
which the CLI copies out through the API (no bind mount, so remote engines work).
"""

import json
import uuid
from dataclasses import asdict
from pathlib import Path

from difflayers.comparing import inpass
from difflayers.comparing.record import compare_and_record
from difflayers.core.diffrecord import ImageRef
from difflayers.errors import BadInput

OUT = Path("/out")
TREES = inpass.TREES


def command(path: str, old: ImageRef, new: ImageRef, in_pass: str | None = None, byte_exact=False) -> list:
    """The differ's argv, as the CLI runs it in a container or a build step;
    ``in_pass`` ("delta" or "layer"): also write what that method needs
    (``comparing.inpass``; "layer" needs both whole images mounted too)."""
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
        *(["--in-pass", in_pass] if in_pass else []),
        *(["--byte-exact"] if in_pass and byte_exact else []),
    ]


def run(path: str, old_json: str, new_json: str, in_pass: str | None = None, byte_exact=False) -> None:
    OUT.mkdir(exist_ok=True)
    old, new = (ImageRef(**json.loads(text)) for text in (old_json, new_json))
    if in_pass:
        inpass.make(OUT, path, old, new, byte_exact, in_pass)
    else:
        compare_and_record(TREES["new"], TREES["old"], OUT, path=path, old=old, new=new)


def compare_in_volumes(engine, path, old: ImageRef, new: ImageRef, output_dir, progress):
    """Fresh volumes of both trees, the differ container on them, its results
    copied out into ``output_dir``; what the run made is swept, also on failure."""
    run_id = uuid.uuid4().hex[:12]
    try:
        with engine.tree_volumes({"old": old.ref, "new": new.ref}, path, run_id) as volumes:
            progress("comparing the trees with rsync")
            binds = {
                volumes["old"]: {"bind": "/trees/old", "mode": "ro"},
                volumes["new"]: {"bind": "/trees/new", "mode": "ro"},
            }
            argv = command(path, old, new)
            with engine.finished_container(argv, binds, run_id, "differ") as (cid, status, logs):
                if status != 0:
                    last = logs.strip().splitlines()[-1] if logs.strip() else f"exit {status}"
                    raise BadInput(f"comparing the trees failed: {last.removeprefix('error: ')}")
                engine.copy_out(cid, "/out", output_dir)
    finally:
        engine.sweep(run_id)
