"""Docker's init layer, found in a tree read in place: files an image's layers do not hold.

moby writes an init layer under every container it runs: where the image
lacks them, empty files of mode 0755 at /.dockerenv, /dev/console,
/etc/hostname, /etc/hosts and /etc/resolv.conf, and /etc/mtab -> /proc/mounts
(``daemon/initlayer``). On containerd's image store an image the legacy
builder made with ``RUN`` keeps them in its snapshot, though not in its layers
(seen with Docker 26.1.5), so its tree mounted in place (BuildKit) shows them.
Shipped, they would put Docker's files in the image made, and a check against
that same tree would not see it: the run is refused instead (exit 2).
"""

import io
import json
import posixpath
from pathlib import Path

from difflayers.core import treeindex
from difflayers.core.names import stand_ins_under
from difflayers.errors import BadInput

INIT_FILES = ("/.dockerenv", "/dev/console", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
INIT_LINKS = {"/etc/mtab": "/proc/mounts"}


class InitLayerInImage(BadInput):
    """The image's tree read in place holds the engine's init layer, which its layers do not."""


def leftovers(index, path: str) -> list:
    """Absolute names in ``index`` (a tree index of ``path`` read in place: its
    bytes, or the file) that look as moby's init layer writes them. Read only
    for a path that holds those names, and only rows at them decoded."""
    wanted = {}
    for name in stand_ins_under(path):
        if name in INIT_FILES or name in INIT_LINKS:
            relative = "." if name == path else posixpath.relpath(name, path)
            wanted[b"[" + json.dumps(relative).encode() + b","] = name
    if not wanted:
        return []
    found = []
    data = index.read_bytes() if isinstance(index, Path) else index
    for line in treeindex.rows(io.BytesIO(data), path):
        name = next((wanted[prefix] for prefix in wanted if line.startswith(prefix)), None)
        if name is None:
            continue
        entry = treeindex.decode(line, 0)
        if name in INIT_FILES and entry.kind == treeindex.FILE and entry.size == 0 and entry.mode == 0o755:
            found.append(name)
        elif INIT_LINKS.get(name) == entry.link and entry.kind == treeindex.SYMLINK:
            found.append(name)
    return found


def refuse_leftovers(index, path: str, image: str) -> None:
    """Refuse (``InitLayerInImage``) a tree of ``image`` read in place that holds them."""
    found = leftovers(index, path) if index else []
    if found:
        raise InitLayerInImage(
            f"{image} mounted in place holds Docker's init layer at {', '.join(found)}, which its layers "
            "do not: the containerd image store keeps it in images the legacy builder made with RUN. "
            "Build the image with BuildKit (DOCKER_BUILDKIT=1, or docker buildx build), or compare a path "
            "that does not hold them; nothing was made"
        )
