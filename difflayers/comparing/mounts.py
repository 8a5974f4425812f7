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

from difflayers.comparing.container import command as compare_command
from difflayers.core.diffrecord import ImageRef
from difflayers.errors import BadInput
from difflayers.methods.dockerfile import render_compare_dockerfile

# What may stand in a mount option unquoted: image names and plain paths.
_REF = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")


class Unavailable(Exception):
    """This comparison cannot run here; the reason says why."""


def fall_back(engine, exc: Unavailable, progress, instead: str) -> None:
    """A pass in place could not run: refused where the user asked for mounts
    (``DIFFLAYERS_COMPARE=mounts``), else said, and the caller does ``instead``."""
    if engine.compare == "mounts":
        raise BadInput(f"{engine.mounting_builder} bind mounts are not available here: {exc}") from None
    progress(f"no {engine.mounting_builder} mounts here ({str(exc)[:100]}); {instead}")


def usable(old_ref: str, new_ref: str, path: str) -> bool:
    """Whether the refs and path can be written into the mounts as they are
    (an image ID would be read as a Docker Hub name)."""
    refs_ok = all(_REF.fullmatch(ref) and not ref.startswith("sha256:") for ref in (old_ref, new_ref))
    return bool(refs_ok and _PATH.fullmatch(path) and ".." not in path.split("/"))


def compare(
    engine,
    tool_image: str,
    old: ImageRef,
    new: ImageRef,
    path: str,
    output_dir: Path,
    in_pass: str | None = None,
    byte_exact=False,
    base_ref: str | None = None,
):
    """Write the differ's log and metadata for OLD and NEW into ``output_dir``;
    ``in_pass`` ("delta" or "layer"): what that method needs too (``comparing.inpass``);
    ``base_ref``: the image OLD and NEW were built FROM, compared with them
    outside the path (a name ``usable`` accepts).

    The engine builds with a docker CLI that has BuildKit (DIFFLAYERS_DOCKER_CLI,
    else ``docker``, then ``/usr/bin/docker``).
    Raises ``Unavailable`` when no docker CLI here can do it.
    """
    dockerfile = render_compare_dockerfile(
        tool_image=tool_image,
        old_ref=old.ref,
        new_ref=new.ref,
        path=path,
        command=compare_command(path, old, new, in_pass, byte_exact),
        whole_roots=in_pass is not None,  # either method's delta of the path needs NEW = OLD outside it
        base_ref=base_ref if base_ref and usable(base_ref, base_ref, path) else None,
    )
    # Inside output_dir, so the results are renamed into place, not copied.
    context = Path(tempfile.mkdtemp(prefix=".difflayers-compare-", dir=output_dir))
    try:
        (context / "Dockerfile").write_text(dockerfile)
        result = context / "out"
        failures = engine.export_build(context, result)
        if failures:
            raise Unavailable("; ".join(failures))
        for item in result.iterdir():
            os.replace(item, output_dir / item.name)
    finally:
        shutil.rmtree(context, ignore_errors=True)
