"""Compare two images' trees in place, with BuildKit bind mounts: no copy.

Copying ``--path`` of OLD and NEW into volumes is most of a diff's time on
large trees (a full physical copy of each). BuildKit can mount a path of any
local image read-only into a build step (``RUN --mount=type=bind,from=IMAGE``:
a snapshot, nothing copied), so the same differ (the kit's tool image running
``compare-trees``) runs on both trees where they are, and the build's local
exporter hands back the log and its metadata.

It needs a docker CLI that builds with BuildKit (``DOCKER_BUILDKIT=1``); when
there is none, or the images cannot be named in a Dockerfile, the caller
copies into volumes instead. Nothing is left but BuildKit's cache entry.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

from . import process
from .dockerfile import render_compare_dockerfile
from .errors import CommandFailed
from .steps.compare import command as compare_command

# A docker CLI that builds with BuildKit: DIFFLAYERS_DOCKER_CLI if set, else
# these in turn (Debian's /usr/bin/docker does; a CLI without buildx does not).
CANDIDATES = ("docker", "/usr/bin/docker")
# What may stand in a mount option unquoted: image names and plain paths.
_REF = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
_PATH = re.compile(r"/[A-Za-z0-9._/-]+")


class Unavailable(Exception):
    """This comparison cannot run here; the reason says why."""


def usable(old_ref: str, new_ref: str, path: str) -> bool:
    """Whether the refs and path can be written into the mounts as they are
    (an image ID would be read as a Docker Hub name)."""
    refs_ok = all(_REF.fullmatch(ref) and not ref.startswith("sha256:") for ref in (old_ref, new_ref))
    return bool(refs_ok and _PATH.fullmatch(path) and ".." not in path.split("/"))


def compare(tool_image: str, refs: dict, path: str, output_dir: Path) -> None:
    """Write the differ's log and metadata for ``refs`` into ``output_dir``.

    Raises ``Unavailable`` when no docker CLI here can do it.
    """
    command = compare_command(path, refs)
    dockerfile = render_compare_dockerfile(
        tool_image=tool_image,
        old_ref=refs["old"]["ref"],
        new_ref=refs["new"]["ref"],
        path=path,
        command=command,
    )
    clis = [os.environ["DIFFLAYERS_DOCKER_CLI"]] if os.environ.get("DIFFLAYERS_DOCKER_CLI") else CANDIDATES
    failures = []
    # Inside output_dir, so the results are renamed into place, not copied.
    context = Path(tempfile.mkdtemp(prefix=".difflayers-compare-", dir=output_dir))
    try:
        (context / "Dockerfile").write_text(dockerfile)
        for cli in clis:
            if shutil.which(cli) is None:
                continue
            result = context / "out"
            argv = [cli, "build", "--network", "none", "--output", f"type=local,dest={result}", str(context)]
            try:
                process.run(argv, env={**os.environ, "DOCKER_BUILDKIT": "1"})
            except CommandFailed as exc:
                failures.append(
                    f"{cli}: {exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else exc}"
                )
                shutil.rmtree(result, ignore_errors=True)
                continue
            for item in result.iterdir():
                os.replace(item, output_dir / item.name)
            return
    finally:
        shutil.rmtree(context, ignore_errors=True)
    raise Unavailable("; ".join(failures) or "no docker CLI on PATH")
